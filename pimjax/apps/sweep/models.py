"""Small CNN families for Yang & Sze's depth vs filter-size study, trained in float on digits.

Yang & Sze ("Fixed Noise Resilience - Network Depth / Filter Size"): the trend for
digital accelerators is to "increase number of layers (network depth) + reduce filter size";
they report that deeper networks lose accuracy faster under noise and that larger filters are
more robust. :class:`pimjax.nn.SmallCNN` (``cnn_d{depth}_k{kernel}_c{channels}``) gives both
knobs on the scikit-learn digits; every layer is an emulated layer, so the same network trains
in float32 and is evaluated on any swept hardware without retraining.

:func:`make_model` builds a :class:`~pimjax.apps.sweep.ModelSpec` (this family or a pimjax CNN
of :data:`pimjax.nn.CNN_MODELS`), :func:`train_float` trains it in float32 (Adam, cross-entropy,
deterministic batches), :func:`save_params` / :func:`load_params` cache the weights and
:func:`trained_model` does all of it (scripts keep their caches under ``results/``).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from pimjax.apps.sweep._spec import ModelSpec
from pimjax.nn import TrainingHardware, training_hardware
from pimjax.nn._small_cnn import SmallCNN, parse_name


def make_model(spec: ModelSpec, *, hw: TrainingHardware | None = None, num_classes: int = 10,
               in_channels: int = 1) -> nnx.Module:
    """The (untrained) network of ``spec`` on ``hw`` (default: native float32)."""
    from pimjax.nn import make_cnn

    hw = hw or dataclasses.replace(training_hardware("native"), record_costs=False)
    return make_cnn(spec.name, hw=hw, num_classes=num_classes, in_channels=in_channels, input_size=spec.input_size,
                    width=spec.width, rngs=nnx.Rngs(spec.seed))


def load_data(spec: ModelSpec):
    """The digits split of ``spec`` (:func:`pimjax.apps.data.load_digits_dataset`)."""
    from pimjax.apps.data._datasets import load_digits_dataset

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
    from pimjax.apps._atomic import atomic_open

    with atomic_open(path, "wb") as f:  # a kill leaves the old cache or the new one, never a cut one
        np.savez(f, **{_key(p): np.asarray(v) for p, v in leaves})


def load_params(model: nnx.Module, path: str) -> nnx.Module:
    """Loads parameters written by :func:`save_params` into ``model`` (in place); returns it."""
    state = nnx.state(model, nnx.Param)
    pure = nnx.to_pure_dict(state)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(pure)
    import zipfile

    from pimjax.apps._atomic import DamagedFileError

    new = []
    try:
        with np.load(path) as z:
            for p, v in leaves:
                k = _key(p)
                if k not in z.files or z[k].shape != np.shape(v):
                    raise ValueError(f"{path}: parameter {k!r} missing or of another shape")
                new.append(jnp.asarray(z[k]))
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as e:
        raise DamagedFileError(f"model cache {path} is damaged (cut short or overwritten: "
                               f"{type(e).__name__}: {e})") from None
    except ValueError as e:
        if "missing or of another shape" in str(e):
            raise
        raise DamagedFileError(f"model cache {path} is damaged ({e})") from None
    nnx.replace_by_pure_dict(state, jax.tree_util.tree_unflatten(treedef, new))
    nnx.update(model, state)
    return model


def _cache_name(spec: ModelSpec) -> str:
    return f"{spec.name}_{spec.run_key}.npz"


def trained_model(spec: ModelSpec, *, cache_dir: str | None = None, data: Any = None) -> nnx.Module:
    """The network of ``spec`` trained in float32 on its digits split (cached in ``cache_dir``)."""
    data = data if data is not None else load_data(spec)
    model = make_model(spec, num_classes=data.num_classes, in_channels=data.channels)
    path = os.path.join(cache_dir, _cache_name(spec)) if cache_dir else None
    if path and os.path.exists(path):
        from pimjax.apps._atomic import DamagedFileError

        try:
            return load_params(model, path)
        except DamagedFileError as e:  # repaired: moved aside, the model trained again (same bits)
            os.replace(path, path + ".damaged")
            print(f"pimjax sweep: {e}; moved to {path}.damaged, training the model again", file=sys.stderr)
    train_float(model, data.x_train, data.y_train, epochs=spec.epochs, batch_size=spec.batch_size,
                learning_rate=spec.learning_rate, seed=spec.seed)
    if path:
        save_params(model, path)
    return model


__all__ = ["SmallCNN", "accuracy", "load_data", "load_params", "make_model", "parse_name", "save_params",
           "train_float", "trained_model"]
