"""Datasets for training on the emulated hardware; nothing is downloaded.

* :func:`load_digits_dataset`: scikit-learn's bundled 8x8 handwritten digits (1797 images,
  10 classes), scaled to [0, 1], resized to ``input_size`` x ``input_size``, NHWC float32, with a
  deterministic stratified train/test split. Small enough to train the CNNs of
  :mod:`pimjax.nn` on a CPU.
* :func:`load_npz_dataset`: arrays the user already has (CIFAR-10, MNIST, ...) saved as one
  ``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test``.
* :func:`batches`: minibatches whose order is a pure function of ``(seed, epoch)``, so a run can
  resume exactly mid-epoch (``start_batch``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Iterator

import numpy as np

__all__ = ["ArrayDataset", "load_digits_dataset", "load_npz_dataset", "batches", "num_batches",
           "epoch_permutation", "NPZ_KEYS", "check_finite", "check_square_nhwc", "looks_channels_first"]

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclasses.dataclass(frozen=True)
class ArrayDataset:
    """In-memory image classification data: NHWC float32 images and int32 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one image, ``(H, W, C)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def input_size(self) -> int:
        """Side of the (square) images; ValueError if they are not square."""
        h, w = self.x_train.shape[1:3]
        if h != w:
            raise ValueError(f"images are {h}x{w}, not square")
        return int(h)

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[-1])


def _resize(x: np.ndarray, size: int, method: str) -> np.ndarray:
    """(N, H, W) float images to (N, size, size); ``nearest`` or ``bilinear`` (half-pixel centres)."""
    n, h, w = x.shape
    if (h, w) == (size, size):
        return x
    if method == "nearest":
        # source pixel of output pixel i: floor((i + 0.5) * h / size), the half-pixel convention
        ri = np.minimum(((np.arange(size) + 0.5) * h / size).astype(np.int64), h - 1)
        ci = np.minimum(((np.arange(size) + 0.5) * w / size).astype(np.int64), w - 1)
        return x[:, ri][:, :, ci]
    if method == "bilinear":
        import jax
        import jax.numpy as jnp

        out = jax.image.resize(jnp.asarray(x, jnp.float32), (n, size, size), method="bilinear")
        return np.asarray(out)
    raise ValueError(f"resize must be 'nearest' or 'bilinear', got {method!r}")


