"""Tasks reject images that are not square NHWC, a batch size beyond the training set and an
input size the data does not have; the translator's evaluation covers the whole test set."""

import dataclasses
import types

import numpy as np
import pytest

from pimjax.apps.train import ClassificationTask, TranslationTask, make_task
from pimjax.apps.train import TrainConfig


def _data(shape):
    x = np.zeros(shape, np.float32)
    y = np.arange(shape[0]) % 2
    return x, y, x[:3], y[:3]


def test_non_square_and_channels_first_images():
    cfg = TrainConfig(model="cnn_d1_k3_c2")
    with pytest.raises(ValueError, match="x_train images must be square, got 8x12"):
        ClassificationTask(cfg, None, _data((4, 8, 12, 1)))
    with pytest.raises(ValueError, match=r"x_train .*channels-first.*transpose\(0, 2, 3, 1\)"):
        ClassificationTask(cfg, None, _data((4, 3, 8, 8)))
    assert ClassificationTask(cfg, None, _data((4, 8, 8, 3))).input_size == 8


def test_npz_input_size_must_match(tmp_path):
    path = tmp_path / "d.npz"
    x, y, xt, yt = _data((4, 8, 8, 1))
    np.savez(path, x_train=x, y_train=y, x_test=xt, y_test=yt)
    cfg = TrainConfig(model="cnn_d1_k3_c2", dataset=str(path), batch_size=2)
    assert make_task(cfg, None).input_size == 8  # the default input_size: the data's own
    with pytest.raises(ValueError, match="TrainConfig.input_size is 32"):
        make_task(dataclasses.replace(cfg, input_size=32), None)
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, 4\]"):
        make_task(dataclasses.replace(cfg, batch_size=5), None)


def test_translator_batch_size_dataset_and_full_test_set():
    cfg = TrainConfig(model="translator", batch_size=300)
    task = make_task(cfg, None)
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, 4000\]"):
        make_task(dataclasses.replace(cfg, batch_size=4001), None)
    with pytest.raises(ValueError, match="TrainConfig.dataset"):
        make_task(dataclasses.replace(cfg, dataset="my.npz"), None)
    n_test = len(task.data.test.src)
    for bs in (300, 1000):  # 400 test sentences: one full and one padded batch, or one padded batch
        batches = list(task.test_batches(bs))
        assert all(b[0].shape[0] == bs for b in batches)
        assert sum(float(b[4].sum()) for b in batches) == float(np.sum(task.data.test.tgt_mask)) > 0
        assert len(batches) == -(-n_test // bs)
