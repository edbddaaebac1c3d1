"""Activations for training: exact float32, or lookup tables for f(x) and f'(x) (NeuroTrainer PMAG).

NeuroTrainer Sec. 2 / 3.2: the PMAG "computes the non-linear function (and its derivative) by
using look up tables [LUTs, for f(x) and f'(x)]". :func:`activation` with a
:class:`~pimjax.hw.LUTConfig` is a ``jax.custom_vjp``:

* forward: ``y = T_f[idx(x)]``, the entry of the f table (``pimjax.units._activation``:
  ``size`` entries over ``[x_min, x_max)``, midpoint values rounded to nearest even in the
  entry format, inputs outside the range clamp to the end entries);
* backward: ``dx = g * T_f'[idx(x)]`` with the table of the derivative (``"d_tanh"``,
  ``"d_sigmoid"``, ``"d_relu"``) at the same index: the derivative of the hardware's function
  is the f' table, not the derivative of the step function. The product with the incoming
  gradient ``g`` is float32 (an elementwise multiply, not an array matmul).

Table values are exact in float32 for entry formats of up to 24 significant bits (the default
``Fx(16, 12)``), so the float32 result equals the table entry exactly.

Without a LUT, the exact float32 functions are used and JAX differentiates them.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from pimjax.hw import LUTConfig
from pimjax.units._activation import lut_entries, lut_index

ACTIVATIONS: tuple[str, ...] = ("tanh", "sigmoid", "relu")

_EXACT = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}


@functools.lru_cache(maxsize=256)
def _table(name: str, lut: LUTConfig) -> np.ndarray:
    """Entries of the ``name`` table as float32 (exact for the entry formats used here)."""
    vals = lut_entries(name, lut)
    out = vals.astype(np.float32)
    if not np.array_equal(out.astype(np.float64), vals):
        raise ValueError(f"LUT entries of {name!r} in {lut.entry_format} are not exact in float32")
    return out


def _lookup(name: str, x: jax.Array, lut: LUTConfig) -> jax.Array:
    table = jnp.asarray(_table(name, lut))
    return jnp.where(jnp.isnan(x), jnp.nan, table[lut_index(x, lut)])  # NaN stays NaN, as in the units


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _lut_activation(name: str, lut: LUTConfig, x: jax.Array) -> jax.Array:
    return _lookup(name, x, lut)


def _lut_fwd(name, lut, x):
    return _lookup(name, x, lut), x


def _lut_bwd(name, lut, x, g):
    return (g * _lookup("d_" + name, x, lut),)


_lut_activation.defvjp(_lut_fwd, _lut_bwd)


def activation(name: str, x: jax.Array, lut: LUTConfig | None = None) -> jax.Array:
    """``f(x)`` in float32 for ``name`` in ``("tanh", "sigmoid", "relu")``.

    Args:
      name: the function.
      x: inputs (cast to float32).
      lut: ``None`` for the exact function (JAX's derivative), or a table: forward from the f
        table, backward ``g * f'`` from the f' table (NeuroTrainer PMAG).

    Returns:
      float32 array of ``x``'s shape.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
    if lut is not None and not isinstance(lut, LUTConfig):
        raise TypeError(f"lut must be a pimjax.hw.LUTConfig or None, got {type(lut).__name__}")
    x = jnp.asarray(x, jnp.float32)
    if lut is None:
        return _EXACT[name](x)
    return _lut_activation(name, lut, x)
