"""Training tasks: what data a model sees and how its loss and metrics are computed.

* ``classification``: the CNNs (AlexNet, VGG, ResNet) on scikit-learn's bundled digits
  (upsampled) or on a user's own ``.npz`` arrays.
* ``translation``: the GNMT-style LSTM translator on the deterministic synthetic task, with
  teacher forcing.
* ``sequence``: the stock-Flax decoder-only :class:`~pimjax.nn.TinyTransformer` on the synthetic
  sequence task (sort or reverse digits), emulated through :func:`pimjax.emulate` (every
  ``dot_general`` on the hardware, under its module path), native with ``precision="native"``.

Batch ``i`` of epoch ``e`` is a pure function of (seed, e, i), so a resumed run sees exactly
the batches an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from pimjax.nn import TrainingHardware

CNN_NAMES = ("alexnet", "vgg11", "vgg16", "resnet18", "resnet50")
TRANSLATOR_NAMES = ("translator",)
TRANSFORMER_NAMES = ("transformer",)


def _perm(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, 0x5EED]).permutation(n)


class Task:
    """Interface of a task (see module docstring)."""

    n_train: int

    def make_model(self, rngs: nnx.Rngs) -> nnx.Module:
        raise NotImplementedError

    def loss(self, model, batch, *, seed, train: bool) -> tuple[jax.Array, Any]:
        raise NotImplementedError

    def evaluate(self, model, batch, *, seed) -> dict[str, jax.Array]:
        raise NotImplementedError

    def train_batch(self, batch_size: int, *, seed: int, epoch: int, index: int) -> Any:
        raise NotImplementedError

    def test_batches(self, batch_size: int) -> Iterator[Any]:
        raise NotImplementedError

    def check_batch_size(self, batch_size: int) -> int:
        """``batch_size`` if it is an integer in ``[1, n_train]``, else ValueError naming the range."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or not 1 <= batch_size <= self.n_train:
            raise ValueError(f"batch_size must be an integer in [1, {self.n_train}] (the training set's size), "
                             f"got {batch_size!r}")
        return int(batch_size)

    def steps_per_epoch(self, batch_size: int) -> int:
        return self.n_train // self.check_batch_size(batch_size)


def _padded_batches(arrays: tuple[np.ndarray, ...], batch_size: int) -> Iterator[tuple[list[jax.Array], jax.Array]]:
    """Consecutive batches of ``arrays`` (same length) covering all of them, the last one zero-padded
    to ``batch_size`` (one shape: one compile); yields ``(batch arrays, valid)``, ``valid`` (B,) bool."""
    n = len(arrays[0])
    for s in range(0, n, batch_size):
        part = [a[s:s + batch_size] for a in arrays]
        valid = np.ones(len(part[0]), bool)
        pad = batch_size - len(valid)
        if pad:
            part = [np.concatenate([a, np.zeros((pad, *a.shape[1:]), a.dtype)]) for a in part]
            valid = np.concatenate([valid, np.zeros(pad, bool)])
        yield [jnp.asarray(a) for a in part], jnp.asarray(valid)


