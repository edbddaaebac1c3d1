"""Numeric event counts and the random-bit bookkeeping shared by quantize and requantize.

:class:`NumericEvents` holds the overflow, NaN and Inf counts and the random bits used that
every quantizing function returns, so nothing overflows silently (docs/design.md section 2);
:func:`count_true` is the exact mask count behind them. ``_words`` draws the stochastic
rounding words a rounding mode needs and ``_rbits_count`` counts the bits it uses.

Exactness: counts are int64 (made inside ``jax.enable_x64`` scopes, so they stay int64 under
``jit``, ``vmap``, ``scan`` and ``shard_map`` although x64 is off globally) and every total is
formed in int64 (:meth:`NumericEvents.merge`, :meth:`NumericEvents.make`): exact up to
2**63. A single mask count may come back as int32 when the mask has fewer than 2**31
elements (it cannot exceed the mask's size, so it is exact); adding it to an int64 count
*outside* an x64 scope would truncate the sum to int32, so events are only ever added with
``merge`` (or inside an x64 scope).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pimjax.numerics._formats import ROUNDING_MODES, rounding_id
from pimjax.numerics._random import StochasticConfig, random_words
from pimjax.numerics._rounding import _STOCHASTIC_IDS, needs_random


class NumericEvents(NamedTuple):
    """Counts of numeric events (int64 scalars, exact); add two with :meth:`merge`.

    Attributes:
      overflow: values that left a format's range (saturated, wrapped, or became +-Inf).
      nan: NaN inputs (quantized to 0 for fixed point).
      inf: +-Inf inputs (saturated for fixed point).
      random_bits: random bits consumed by stochastic rounding.

    Build events with :meth:`make` (or :meth:`zero`) and add them with :meth:`merge`: both
    work in int64 inside an x64 scope, whatever the dtype of the counts given (a field built
    directly from a :func:`count_true` may be int32, see the module docstring).
    """

    overflow: jax.Array
    nan: jax.Array
    inf: jax.Array
    random_bits: jax.Array

    @staticmethod
    def zero() -> "NumericEvents":
        with jax.enable_x64(True):
            z = jnp.zeros((), jnp.int64)
        return NumericEvents(z, z, z, z)

    @staticmethod
    def make(overflow: Any = 0, nan: Any = 0, inf: Any = 0, random_bits: Any = 0) -> "NumericEvents":
        """Events from counts (Python ints, integer arrays), as int64 scalars (exact)."""
        return NumericEvents(overflow, nan, inf, random_bits).to_int64()

    def to_int64(self) -> "NumericEvents":
        """The same counts as int64 arrays (cast inside an x64 scope: nothing truncates)."""
        with jax.enable_x64(True):
            return NumericEvents(*(_i64(x) for x in self))

    def merge(self, other: "NumericEvents") -> "NumericEvents":
        """Field-wise sum, in int64 (exact up to 2**63)."""
        with jax.enable_x64(True):
            return NumericEvents(*(_i64(a) + _i64(b) for a, b in zip(self, other)))


def _i64(x: Any) -> jax.Array:
    """``x`` as int64 (call inside an x64 scope); Python ints beyond int32 stay exact."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return jnp.asarray(int(x), jnp.int64)
    return jnp.asarray(x).astype(jnp.int64)


