"""Rounding of exact integers and overflow handling (docs/design.md section 2).

All functions work on exact ``int64`` codes (they switch on 64-bit types locally with
``jax.enable_x64``) and accept static or traced fraction bits, widths and rounding ids.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pimjax.numerics._formats import ROUNDING_MODES, rounding_id

_I64 = jnp.int64
_STOCHASTIC_IDS = (ROUNDING_MODES.index("stochastic"), ROUNDING_MODES.index("sr_lo"))


def integer_codes(x: Any, name: str = "codes") -> jax.Array:
    """``x`` as a JAX array, after checking it holds integers (codes, exact intermediates).

    A float array here would be truncated silently by the int64 conversion that follows, so
    it is a TypeError (as in :func:`~pimjax.numerics.decode`).
    """
    with jax.enable_x64(True):  # keep int64 / uint32 codes intact
        x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{name} must be an integer array, got dtype {x.dtype}")
    return x


def needs_random(rounding: Any) -> bool:
    """True if ``rounding`` (name, id or traced id) may consume random words."""
    rid = rounding_id(rounding)
    if isinstance(rid, int):
        return rid in _STOCHASTIC_IDS
    return True


def _increment(rid: int, c, q, rem, half, d, rwords, r_bits: int):
    """Whether to add one to the floor ``q`` for static rounding id ``rid``."""
    name = ROUNDING_MODES[rid]
    if name == "floor":
        return jnp.zeros_like(q, dtype=bool)
    if name == "toward_zero":
        return (c < 0) & (rem != 0)
    if name == "nearest_even":
        return (rem > half) | ((rem == half) & ((q & 1) == 1))
    if name == "nearest_away":
        return (rem > half) | ((rem == half) & (c >= 0))
    # stochastic / sr_lo: floor((c + R') / 2**d), R' = top d bits of the r-bit word.
    r = rwords.astype(_I64)
    rp = jnp.where(d <= r_bits, r >> jnp.clip(r_bits - d, 0, 63), r << jnp.clip(d - r_bits, 0, 63))
    return (rem + rp) >= (jnp.int64(1) << d)


def round_shift(c: jax.Array, d: Any, rounding: Any, rwords: jax.Array | None = None, r_bits: int = 32) -> jax.Array:
    """Rounds exact integers ``c`` by ``d`` fraction bits: ``round(c / 2**d)`` as int64.

    ``d <= 0`` is an exact left shift. ``rounding`` is a mode name or (traced) id from
    :data:`ROUNDING_MODES`; ``rwords`` are the ``r_bits``-bit random words stochastic modes use.

    >>> import jax.numpy as jnp
    >>> from pimjax.numerics import round_shift
    >>> [int(v) for v in round_shift(jnp.array([5, 6, 7, -6]), 2, "nearest_even")]
    [1, 2, 2, -2]
    """
    c = integer_codes(c, "round_shift: c")
    rid0 = rounding_id(rounding)
    if isinstance(d, (int, np.integer)) and isinstance(rid0, int) and -63 <= int(d) <= 62:
        return _round_shift_static(c, int(d), rid0, rwords, r_bits)
    with jax.enable_x64(True):
        c = jnp.asarray(c).astype(_I64)
        d = jnp.asarray(d).astype(_I64)
        dpos = jnp.clip(d, 0, 62)
        # d > 62: drop the extra d - 62 bits first, keeping a sticky bit. Exact for every
        # mode: the half/sticky bits stay below bit 62, and R' = R << (d - r) has no bits there.
        k = jnp.clip(d - 62, 0, 63)
        c = (c >> k) | ((c & ((jnp.int64(1) << k) - 1)) != 0).astype(_I64)
        q = c >> dpos
        rem = c - (q << dpos)
        half = (jnp.int64(1) << dpos) >> 1
        rid = rounding_id(rounding)
        if isinstance(rid, int):
            if rid in _STOCHASTIC_IDS and rwords is None:
                raise ValueError(f"rounding {ROUNDING_MODES[rid]!r} needs random words (pass a key)")
            inc = _increment(rid, c, q, rem, half, dpos, rwords, r_bits)
        else:
            rid = jnp.asarray(rid)
            inc = jnp.zeros(q.shape, bool)
            for i in range(len(ROUNDING_MODES)):
                if i in _STOCHASTIC_IDS and rwords is None:
                    continue
                inc = jnp.where(rid == i, _increment(i, c, q, rem, half, dpos, rwords, r_bits), inc)
        rounded = q + inc.astype(_I64)
        shifted = c << jnp.clip(-d, 0, 63)
        return jnp.where(d > 0, rounded, shifted)


def _round_shift_static(c, d: int, rid: int, rwords, r_bits: int) -> jax.Array:
    """``round_shift`` for a static ``d`` and mode: a few integer ops per element."""
    name = ROUNDING_MODES[rid]
    with jax.enable_x64(True):
        c = jnp.asarray(c).astype(_I64)
        if d <= 0:
            return c << -d
        if name == "floor":
            return c >> d
        if name in ("stochastic", "sr_lo"):
            if rwords is None:
                raise ValueError(f"rounding {name!r} needs random words (pass a key)")
            r = rwords.astype(_I64)
            rp = r >> (r_bits - d) if d <= r_bits else r << (d - r_bits)
            # floor((c + R') / 2**d) without forming c + R' (it wraps for c near 2**63):
            # floor(c / 2**d) + carry of (c mod 2**d) + R' (both < 2**d, so no wrap for d <= 62)
            return (c >> d) + (((c & ((1 << d) - 1)) + rp) >> d)
        q = c >> d
        rem = c & ((1 << d) - 1)
        half = 1 << (d - 1)
        if name == "toward_zero":
            inc = (c < 0) & (rem != 0)
        elif name == "nearest_even":
            inc = (rem > half) | ((rem == half) & ((q & 1) == 1))
        else:  # nearest_away
            inc = (rem > half) | ((rem == half) & (c >= 0))
        return q + inc.astype(_I64)


def code_bounds(bits: Any, signed: bool) -> tuple[jax.Array, jax.Array]:
    """``(lo, hi)`` int64 code range of a ``bits``-wide format (bits static or traced)."""
    with jax.enable_x64(True):
        b = jnp.asarray(bits).astype(_I64)
        if signed:
            return -(jnp.int64(1) << (b - 1)), (jnp.int64(1) << (b - 1)) - 1
        return jnp.zeros_like(b), (jnp.int64(1) << b) - 1


def apply_overflow(v: jax.Array, bits: Any, signed: bool, overflow: str) -> tuple[jax.Array, jax.Array]:
    """Saturates or wraps exact integers ``v`` into the format; returns ``(codes, overflowed)``."""
    v = integer_codes(v, "apply_overflow: v")
    with jax.enable_x64(True):
        v = v.astype(_I64)
        lo, hi = code_bounds(bits, signed)
        over = (v < lo) | (v > hi)
        if overflow == "saturate":
            out = jnp.clip(v, lo, hi)
        else:
            mask = (jnp.int64(1) << jnp.asarray(bits).astype(_I64)) - 1
            out = ((v - lo) & mask) + lo
        return out, over