class ClassificationTask(Task):
    """A CNN on image arrays (square NHWC float32 in [0, 1], integer labels); ValueError for
    images that are not square NHWC (naming the split, suggesting a transpose for NCHW data)."""

    def __init__(self, cfg: Any, hw: TrainingHardware, data: tuple[np.ndarray, ...]):
        from pimjax.apps.data._datasets import check_square_nhwc

        self.cfg, self.hw = cfg, hw
        self.x_train, self.y_train, self.x_test, self.y_test = data
        sides = {check_square_nhwc(k, x) for k, x in (("x_train", self.x_train), ("x_test", self.x_test))}
        if len(sides) != 1 or self.x_train.shape[-1] != self.x_test.shape[-1]:
            raise ValueError(f"x_train images {self.x_train.shape[1:]} and x_test images {self.x_test.shape[1:]} "
                             f"differ in shape")
        self.input_size = sides.pop()
        self.n_train = len(self.x_train)
        self.num_classes = int(max(self.y_train.max(), self.y_test.max()) + 1)

    def make_model(self, rngs: nnx.Rngs) -> nnx.Module:
        from pimjax.nn import make_cnn

        return make_cnn(self.cfg.model, hw=self.hw, num_classes=self.num_classes,
                        in_channels=self.x_train.shape[-1], input_size=self.input_size,
                        width=self.cfg.model_width, rngs=rngs)

    def loss(self, model, batch, *, seed, train: bool):
        x, y = batch
        logits = model(x, seed=seed, train=train)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, jnp.mean(jnp.argmax(logits, -1) == y)

    def evaluate(self, model, batch, *, seed):
        x, y, valid = batch
        logits = model(x, seed=seed, train=False)
        correct = jnp.sum((jnp.argmax(logits, -1) == y) & valid)
        loss = jnp.sum(optax.softmax_cross_entropy_with_integer_labels(logits, y) * valid)
        return {"accuracy": correct, "loss": loss, "count": jnp.sum(valid)}

    def train_batch(self, batch_size, *, seed, epoch, index):
        idx = _perm(self.n_train, seed, epoch)[index * batch_size:(index + 1) * batch_size]
        return jnp.asarray(self.x_train[idx]), jnp.asarray(self.y_train[idx])

    def test_batches(self, batch_size):
        for (x, y), valid in _padded_batches((self.x_test, self.y_test), batch_size):
            yield x, y, valid


class TranslationTask(Task):
    """The LSTM translator on the synthetic translation task (teacher forcing)."""

    def __init__(self, cfg: Any, hw: TrainingHardware):
        from pimjax.apps.data._synthetic_translation import make_translation_dataset

        self.cfg, self.hw = cfg, hw
        self.data = make_translation_dataset(n_train=4000, n_test=400, seed=cfg.seed, max_len=8)
        self.n_train = len(self.data.train.src)

    def make_model(self, rngs: nnx.Rngs) -> nnx.Module:
        from pimjax.nn import Translator, TranslatorConfig

        hidden = max(16, int(round(128 * self.cfg.model_width)))
        tc = TranslatorConfig(src_vocab=self.data.src_vocab_size, tgt_vocab=self.data.tgt_vocab_size,
                              embed_dim=hidden, hidden=hidden, enc_layers=1, dec_layers=1, bidirectional=True)
        return Translator(tc, hw=self.hw, rngs=rngs)

    def _forward(self, model, batch, seed):
        src, src_mask, tgt_in, tgt_out, mask = batch
        logits = model(src, tgt_in, seed=seed, src_mask=src_mask)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, tgt_out)
        return logits, ce, mask

    def loss(self, model, batch, *, seed, train: bool):
        logits, ce, mask = self._forward(model, batch, seed)
        loss = jnp.sum(ce * mask) / jnp.maximum(jnp.sum(mask), 1)
        return loss, jnp.sum((jnp.argmax(logits, -1) == batch[3]) * mask) / jnp.maximum(jnp.sum(mask), 1)

    def evaluate(self, model, batch, *, seed):
        """Greedy decoding (no teacher forcing): token accuracy over the target tokens."""
        src, src_mask, tgt_in, tgt_out, mask = batch
        ids = model.greedy(src, tgt_out.shape[1], seed=seed, src_mask=src_mask)
        correct = jnp.sum((ids == tgt_out) * mask)
        return {"token_accuracy": correct, "count": jnp.sum(mask)}

    def _arrays(self, split):
        d = getattr(self.data, split)
        return (np.asarray(d.src), np.asarray(d.src_mask).astype(np.float32), np.asarray(d.tgt_in),
                np.asarray(d.tgt_out), np.asarray(d.tgt_mask).astype(np.float32))

    def train_batch(self, batch_size, *, seed, epoch, index):
        arrs = self._arrays("train")
        idx = _perm(self.n_train, seed, epoch)[index * batch_size:(index + 1) * batch_size]
        return tuple(jnp.asarray(a[idx]) for a in arrs)

    def test_batches(self, batch_size):
        """All of the test set; the last batch is zero-padded, its padded rows masked out (mask 0)."""
        for (src, src_mask, tgt_in, tgt_out, mask), valid in _padded_batches(self._arrays("test"), batch_size):
            yield src, src_mask, tgt_in, tgt_out, mask * valid[:, None]


