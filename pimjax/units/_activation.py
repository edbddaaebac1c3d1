"""Activation functions f(x) and f'(x), exact or through lookup tables (NeuroTrainer PMAG).

NeuroTrainer Sec. 2 computes activations "and their derivatives by using look up tables
[LUTs, for f(x) and f'(x)]". A :class:`~pimjax.hw.LUTConfig` table of ``size`` entries covers
``[x_min, x_max)``; entry ``i`` holds ``f`` at the midpoint of its step, rounded to nearest even
in the entry format; out-of-range inputs clamp to the end entries.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from pimjax.hw._system import LUTConfig
from pimjax.numerics import FixedFormat, quantize

_F64 = jnp.float64


def _np_fns() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    sig = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    return {
        "identity": lambda x: x,
        "relu": lambda x: np.maximum(x, 0.0),
        "tanh": np.tanh,
        "sigmoid": sig,
        "d_identity": lambda x: np.ones_like(x),
        "d_relu": lambda x: (x > 0).astype(np.float64),
        "d_tanh": lambda x: 1.0 - np.tanh(x) ** 2,
        "d_sigmoid": lambda x: sig(x) * (1.0 - sig(x)),
    }


def exact_activation(name: str, x: jax.Array) -> jax.Array:
    """``f(x)`` (or ``f'(x)`` for ``"d_<name>"``) in float64 on exact inputs."""
    with jax.enable_x64(True):
        x = jnp.asarray(x).astype(_F64)
        if name == "identity":
            return x
        if name == "relu":
            return jnp.maximum(x, 0.0)
        if name == "tanh":
            return jnp.tanh(x)
        if name == "sigmoid":
            return jax.nn.sigmoid(x)
        if name == "d_identity":
            return jnp.ones_like(x)
        if name == "d_relu":
            return (x > 0).astype(_F64)
        if name == "d_tanh":
            return 1.0 - jnp.tanh(x) ** 2
        if name == "d_sigmoid":
            s = jax.nn.sigmoid(x)
            return s * (1.0 - s)
    raise ValueError(f"unknown activation {name!r}")


def lut_entries(name: str, lut: LUTConfig) -> np.ndarray:
    """The table's entries as values of ``lut.entry_format`` (float64 numpy, computed once).

    Midpoints are evaluated with numpy in float64 and rounded to nearest even.
    """
    step = (lut.x_max - lut.x_min) / lut.size
    mids = lut.x_min + (np.arange(lut.size, dtype=np.float64) + 0.5) * step
    vals = _np_fns()[name](mids)
    with jax.ensure_compile_time_eval():
        codes, _ = quantize(jnp.asarray(vals), lut.entry_format)
    if isinstance(lut.entry_format, FixedFormat):
        return np.asarray(codes, dtype=np.float64) * 2.0 ** -lut.entry_format.frac
    return np.asarray(codes, dtype=np.float64)


def lut_index(x: jax.Array, lut: LUTConfig) -> jax.Array:
    """Entry index of exact inputs ``x``: ``clip(floor((x - x_min) * size / (x_max - x_min)), 0, size-1)``."""
    with jax.enable_x64(True):
        # (x - x_min) * size is exact (power-of-two scale); one correctly rounded division
        idx = jnp.floor((jnp.asarray(x).astype(_F64) - lut.x_min) * lut.size / (lut.x_max - lut.x_min))
        return jnp.clip(idx, 0, lut.size - 1).astype(jnp.int32)


def lut_activation(name: str, x: jax.Array, lut: LUTConfig) -> jax.Array:
    """``f(x)`` looked up in the table (float64 values of the entry format)."""
    with jax.enable_x64(True):
        table = jnp.asarray(lut_entries(name, lut))
        return table[lut_index(x, lut)]
