"""Requantize codes between formats, and exact int64 intermediates into a format.

Like quantize, every function returns its result together with :class:`NumericEvents`, so
nothing overflows silently (docs/design.md section 2).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pimjax.numerics._events import NumericEvents, _rbits_count, _words
from pimjax.numerics._events import count_true as _count
from pimjax.numerics._float_rounding import _from_f64, add_rounded
from pimjax.numerics._formats import FixedFormat, FloatFormat, ROUNDING_MODES, check_format, rounding_id
from pimjax.numerics._quantize import decode, quantize
from pimjax.numerics._random import DEFAULT_STOCHASTIC, StochasticConfig
from pimjax.numerics._rounding import _STOCHASTIC_IDS, apply_overflow, integer_codes, needs_random, round_shift

_I64 = jnp.int64
_F64 = jnp.float64


def requantize(
    codes: jax.Array,
    src: FixedFormat | FloatFormat,
    dst: FixedFormat | FloatFormat | None,
    rounding: Any = "nearest_even",
    *,
    key: Any = None,
    stochastic: StochasticConfig = DEFAULT_STOCHASTIC,
    offset: Any = 0,
) -> tuple[jax.Array, NumericEvents]:
    """Converts ``codes`` of format ``src`` to format ``dst`` (``None``: exact, unchanged).

    Fixed to fixed drops ``src.frac - dst.frac`` fraction bits with ``rounding`` (a negative
    difference is an exact left shift), then saturates or wraps. ``src`` may be a
    :class:`FixedFormat` whose width is only a bound (exact intermediate sums): the codes are
    taken as exact int64 integers; codes of a fixed-point ``src`` must be an integer array
    (TypeError otherwise: a float array would be truncated).
    """
    check_format("src", src)
    if isinstance(src, FixedFormat):
        codes = integer_codes(codes, "requantize: codes")
    if dst is None:
        return codes, NumericEvents.zero()
    check_format("dst", dst)
    if isinstance(src, FloatFormat) or isinstance(dst, FloatFormat):
        with jax.enable_x64(True):
            vals = decode(codes, src, dtype=_F64, check_range=False)  # src's width may be only a bound
        return quantize(vals, dst, rounding, key=key, stochastic=stochastic, offset=offset)
    return requantize_exact(codes, src.frac, dst, rounding, key=key, stochastic=stochastic, offset=offset)


def requantize_exact(
    codes: jax.Array,
    frac: Any,
    dst: FixedFormat | FloatFormat | None,
    rounding: Any = "nearest_even",
    *,
    key: Any = None,
    stochastic: StochasticConfig = DEFAULT_STOCHASTIC,
    offset: Any = 0,
) -> tuple[jax.Array, NumericEvents]:
    """Requantizes exact int64 integers with ``frac`` fraction bits (any width) to ``dst``.

    The datapath's exact intermediates (products, adder-tree sums) are such integers. Drops
    ``frac - dst.frac`` bits with ``rounding`` (negative: exact left shift), then saturates or
    wraps into ``dst``; ``dst=None`` passes the codes through. ``codes`` must be an integer
    array (TypeError otherwise).
    """
    codes = integer_codes(codes, "requantize_exact: codes")
    if dst is None:
        return codes, NumericEvents.zero()
    if isinstance(dst, FloatFormat):
        if not isinstance(rounding, str) or rounding != "nearest_even":
            raise ValueError(f"float formats round nearest_even only, got rounding={rounding!r}")
        with jax.enable_x64(True):
            # int64 -> float64 may round (|codes| > 2**53) and a second rounding to dst could
            # then go wrong: split into two exact parts and let add_rounded round once
            c = jnp.asarray(codes).astype(_I64)
            lo = c & 0x7FF
            s = -jnp.asarray(frac).astype(jnp.int32)
            v, over = add_rounded(jnp.ldexp((c - lo).astype(_F64), s), jnp.ldexp(lo.astype(_F64), s), dst)
            return _from_f64(v, dst.dtype), NumericEvents.make(overflow=_count(over))
    with jax.enable_x64(True):
        codes = jnp.asarray(codes).astype(_I64)
        d = jnp.asarray(frac).astype(_I64) - jnp.asarray(dst.frac).astype(_I64)
        words = _words(rounding, key, codes.shape, stochastic, offset)
        if words is None and needs_random(rounding) and not isinstance(rounding_id(rounding), int):
            rid = jnp.asarray(rounding_id(rounding))
            stoch = (rid == _STOCHASTIC_IDS[0]) | (rid == _STOCHASTIC_IDS[1])
            rounding_eff = jnp.where(stoch, ROUNDING_MODES.index("floor"), rid)
        else:
            rounding_eff = rounding
        r = round_shift(codes, d, rounding_eff, words, stochastic.bits)
        # left shifts may leave int64: detect overflow before shifting
        lo_b, hi_b = _shift_safe_bounds(dst, -d)
        big = (d < 0) & ((codes > hi_b) | (codes < lo_b))
        out, over = apply_overflow(r, dst.bits, dst.signed, dst.overflow)
        if dst.overflow == "saturate":
            sat = jnp.where(codes > 0, _hi(dst), _lo(dst))
            out = jnp.where(big, sat, out)
        over = over | big
        size = int(np.prod(codes.shape, dtype=np.int64))
        rb = _rbits_count(rounding, d, size, stochastic.bits) if words is not None else 0
        return out, NumericEvents.make(overflow=_count(over), random_bits=rb)


def _hi(fmt: FixedFormat):
    b = jnp.asarray(fmt.bits).astype(_I64)
    return (jnp.int64(1) << (b - 1)) - 1 if fmt.signed else (jnp.int64(1) << b) - 1


def _lo(fmt: FixedFormat):
    b = jnp.asarray(fmt.bits).astype(_I64)
    return -(jnp.int64(1) << (b - 1)) if fmt.signed else jnp.zeros_like(b)


def _shift_safe_bounds(dst: FixedFormat, s):
    """Codes in ``[lo, hi]`` stay inside ``dst`` after a left shift by ``s >= 0`` bits."""
    s = jnp.clip(s, 0, 63)
    hi = _hi(dst) >> s
    lo = -((-_lo(dst)) >> s)
    return lo, hi