class SequenceTask(Task):
    """A decoder-only transformer of stock Flax NNX layers (:class:`~pimjax.nn.TinyTransformer`)
    on the synthetic sequence task (:func:`pimjax.apps.data.make_sequence_dataset`): 8 digits, a
    separator, the digits sorted (``dataset="sort"``, the default) or reversed (``"reverse"``).

    The model is the user's as written; :meth:`make_model` hands it to :func:`pimjax.emulate`
    with the run's hardware (every contraction on it; costs under module paths such as
    ``blocks/0/attn/query/pim_dot0``), or leaves it alone for ``precision="native"`` (plain
    float32, no emulation: an empty cost table). Its stochastic-rounding words come from the
    emulated call sites' own counters (model state, checkpointed, advanced by training steps
    only: :meth:`evaluate` runs a copy), not from ``seed``.

    Size: ``d_model = 4 * max(2, round(32 * model_width))`` (32 at the default width 0.25), 4
    heads, 2 blocks. Loss: next-token cross-entropy on the answer tokens (teacher forcing).
    Metrics: ``token_accuracy`` (answer tokens predicted right) and ``sequence_accuracy``
    (sequences whose every answer token is right), both teacher-forced.
    """

    LENGTH, HEADS, LAYERS = 8, 4, 2

    def __init__(self, cfg: Any, hw: TrainingHardware, *, n_train: int = 8000, n_test: int = 500):
        from pimjax.apps.data._sequences import make_sequence_dataset

        self.cfg, self.hw = cfg, hw
        kind = "sort" if cfg.dataset == "digits" else cfg.dataset
        self.data = make_sequence_dataset(kind=kind, length=self.LENGTH, n_train=n_train, n_test=n_test,
                                          seed=cfg.seed)
        self.n_train = len(self.data.train)
        self.d_model = self.HEADS * max(2, int(round(32 * cfg.model_width)))

    def make_model(self, rngs: nnx.Rngs) -> nnx.Module:
        from pimjax.nn import TinyTransformer

        model = TinyTransformer(self.data.vocab_size, self.d_model, self.HEADS, self.LAYERS, self.data.max_len,
                                rngs=rngs)
        if self.cfg.precision == "native":
            return model
        from pimjax import emulate

        sample = jnp.zeros((self.cfg.batch_size, self.data.max_len), jnp.int32)
        return emulate(model, self.hw, inputs=(sample,), seed=self.cfg.seed, copy=False)

    def _forward(self, model, batch):
        inputs, targets, mask = batch[:3]
        logits = model(inputs)
        return logits, optax.softmax_cross_entropy_with_integer_labels(logits, targets), mask

    def loss(self, model, batch, *, seed, train: bool):
        logits, ce, mask = self._forward(model, batch)
        n = jnp.maximum(jnp.sum(mask), 1)
        return jnp.sum(ce * mask) / n, jnp.sum((jnp.argmax(logits, -1) == batch[1]) * mask) / n

    def evaluate(self, model, batch, *, seed):
        """Sums over the valid sequences of the batch: per-sequence token accuracy (every sequence
        has ``LENGTH`` answer tokens, so their mean is the token accuracy) and exact sequences.

        The model runs as a copy (``nnx.clone``; ``nnx.merge(*nnx.split(model))`` would share its
        variables): the emulated call sites' SR call counters do not advance, so the training
        steps draw the same words whether or not (and how often) the run evaluated in between: a
        run stopped by ``max_steps`` (evaluated there) and resumed trains with the bits of an
        uninterrupted one."""
        if isinstance(model, nnx.Module):
            model = nnx.clone(model)
        logits, _, mask = self._forward(model, batch)
        right = (jnp.argmax(logits, -1) == batch[1]) * mask
        valid = batch[3]
        per_seq = jnp.sum(right, -1) / jnp.maximum(jnp.sum(mask, -1), 1)
        exact = jnp.all((right > 0) | (mask == 0), -1)
        return {"token_accuracy": jnp.sum(per_seq * valid), "sequence_accuracy": jnp.sum(exact * valid),
                "count": jnp.sum(valid)}

    def train_batch(self, batch_size, *, seed, epoch, index):
        from pimjax.apps.data._sequences import sequence_batch

        return tuple(jnp.asarray(a) for a in sequence_batch(self.data, batch_size, seed=seed, epoch=epoch,
                                                              index=index))

    def test_batches(self, batch_size):
        """All of the test set; the last batch zero-padded, its padded rows invalid."""
        from pimjax.apps.data._sequences import split_sequences

        for (inputs, targets, mask), valid in _padded_batches(split_sequences(self.data.test, self.LENGTH),
                                                              batch_size):
            yield inputs, targets, mask, valid.astype(jnp.float32)


