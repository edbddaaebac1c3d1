"""Activation functions f(x) and f'(x), exact or through lookup tables (NeuroTrainer PMAG).

NeuroTrainer Sec. 2 computes activations "and their derivatives by using look up tables
[LUTs, for f(x) and f'(x)]". A :class:`~pimjax.hw.LUTConfig` table of ``size`` entries covers
``[x_min, x_max)``; entry ``i`` holds ``f`` at the midpoint of its step, rounded to nearest even
in the entry format; out-of-range inputs clamp to the end entries.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from pimjax.hw._system import LUTConfig
from pimjax.numerics import FixedFormat, quantize, to_f64_exact

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


@functools.lru_cache(maxsize=256)
def lut_entries(name: str, lut: LUTConfig) -> np.ndarray:
    """The table's entries as values of ``lut.entry_format`` (float64 numpy, read-only, cached).

    Midpoints are evaluated with numpy in float64 and rounded to nearest even.
    """
    if not isinstance(name, str) or name not in _np_fns():
        raise ValueError(f"activation name must be one of {sorted(_np_fns())}, got {name!r}")
    step = (lut.x_max - lut.x_min) / lut.size
    mids = lut.x_min + (np.arange(lut.size, dtype=np.float64) + 0.5) * step
    vals = _np_fns()[name](mids)
    with jax.enable_x64(True), jax.ensure_compile_time_eval():
        # one compiled program (op by op, quantize compiles dozens)
        codes, _ = jax.jit(quantize, static_argnums=1)(jnp.asarray(vals, _F64), lut.entry_format)
    out = np.asarray(codes, dtype=np.float64)
    if isinstance(lut.entry_format, FixedFormat):
        out = out * 2.0 ** -lut.entry_format.frac
    out.setflags(write=False)
    return out


_I64_MAX = np.iinfo(np.int64).max


def _order_key(bits, xp=jnp):
    """Signed int64 bit patterns of float64 values -> int64 keys in the values' order (``-0 == +0``).

    Integer compares are exact on every backend (XLA:CPU reads float64 subnormals as zero).
    """
    return xp.where(bits < 0, -(bits & _I64_MAX), bits)


@functools.lru_cache(maxsize=256)
def _lut_edge_keys(size: int, x_min: float, x_max: float) -> np.ndarray:
    """Order keys (:func:`_order_key`) of the ``size + 1`` edges: below everything, then for
    ``j = 1 .. size-1`` the smallest float64 ``>= x_min + j * step`` (the exact rational rounded
    up: a float64 ``x`` is ``>= x_min + j * step`` exactly when it is ``>=`` that float), then
    above everything.
    """
    lo, step = Fraction(x_min), (Fraction(x_max) - Fraction(x_min)) / size
    edges = np.zeros(size - 1, dtype=np.float64)
    for j in range(1, size):
        b = lo + j * step
        f = float(b)  # nearest; one step up where it fell below b (b lies in [x_min, x_max]: finite)
        edges[j - 1] = f if Fraction(f) >= b else np.nextafter(f, np.inf)
    keys = _order_key(edges.view(np.int64), np)
    return np.concatenate([[-_I64_MAX - 1], keys, [_I64_MAX]]).astype(np.int64)


def lut_index(x: jax.Array, lut: LUTConfig) -> jax.Array:
    """Entry index of exact inputs ``x``: ``clip(floor((x - x_min) * size / (x_max - x_min)), 0, size-1)``.

    Exact for every input (entry ``i`` covers ``[x_min + i*step, x_min + (i+1)*step)``; inputs
    below / above the range, ``-inf`` / ``+inf`` too, take the first / last entry); NaN gets
    index 0 (:func:`lut_activation` returns NaN for it). The float64 quotient ``q`` is within
    ``2**-29`` of the exact one (relative error ``< 2**-50``, ``size <= 2**20``), so with
    ``j = round(q)`` the index is ``j - 1`` or ``j``: one exact comparison with edge ``j`` decides.
    """
    with jax.enable_x64(True):
        x = to_f64_exact(x)
        q = jnp.floor((x - lut.x_min) * lut.size / (lut.x_max - lut.x_min) + 0.5)
        j = jnp.clip(jnp.where(jnp.isnan(q), 0.0, q), 0, lut.size).astype(jnp.int32)
        edges = jnp.asarray(_lut_edge_keys(lut.size, float(lut.x_min), float(lut.x_max)))
        k = _order_key(jax.lax.bitcast_convert_type(x, jnp.int64))
        return j - (k < edges[j]).astype(jnp.int32)  # edge 0 is below every key (NaN: 0), edge size above


def lut_activation(name: str, x: jax.Array, lut: LUTConfig) -> jax.Array:
    """``f(x)`` looked up in the table (float64 values of the entry format)."""
    with jax.enable_x64(True):
        x = to_f64_exact(x)
        table = jnp.asarray(lut_entries(name, lut))
        return jnp.where(jnp.isnan(x), x, table[lut_index(x, lut)])  # NaN has no entry: it passes through