def load_digits_dataset(input_size: int = 16, test_fraction: float = 0.25, seed: int = 0, channels: int = 1,
                        *, resize: str = "bilinear") -> ArrayDataset:
    """scikit-learn's 8x8 digits as NHWC float32 in [0, 1], split stratified by class.

    Args:
      input_size: side of the returned images (8 keeps the originals; 16 or 32 upsample).
      test_fraction: share of each class held out for the test split (0 < f < 1).
      seed: the split's random state (same seed, same split).
      channels: 1 (grey) or more (the grey image repeated, e.g. 3 for RGB models).
      resize: ``"bilinear"`` (``jax.image.resize``) or ``"nearest"``.

    Returns:
      An :class:`ArrayDataset` with 10 classes; pixel values 0..16 of the originals become
      value / 16, and resized values are clipped to [0, 1].
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if int(input_size) < 1:
        raise ValueError(f"input_size must be >= 1, got {input_size}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if int(channels) < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    d = load_digits()
    x = (np.asarray(d.images, np.float32) / np.float32(16.0))  # (1797, 8, 8), values 0..16
    y = np.asarray(d.target, np.int32)
    x = np.clip(_resize(x, int(input_size), resize), 0.0, 1.0).astype(np.float32)
    x = np.repeat(x[..., None], int(channels), axis=-1)
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=float(test_fraction), random_state=int(seed), stratify=y, shuffle=True)
    tr, te = np.sort(tr), np.sort(te)
    return ArrayDataset(x_train=np.ascontiguousarray(x[tr]), y_train=y[tr], x_test=np.ascontiguousarray(x[te]),
                        y_test=y[te], num_classes=10, name=f"digits{int(input_size)}")


def load_npz_dataset(path: str | os.PathLike, *, channels_first: bool = False, scale: float | str | None = "auto",
                     num_classes: int | None = None, name: str | None = None) -> ArrayDataset:
    """Image classification arrays from one ``.npz`` with ``x_train, y_train, x_test, y_test``.

    Images are ``(N, H, W)`` (one channel added) or ``(N, H, W, C)`` (``(N, C, H, W)`` with
    ``channels_first=True``); labels are ``(N,)`` non-negative integers (``(N, 1)`` is
    flattened).

    Args:
      path: the file (``np.load`` with ``allow_pickle=False``).
      channels_first: the images are NCHW; they are transposed to NHWC.
      scale: ``"auto"``: uint8 images are divided by 255, uint16 by 65535; images of any other
        integer dtype (int64 from ``np.array`` of Python ints, int16, ...) are taken as 8-bit
        images and divided by 255 when all their values lie in 0..255, else ValueError (pass
        ``scale``); float (and bool) images are kept as they are. A positive finite number
        divides by it; ``None`` keeps the values.
      num_classes: default ``max(label) + 1`` over both splits; labels must be below it.
      name: dataset name (default the file's stem).

    Raises:
      FileNotFoundError, or ValueError naming the missing key, the inconsistent shape, the split
      holding NaN/Inf (with their count), images that look channels-first (``(N, C, H, W)``
      with C in 1, 3, 4) without ``channels_first=True``, or integer images that ``"auto"``
      cannot scale.
    """
    if not (scale is None or scale == "auto" or _is_positive_number(scale)):
        raise ValueError(f"scale must be 'auto', a positive finite number or None, got {scale!r}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such dataset file: {path}")
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in NPZ_KEYS if k not in z.files]
        if missing:
            raise ValueError(f"{path}: missing key(s) {', '.join(repr(k) for k in missing)}; "
                             f"expected {list(NPZ_KEYS)}, found {sorted(z.files)}")
        arrs = {k: np.asarray(z[k]) for k in NPZ_KEYS}

    xs = {}
    for split in ("train", "test"):
        x, y = arrs[f"x_{split}"], arrs[f"y_{split}"]
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"y_{split} must have shape (N,), got {y.shape}")
        if not (np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating)
                                                        and np.all(np.mod(y, 1) == 0))):
            raise ValueError(f"y_{split} must hold integer class labels, got dtype {y.dtype}")
        y = y.astype(np.int64)
        if y.size and y.min() < 0:
            raise ValueError(f"y_{split} has negative labels")
        if x.ndim == 3:
            x = x[..., None]
        elif x.ndim == 4:
            if channels_first:
                x = np.transpose(x, (0, 2, 3, 1))
            elif looks_channels_first(x.shape):
                raise ValueError(f"x_{split} has shape {x.shape}, which looks channels-first (N, C, H, W); "
                                 f"pass channels_first=True (images must be NHWC)")
        else:
            raise ValueError(f"x_{split} must have shape (N, H, W) or (N, H, W, C), got {x.shape}")
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x_{split} has {x.shape[0]} samples but y_{split} has {y.shape[0]}")
        if x.shape[0] == 0:
            raise ValueError(f"x_{split} is empty")
        xs[split] = (x, y)
    (xtr, ytr), (xte, yte) = xs["train"], xs["test"]
    if xtr.shape[1:] != xte.shape[1:]:
        raise ValueError(f"x_train images {xtr.shape[1:]} and x_test images {xte.shape[1:]} differ in shape")

    def _scale(x: np.ndarray, split: str) -> np.ndarray:
        div = _auto_scale(x, split) if scale == "auto" else scale
        out = x.astype(np.float32) if div is None else (x.astype(np.float64) / float(div)).astype(np.float32)
        check_finite(f"x_{split}", out)
        return out

    top = int(max(ytr.max(), yte.max())) + 1
    if num_classes is None:
        num_classes = top
    elif top > num_classes:
        raise ValueError(f"labels go up to {top - 1} but num_classes is {num_classes}")
    if name is None:
        name = os.path.splitext(os.path.basename(path))[0]
    return ArrayDataset(x_train=_scale(xtr, "train"), y_train=ytr.astype(np.int32), x_test=_scale(xte, "test"),
                        y_test=yte.astype(np.int32), num_classes=int(num_classes), name=name)


def _is_positive_number(v: object) -> bool:
    return (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
            and math.isfinite(float(v)) and float(v) > 0)


def _auto_scale(x: np.ndarray, split: str) -> float | None:
    """The divisor of ``scale="auto"`` (see :func:`load_npz_dataset`); ``None``: keep the values."""
    if x.dtype == np.uint8:
        return 255.0
    if x.dtype == np.uint16:
        return 65535.0
    if not np.issubdtype(x.dtype, np.integer):
        return None
    lo, hi = int(x.min()), int(x.max())
    if 0 <= lo and hi <= 255:
        return 255.0
    raise ValueError(f"x_{split} has {x.dtype} values in {lo}..{hi}, outside 0..255, so scale='auto' cannot tell "
                     f"their range; pass scale= explicitly (e.g. {max(hi, -lo)}) or save uint8/uint16 images")


def check_finite(name: str, x: np.ndarray) -> None:
    """ValueError naming ``name`` and the number of NaN/Inf values of ``x``, if it has any."""
    if np.issubdtype(x.dtype, np.inexact):
        bad = int(x.size - np.count_nonzero(np.isfinite(x)))
        if bad:
            raise ValueError(f"{name} has {bad} non-finite value(s) (NaN or Inf, after conversion to float32) "
                             f"of {x.size}; clean the data first")


def looks_channels_first(shape: tuple[int, ...]) -> bool:
    """Whether 4-D images of ``shape`` look like ``(N, C, H, W)`` read as NHWC: a "height" of 1, 3 or 4,
    other than the width, and a larger last ("channel") dimension."""
    return len(shape) == 4 and shape[1] in (1, 3, 4) and shape[1] != shape[2] and shape[3] > shape[1]


def check_square_nhwc(name: str, x: np.ndarray) -> int:
    """The side of ``x``'s square NHWC images; ValueError naming ``name`` otherwise (suggesting a
    transpose when the images look channels-first)."""
    if x.ndim != 4:
        raise ValueError(f"{name} must be NHWC images (N, H, W, C), got shape {x.shape}")
    h, w = x.shape[1:3]
    if looks_channels_first(x.shape):
        raise ValueError(f"{name} has shape {x.shape}, which looks channels-first (N, C, H, W); images must be "
                         f"NHWC: transpose them with x.transpose(0, 2, 3, 1) (or load_npz_dataset(..., "
                         f"channels_first=True))")
    if h != w:
        raise ValueError(f"{name} images must be square, got {h}x{w} (shape {x.shape}, NHWC)")
    return int(h)


def num_batches(n: int, batch_size: int, *, drop_remainder: bool = True) -> int:
    """Batches per epoch of ``n`` samples."""
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return n // batch_size if drop_remainder else -(-n // batch_size)


def epoch_permutation(n: int, *, seed: int, epoch: int) -> np.ndarray:
    """The sample order of one epoch: a permutation of ``range(n)`` fixed by ``(seed, epoch)``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF, 0x9D]))
    return rng.permutation(n)


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, *, seed: int, epoch: int, shuffle: bool = True,
            drop_remainder: bool = True, start_batch: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Minibatches ``(x_b, y_b)`` of one epoch, a deterministic function of ``(seed, epoch)``.

    The order is :func:`epoch_permutation` (or ``range(n)`` without ``shuffle``); batch ``i``
    holds samples ``order[i*batch_size:(i+1)*batch_size]``. ``start_batch`` skips the first
    batches without drawing anything else, so a run stopped after batch ``i`` resumes with
    ``start_batch=i + 1`` and sees exactly the batches it would have seen.
    """
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x has {n} samples but y has {len(y)}")
    nb = num_batches(n, batch_size, drop_remainder=drop_remainder)
    if not 0 <= int(start_batch) <= nb:
        raise ValueError(f"start_batch must be in [0, {nb}], got {start_batch}")
    order = epoch_permutation(n, seed=seed, epoch=epoch) if shuffle else np.arange(n)
    for i in range(int(start_batch), nb):
        sel = order[i * batch_size:(i + 1) * batch_size]
        yield x[sel], y[sel]
