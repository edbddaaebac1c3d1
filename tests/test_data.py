"""User ``.npz`` datasets: integer images scaled by a documented rule, NaN/Inf and channels-first
layouts rejected with errors naming the split."""

import numpy as np
import pytest

from pimjax.apps.data import load_npz_dataset


def _save(path, x_train, x_test=None):
    x_test = x_train[:2] if x_test is None else x_test
    np.savez(path, x_train=x_train, y_train=np.arange(len(x_train)) % 2, x_test=x_test,
             y_test=np.arange(len(x_test)) % 2)
    return path


@pytest.mark.parametrize("dtype,top,expect", [("uint8", 255, 1.0), ("uint16", 65535, 1.0), ("int64", 255, 1.0),
                                              ("int16", 255, 1.0), ("int32", 51, 0.2), ("float64", 0.5, 0.5)])
def test_auto_scale_per_dtype(tmp_path, dtype, top, expect):
    x = np.zeros((4, 2, 2), dtype)
    x[0, 0, 0] = top
    ds = load_npz_dataset(_save(tmp_path / "d.npz", x))
    assert ds.x_train.dtype == np.float32 and ds.x_train.max() == np.float32(expect)


def test_auto_scale_needs_explicit_scale_beyond_8_bits(tmp_path):
    x = np.zeros((4, 2, 2), np.int32)
    x[0, 0, 0] = 1000
    path = _save(tmp_path / "d.npz", x)
    with pytest.raises(ValueError, match=r"x_train.*0\.\.1000.*scale="):
        load_npz_dataset(path)
    assert load_npz_dataset(path, scale=1000).x_train.max() == 1.0
    with pytest.raises(ValueError, match="scale"):
        load_npz_dataset(path, scale=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_images_rejected(tmp_path, bad):
    x = np.zeros((4, 2, 2), np.float32)
    x_test = x[:2].copy()
    x_test[0, 0, :] = bad
    with pytest.raises(ValueError, match="x_test has 2 non-finite"):
        load_npz_dataset(_save(tmp_path / "d.npz", x, x_test))


def test_channels_first_hint(tmp_path):
    path = _save(tmp_path / "d.npz", np.zeros((4, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="x_train.*channels_first=True"):
        load_npz_dataset(path)
    assert load_npz_dataset(path, channels_first=True).input_shape == (8, 8, 3)
