"""Small CNN families for Yang & Sze's depth vs filter-size study, trained in float on digits.

Yang & Sze (seed 004, "Fixed Noise Resilience - Network Depth / Filter Size"): the trend for
digital accelerators is to "increase number of layers (network depth) + reduce filter size";
they report that deeper networks lose accuracy faster under noise and that larger filters are
more robust. :class:`SmallCNN` gives both knobs on the scikit-learn digits:

``cnn_d{depth}_k{kernel}_c{channels}``: ``depth`` convolutions ``kernel x kernel`` (stride 1,
SAME padding, ``channels`` output channels each, ReLU) with a 2x2 max-pool after conv
``ceil(depth / 2)`` and after the last conv, then one dense layer to the classes. Every conv
and the dense layer are pimjax emulated layers (im2col matmuls on the hardware), so the same
network trains in float32 and is evaluated on any swept hardware without retraining.

:func:`make_model` builds a :class:`~pimjax.apps.sweep.ModelSpec` (this family or a pimjax CNN
of :data:`pimjax.nn.CNN_MODELS`), :func:`train_float` trains it in float32 (Adam, cross-entropy,
deterministic batches), :func:`save_params` / :func:`load_params` cache the weights and
:func:`trained_model` does all of it (scripts keep their caches under ``results/``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from pimjax.apps.sweep._config import ModelSpec
from pimjax.nn import TrainingHardware, training_hardware
from pimjax.nn._cnn import _run
from pimjax.nn._layers import EmuConv, EmuLinear, max_pool_with_index

_HE = nnx.initializers.he_normal()
_NAME = re.compile(r"^cnn_d(\d+)_k(\d+)_c(\d+)$")


class SmallCNN(nnx.Module):
    """``depth`` k x k convolutions (``channels`` each), two 2x2 max-pools, one dense layer.

    Args:
      depth, kernel, channels: the family's knobs (module docstring).
      hw: hardware of every emulated layer (float training: ``training_hardware("native")``).
      num_classes, in_channels, input_size: data (NHWC, square; ``input_size`` divisible by 4).
      rngs: initialisation (He normal, for the ReLU stack).
    """

    def __init__(self, *, depth: int, kernel: int, channels: int, hw: TrainingHardware, num_classes: int = 10,
                 in_channels: int = 1, input_size: int = 8, rngs: nnx.Rngs):
        for name, v, lo in (("depth", depth, 1), ("kernel", kernel, 1), ("channels", channels, 1),
                            ("num_classes", num_classes, 1), ("in_channels", in_channels, 1), ("input_size", input_size, 4)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"SmallCNN.{name} must be an integer >= {lo}, got {v!r}")
        self.depth, self.kernel, self.channels = depth, kernel, channels
        self.num_classes, self.in_channels, self.input_size = num_classes, in_channels, input_size
        self.pool_after = tuple(sorted({math.ceil(depth / 2) - 1, depth - 1}))
        side = input_size // (2 ** len(self.pool_after))
        if side < 1:
            raise ValueError(f"SmallCNN.input_size {input_size} too small for {len(self.pool_after)} 2x2 pools")
        convs, cin = [], in_channels
        for i in range(depth):
            convs.append(EmuConv(cin, channels, (kernel, kernel), hw=hw, layer_id=i, rngs=rngs, padding="SAME",
                                 name=f"conv{i + 1}", kernel_init=_HE))
            cin = channels
        self.convs = nnx.List(convs)
        self.fc = EmuLinear(side * side * channels, num_classes, hw=hw, layer_id=depth, rngs=rngs, name="fc")
        self.num_layers = depth + 1

    def __call__(self, x: jax.Array, *, seed: Any, train: bool = False) -> jax.Array:
        h = x
        for i, conv in enumerate(self.convs):
            h = jax.nn.relu(_run(conv, h, seed))
            if i in self.pool_after:
                h, _ = max_pool_with_index(h, 2)
        return _run(self.fc, h.reshape(h.shape[0], -1), seed)


def parse_name(name: str) -> tuple[int, int, int] | None:
    """``(depth, kernel, channels)`` of a ``cnn_d*_k*_c*`` name, else None.

    >>> parse_name("cnn_d4_k3_c16")
    (4, 3, 16)
    """
    m = _NAME.match(name)
    return tuple(int(g) for g in m.groups()) if m else None


def make_model(spec: ModelSpec, *, hw: TrainingHardware | None = None, num_classes: int = 10,
               in_channels: int = 1) -> nnx.Module:
    """The (untrained) network of ``spec`` on ``hw`` (default: native float32)."""
    from pimjax.nn import make_cnn

    hw = hw or dataclasses.replace(training_hardware("native"), record_costs=False)
    rngs = nnx.Rngs(spec.seed)
    parsed = parse_name(spec.name)
    if parsed:
        d, k, c = parsed
        return SmallCNN(depth=d, kernel=k, channels=c, hw=hw, num_classes=num_classes, in_channels=in_channels,
                        input_size=spec.input_size, rngs=rngs)
    return make_cnn(spec.name, hw=hw, num_classes=num_classes, in_channels=in_channels, input_size=spec.input_size,
                    width=spec.width, rngs=rngs)


def load_data(spec: ModelSpec):
    """The digits split of ``spec`` (:func:`pimjax.apps.data.load_digits_dataset`)."""
    from pimjax.apps.data import load_digits_dataset

    return load_digits_dataset(input_size=spec.input_size, seed=spec.seed)


def train_float(model: nnx.Module, x: Any, y: Any, *, epochs: int, batch_size: int = 32,
                learning_rate: float = 3e-3, seed: int = 0) -> nnx.Module:
    """Trains ``model`` in place in float32 (Adam with cosine decay, softmax cross-entropy).

    Batch ``i`` of epoch ``e`` is a fixed function of ``(seed, e, i)``; returns the model.
    """
    x, y = np.asarray(x, np.float32), np.asarray(y, np.int32)
    steps = max(1, len(x) // batch_size)
    if epochs == 0:
        return model
    tx = optax.adam(optax.cosine_decay_schedule(learning_rate, epochs * steps))
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, xb, yb, s):
        def loss_fn(model):
            logits = model(xb, seed=s, train=True)
            return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

        loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, nnx.Param))(model)
        opt.update(model, grads)
        nnx.pop(model, nnx.Intermediate)  # cost records a model may sow: not kept across steps
        return loss

    for e in range(epochs):
        perm = np.random.default_rng([seed, e, 0x5EED]).permutation(len(x))
        for i in range(steps):
            idx = perm[i * batch_size:(i + 1) * batch_size]
            step(model, opt, jnp.asarray(x[idx]), jnp.asarray(y[idx]), jnp.uint32(e * steps + i))
    return model


def accuracy(model: nnx.Module, x: Any, y: Any, batch_size: int = 256) -> float:
    """Float test accuracy of ``model`` (its own hardware, seed 0)."""
    @nnx.jit
    def fwd(m, xb):
        logits = m(xb, seed=jnp.uint32(0), train=False)
        nnx.pop(m, nnx.Intermediate)
        return logits

    correct = 0
    for s in range(0, len(x), batch_size):
        logits = fwd(model, jnp.asarray(x[s:s + batch_size]))
        correct += int(np.sum(np.argmax(np.asarray(logits), -1) == np.asarray(y[s:s + batch_size])))
    return correct / len(x)


def _key(path) -> str:
    return "/".join(str(getattr(e, "key", getattr(e, "idx", e))) for e in path)


def save_params(model: nnx.Module, path: str) -> None:
    """Writes the model's parameters to an ``.npz`` (flattened ``/``-joined paths)."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    np.savez(path, **{_key(p): np.asarray(v) for p, v in leaves})