def make_task(cfg: Any, hw: TrainingHardware) -> Task:
    """The task of ``cfg.model`` on ``cfg.dataset`` (digits, translation, sort/reverse or an .npz path).

    ValueError for a ``batch_size`` outside ``[1, training set size]``, a dataset other than
    ``"digits"`` (the default) or ``"translation"`` for the translator (it trains on the
    synthetic translation task only), or, for an ``.npz`` (whose images are not resized), an
    ``input_size`` set to neither its default nor the images' side.
    """
    if cfg.model in TRANSFORMER_NAMES:
        if cfg.dataset not in ("digits", "sort", "reverse"):
            raise ValueError(f"TrainConfig.dataset: the transformer trains on the synthetic sequence task only "
                             f"('sort', 'reverse', or the default 'digits' = 'sort'), got {cfg.dataset!r}")
        task = SequenceTask(cfg, hw)
        task.check_batch_size(cfg.batch_size)
        return task
    if cfg.model in TRANSLATOR_NAMES:
        if cfg.dataset not in ("digits", "translation"):
            raise ValueError(f"TrainConfig.dataset: the translator trains on the synthetic translation task only "
                             f"('translation', or the default 'digits'), got {cfg.dataset!r}")
        task = TranslationTask(cfg, hw)
        task.check_batch_size(cfg.batch_size)
        return task
    from pimjax.nn._small_cnn import parse_name

    if cfg.model not in CNN_NAMES and parse_name(cfg.model) is None:
        raise ValueError(f"TrainConfig.model must be one of {CNN_NAMES + TRANSLATOR_NAMES + TRANSFORMER_NAMES} or "
                         f"cnn_d<depth>_k<kernel>_c<channels>, got {cfg.model!r}")
    from pimjax.apps.data import _datasets as data_mod

    if cfg.dataset == "digits":
        ds = data_mod.load_digits_dataset(input_size=cfg.input_size, seed=cfg.seed)
    elif cfg.dataset.endswith(".npz"):
        ds = data_mod.load_npz_dataset(cfg.dataset)
    else:
        raise ValueError(f"TrainConfig.dataset must be 'digits' or a path to an .npz file, got {cfg.dataset!r}")
    task = ClassificationTask(cfg, hw, _as_tuple(ds))
    if cfg.dataset != "digits" and cfg.input_size not in (task.input_size, _field_default(cfg, "input_size")):
        raise ValueError(f"TrainConfig.input_size is {cfg.input_size} but the images of {cfg.dataset} are "
                         f"{task.input_size}x{task.input_size} (.npz images are not resized): set input_size to "
                         f"{task.input_size} or leave it at its default")
    task.check_batch_size(cfg.batch_size)
    return task


def _field_default(cfg: Any, name: str) -> Any:
    """The default of dataclass field ``name`` of ``cfg`` (``None`` if there is none)."""
    fields = dataclasses.fields(cfg) if dataclasses.is_dataclass(cfg) else ()
    return next((f.default for f in fields if f.name == name), None)


def _as_tuple(ds: Any) -> tuple[np.ndarray, ...]:
    if isinstance(ds, dict):
        return tuple(np.asarray(ds[k]) for k in ("x_train", "y_train", "x_test", "y_test"))
    if hasattr(ds, "x_train"):
        return tuple(np.asarray(getattr(ds, k)) for k in ("x_train", "y_train", "x_test", "y_test"))
    return tuple(np.asarray(a) for a in ds)
