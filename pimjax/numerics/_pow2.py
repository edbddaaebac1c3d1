"""Exact scaling by powers of two without ``pow``.

``jnp.ldexp`` lowers to a general ``pow`` and a select chain (XLA:CPU: tens of ns per
element); a fixed-point code times ``2**e`` is instead one multiplication by an exact power of
two, exact whenever the result is a normal number of the dtype (the codes and fraction bits
of pimjax's formats, up to 64 bits and -128..128 fraction bits, always are in float64).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_RANGE = {np.dtype(np.float32): (-126, 127, 23, 127), np.dtype(np.float64): (-1022, 1023, 52, 1023)}


def pow2(e: Any, dtype: Any = jnp.float64) -> jax.Array:
    """``2.0**e`` in ``dtype`` (float32 or float64) for an integer ``e`` in its normal range.

    A static ``e`` becomes a constant; a traced one is built from its exponent bits.
    """
    dt = np.dtype(dtype)
    lo, hi, mant, bias = _RANGE[dt]
    if isinstance(e, (int, np.integer)):
        if not lo <= int(e) <= hi:
            raise ValueError(f"pow2 exponent must be in {lo}..{hi} for {dt}, got {int(e)}")
        with jax.enable_x64(dt == np.float64):
            return jnp.asarray(dt.type(2.0) ** int(e), dt)
    with jax.enable_x64(dt == np.float64):
        ut = jnp.uint64 if dt == np.float64 else jnp.uint32
        ee = jnp.clip(jnp.asarray(e).astype(jnp.int32), lo, hi) + bias
        return jax.lax.bitcast_convert_type(ee.astype(ut) << mant, dt)


def scale_pow2(x: jax.Array, e: Any) -> jax.Array:
    """``x * 2**e`` in ``x``'s float dtype, ``e`` a static or traced integer (two exact factors
    when ``|e|`` exceeds one factor's range)."""
    dt = np.dtype(x.dtype)
    lo, hi, _, _ = _RANGE[dt]
    with jax.enable_x64(dt == np.float64):
        if isinstance(e, (int, np.integer)):
            e = int(e)
            if lo <= e <= hi:
                return x * pow2(e, dt)
            e1 = max(lo, min(hi, e))
            return x * pow2(e1, dt) * pow2(e - e1, dt)
        e = jnp.asarray(e).astype(jnp.int32)
        e1 = jnp.clip(e, lo, hi)
        return x * pow2(e1, dt) * pow2(e - e1, dt)


__all__ = ["pow2", "scale_pow2"]
