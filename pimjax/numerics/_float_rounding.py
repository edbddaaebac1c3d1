"""Rounding to float formats and rounded addition, exact float64 conversions.

:func:`round_to_float` rounds to a :class:`FloatFormat` (nearest even, subnormals kept) and
:func:`add_rounded` rounds an exact sum once; :func:`to_f64_exact` / :func:`from_f64_exact`
convert to and from float64 without XLA:CPU's flush of fp32/bf16 subnormals.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pimjax.numerics._formats import FloatFormat

_F64 = jnp.float64

_F32_TINY = 2.0**-149  # smallest fp32 / bf16 subnormal
_F32_MIN_NORMAL = 2.0**-126
_SUBNORMAL_SAFE = (np.dtype(np.float32), np.dtype(jnp.bfloat16))


def _to_f64(x: jax.Array) -> jax.Array:
    """Exact float64 copy of ``x``, fp32 and bf16 subnormals included.

    XLA:CPU flushes fp32/bf16 subnormals to zero in converts to and from float64, so those
    lanes are rebuilt from their bit patterns (``m * 2**-149``, normal in float64).
    """
    x = jnp.asarray(x)
    if x.dtype not in _SUBNORMAL_SAFE:
        return x.astype(_F64)
    x32 = x.astype(jnp.float32)  # bf16 -> fp32 is exact and keeps subnormals
    u = jax.lax.bitcast_convert_type(x32, jnp.uint32)
    mag = (u & jnp.uint32(0x7FFFFF)).astype(_F64) * _F32_TINY
    sub = jnp.where((u >> 31) == 1, -mag, mag)
    return jnp.where((u & jnp.uint32(0x7F800000)) == 0, sub, x32.astype(_F64))


def _from_f64(v: jax.Array, dtype: Any) -> jax.Array:
    """``v`` (float64 values representable in ``dtype``) in ``dtype``, subnormals kept."""
    dtype = np.dtype(dtype)
    if dtype not in _SUBNORMAL_SAFE:
        return v.astype(dtype)
    av = jnp.abs(v)
    m = jnp.where(av < _F32_MIN_NORMAL, av * (1.0 / _F32_TINY), 0.0).astype(jnp.uint32)
    u = m | jnp.where(jnp.signbit(v), jnp.uint32(0x80000000), jnp.uint32(0))
    v32 = jnp.where(av < _F32_MIN_NORMAL, jax.lax.bitcast_convert_type(u, jnp.float32), v.astype(jnp.float32))
    return v32.astype(dtype)  # fp32 -> bf16 is exact here (and keeps subnormals)


to_f64_exact = _to_f64
from_f64_exact = _from_f64


def round_to_float(x: jax.Array, fmt: FloatFormat) -> tuple[jax.Array, jax.Array]:
    """Rounds float64 ``x`` to ``fmt`` (nearest even, subnormals kept), returned as float64.

    Returns ``(values, overflowed)``; overflow gives +-Inf (or +-max for fp8_e4m3).
    """
    with jax.enable_x64(True):
        x = _to_f64(x)
        p = fmt.mantissa_bits
        emin = fmt.min_normal_exp
        ax = jnp.abs(x)
        _, ex = jnp.frexp(ax)  # ax = m * 2**ex, m in [0.5, 1)
        e = jnp.maximum(ex - 1, emin)
        ulp = jnp.ldexp(jnp.ones_like(ax), (e - p).astype(jnp.int32))
        q = jnp.round(ax / ulp) * ulp  # round half to even; division by 2**k is exact
        q = jnp.where(ax == 0, 0.0, q)
        finite_in = jnp.isfinite(x)
        over = finite_in & (q > fmt.max_finite)
        big = jnp.inf if fmt.has_inf else fmt.max_finite
        q = jnp.where(over, big, q)
        q = jnp.where(finite_in, q, ax)  # Inf stays Inf, NaN stays NaN
        if not fmt.has_inf:
            q = jnp.where(jnp.isinf(x), fmt.max_finite, q)
        return jnp.copysign(q, x), over


def add_rounded(a: jax.Array, b: jax.Array, fmt: FloatFormat) -> tuple[jax.Array, jax.Array]:
    """``round_fmt(a + b)`` with one rounding of the exact sum (float64 in and out).

    The sum is formed with round-to-odd in float64 (TwoSum error term), which makes the second
    rounding to ``fmt`` (at most 24 bits, so 53 >= p + 2) equal to a single rounding.
    """
    with jax.enable_x64(True):
        a = _to_f64(a)
        b = _to_f64(b)
        s = a + b
        bp = s - a
        err = (a - (s - bp)) + (b - bp)
        inexact = (err != 0) & jnp.isfinite(s)
        mant_even = (jax.lax.bitcast_convert_type(s, jnp.int64) & 1) == 0
        towards = jnp.where(err > 0, jnp.inf, -jnp.inf)
        s = jnp.where(inexact & mant_even, jnp.nextafter(s, towards), s)
        v, over = round_to_float(s, fmt)
        # a finite sum beyond float64's range overflows every format too
        return v, over | (jnp.isinf(s) & jnp.isfinite(a) & jnp.isfinite(b))