def load_params(model: nnx.Module, path: str) -> nnx.Module:
    """Loads parameters written by :func:`save_params` into ``model`` (in place); returns it."""
    state = nnx.state(model, nnx.Param)
    pure = nnx.to_pure_dict(state)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(pure)
    new = []
    with np.load(path) as z:
        for p, v in leaves:
            k = _key(p)
            if k not in z.files or z[k].shape != np.shape(v):
                raise ValueError(f"{path}: parameter {k!r} missing or of another shape")
            new.append(jnp.asarray(z[k]))
    nnx.replace_by_pure_dict(state, jax.tree_util.tree_unflatten(treedef, new))
    nnx.update(model, state)
    return model


def _cache_name(spec: ModelSpec) -> str:
    return (f"{spec.name}_s{spec.input_size}_w{spec.width:g}_e{spec.epochs}_b{spec.batch_size}_"
            f"lr{spec.learning_rate:g}_seed{spec.seed}.npz")


def trained_model(spec: ModelSpec, *, cache_dir: str | None = None, data: Any = None) -> nnx.Module:
    """The network of ``spec`` trained in float32 on its digits split (cached in ``cache_dir``)."""
    data = data if data is not None else load_data(spec)
    model = make_model(spec, num_classes=data.num_classes, in_channels=data.channels)
    path = os.path.join(cache_dir, _cache_name(spec)) if cache_dir else None
    if path and os.path.exists(path):
        return load_params(model, path)
    train_float(model, data.x_train, data.y_train, epochs=spec.epochs, batch_size=spec.batch_size,
                learning_rate=spec.learning_rate, seed=spec.seed)
    if path:
        save_params(model, path)
    return model


__all__ = ["SmallCNN", "accuracy", "load_data", "load_params", "make_model", "parse_name", "save_params",
           "train_float", "trained_model"]