def count_true(mask: jax.Array) -> jax.Array:
    """Number of True elements of ``mask`` as an integer scalar (exact).

    Counted as float32 sums along the last axis (exact while a row has fewer than 2**24
    elements), then an integer sum of the rows: on XLA:CPU several int32 full reductions of
    one array fuse into one multi-output reduction that runs about 20x slower than separate
    float32 ones (three counts of a 2048 x 400 mask: 10 ms vs 0.9 ms). For the array's
    (M, W, N) product blocks the middle (adder-tree) axis is reduced first, so the count fuses
    with the tree sum.

    The count is int32 when ``mask`` has fewer than 2**31 elements (a count is at most the
    size: exact) and int64 otherwise (summed inside an x64 scope); totals of several counts
    are int64 (:meth:`NumericEvents.merge`).
    """
    mask = jnp.asarray(mask)
    size = int(np.prod(mask.shape, dtype=np.int64))
    if size >= 2**31:
        with jax.enable_x64(True):
            if mask.ndim >= 2 and mask.shape[-1] < 2**24:
                rows = jnp.sum(mask.astype(jnp.float32), axis=-1)
                return jnp.sum(rows.astype(jnp.int64), dtype=jnp.int64)
            return jnp.sum(mask, dtype=jnp.int64)
    if mask.ndim == 3:
        return jnp.sum(jnp.sum(mask, axis=1, dtype=jnp.int32), dtype=jnp.int32)
    if mask.ndim == 0:
        return mask.astype(jnp.int32)
    if mask.shape[-1] >= 2**24 or mask.ndim == 1:
        return jnp.sum(mask, dtype=jnp.int32)
    rows = jnp.sum(mask.astype(jnp.float32), axis=-1)
    return jnp.sum(rows.astype(jnp.int32), dtype=jnp.int32)


def count_masks(*masks: jax.Array) -> tuple[jax.Array, ...]:
    """:func:`count_true` of several masks of one shape, as one variadic reduction.

    One ``lax.reduce`` with one integer accumulator per mask: a single reduction kernel (the
    masks' elementwise producers fused in) instead of two or more per mask. On XLA:CPU it
    compiles several times faster than separate counts and runs faster too (three counts of
    a 4096 x 1024 mask: 3 ms vs 160 ms for three float32-row-sum counts, whose reductions
    fuse into a slow multi-output kernel). Integer sums: exact in any order. Counts are int32
    below 2**31 elements per mask, else int64 (as :func:`count_true`).
    """
    masks = tuple(jnp.asarray(m) for m in masks)
    if not masks:
        return ()
    shape = masks[0].shape
    if any(m.shape != shape for m in masks):
        return tuple(count_true(m) for m in masks)
    if len(shape) == 0:
        return tuple(m.astype(jnp.int32) for m in masks)
    size = int(np.prod(shape, dtype=np.int64))
    with jax.enable_x64(size >= 2**31):
        dt = jnp.int32 if size < 2**31 else jnp.int64
        ops = [m.astype(dt) for m in masks]
        zeros = [jnp.zeros((), dt) for _ in masks]
        out = jax.lax.reduce(ops, zeros, lambda xs, ys: [x + y for x, y in zip(xs, ys)], tuple(range(len(shape))))
    return tuple(out)


def _rbits_count(rounding: Any, d: Any, size: int, r_bits: int) -> jax.Array:
    """Random bits used: the top ``min(d, r)`` bits of each word, where a word is drawn (int64)."""
    rid = rounding_id(rounding)
    with jax.enable_x64(True):
        if isinstance(d, (int, np.integer)):
            used = jnp.asarray(min(max(int(d), 0), int(r_bits)) * int(size), jnp.int64)
        else:
            used = jnp.clip(jnp.asarray(d).astype(jnp.int64), 0, r_bits) * jnp.int64(size)
        if isinstance(rid, int):
            return used if rid in _STOCHASTIC_IDS else jnp.zeros((), jnp.int64)
        stoch = (jnp.asarray(rid) == _STOCHASTIC_IDS[0]) | (jnp.asarray(rid) == _STOCHASTIC_IDS[1])
        return jnp.where(stoch, used, jnp.zeros((), jnp.int64))


def _words(rounding: Any, key: Any, shape, stochastic: StochasticConfig, offset: Any):
    if not needs_random(rounding):
        return None
    rid = rounding_id(rounding)
    if key is None:
        if isinstance(rid, int):
            raise ValueError(f"rounding {ROUNDING_MODES[rid]!r} needs a key (jax.random key or int seed)")
        return None
    if isinstance(rid, int):
        return random_words(rid == _STOCHASTIC_IDS[1], stochastic, key, shape, offset)
    hw = random_words(False, stochastic, key, shape, offset)
    lw = random_words(True, stochastic, key, shape, offset)
    return jnp.where(jnp.asarray(rid) == _STOCHASTIC_IDS[1], lw, hw)
