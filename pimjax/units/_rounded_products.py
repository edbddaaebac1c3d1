"""Per-product rounding without saturation: the exact GEMM plus a 32-bit carry term.

NeuroTrainer's 32-bit BP/UP MACs round every product into the 32-bit datapath (Sec. 3.3.2,
"Fixed 32/16 + SR": a random number generator per multiplier). The array's ordered path
(:mod:`._systolic`) forms every product in int64, rounds it and accumulates chunk by chunk.
When no stage can saturate (proven from the data, below), the result does not depend on the
order and has a cheaper exact form. For a product ``p = a b`` rounded by ``d`` bits,
``p = 2**d q + l`` with ``0 <= l < 2**d``, the rounded product is ``q + inc`` with ``inc`` in
{0, 1} a function of ``l`` (and of the random word, the sign of ``p`` or bit ``d`` of ``p``,
per mode). Summed over K:

    sum_k round(p_k) = (P + T) / 2**d,   P = sum_k p_k (one exact GEMM),
                                         T = sum_k (inc_k 2**d - l_k)

and ``l_k`` is the low ``d`` bits of the uint32 product of the codes' low 32 bits (a wrapping
32-bit multiply), so ``T`` needs only 32-bit integer work per product, fused by XLA into one
pass per K-chunk, with the same random words as the ordered path: chunk ``c``, row ``i``,
lane ``j``, column ``n`` use word ``c M W N + i W N + j N + n`` (its counter hash, or for
``sr_lo`` the SR LO register at that clock of the stream). With the words ``R'`` (their top
``d`` bits), ``inc 2**d - l = R' - ((t + R') mod 2**d)`` for the low 32 bits ``t`` of ``p``.
Measured on a 2-core CPU, 3-6 G products/s against 0.8 for the int64 ordered path.

SR LO words come from LFSR states every 32 clocks (:func:`pimjax.numerics._random.row_states`,
about 1/8 byte a product, formed before the scan): the register ``s`` clocks after a state
``S`` with the state ``S'`` 32 clocks later is ``(S << s) | (S' >> (32 - s))``. Rows of at
least 32 columns are laid out as ``(N / 32, 32)`` (N zero-padded), so that every word is a
broadcast of two states and an iota shift inside the fused loop; shorter rows take each step's
words from :func:`~pimjax.numerics._random.stream_words`.

Bound (:func:`bound_ok`): with ``S >= sum_k |a_ik||b_kj|`` (the Hoelder / Cauchy-Schwarz bound
of :func:`._exact_gemm.abs_product_bound`), ``|round(p)| <= |p| / 2**d + 1``, so no product
saturates when ``max|a| max|b| / 2**d + 1`` fits the product format, and no tree or
accumulator partial sum does when ``S / 2**d + K`` fits them.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pimjax.hw import ArrayConfig
from pimjax.numerics import FixedFormat, NumericEvents
from pimjax.numerics._random import _lowbias32, key_words, lfsr_state, register_windows, row_states, sr_lo_clock, stream_words, stride_states
from pimjax.units._exact_gemm import abs_product_bound, exact_matmul

_MODES = ("floor", "toward_zero", "nearest_even", "nearest_away", "stochastic", "sr_lo")
_RANDOM = ("stochastic", "sr_lo")
_MAX_D = 30
_MIN_LANES = 16
_MAX_UNROLL = 64
_MIN_WINDOW_COLS = 32  # SR LO rows at least this long form their words in the loop (shorter: padding costs more)


def _fits_i32(f: FixedFormat | None) -> bool:
    return f is None or (f.is_static and f.bits <= 32 and (f.signed or f.bits <= 31))


def rounding_shift(cfg: ArrayConfig) -> int | None:
    """``d`` when ``cfg``'s products take this path (module docstring), else None.

    Eligible: a fixed-point array whose product stage rounds by a static ``d`` in 1..30 with a
    deterministic mode, counter-hash ``stochastic`` rounding or ``sr_lo`` (not threefry words),
    signed product / tree / accumulator formats, an exact (non-rounding) tree stage, and
    operand codes that fit 32-bit integers.
    """
    pf, tf, af = cfg.product_format, cfg.tree_format, cfg.accumulator_format
    if cfg.is_float or not isinstance(pf, FixedFormat) or not pf.is_static:
        return None
    if cfg.product_rounding not in _MODES:
        return None
    if cfg.product_rounding == "stochastic" and cfg.stochastic.source != "hash":
        return None
    fa, fb = cfg.a_format, cfg.b_format
    if not (fa.is_static and fb.is_static and _fits_i32(fa) and _fits_i32(fb)):
        return None
    d = fa.frac + fb.frac - pf.frac
    if not 1 <= d <= _MAX_D:
        return None
    if tf is not None and (not tf.is_static or tf.frac != pf.frac or not tf.signed):
        return None
    if not pf.signed or (af is not None and (not af.is_static or not af.signed)):
        return None
    return d


def _limits(cfg: ArrayConfig) -> tuple[int, int]:
    pf, tf, af = cfg.product_format, cfg.tree_format, cfg.accumulator_format
    sums = [f.max_code for f in (tf, af) if f is not None]
    return pf.max_code, (min(sums) if sums else 1 << 62)


def bound_ok(a: jax.Array, b: jax.Array, cfg: ArrayConfig, d: int, method: str) -> jax.Array:
    """True when no product, tree sum or accumulator partial sum can saturate (module docstring)."""
    k = a.shape[1]
    plim, slim = _limits(cfg)
    mxa, mxb, s, margin = abs_product_bound(a, b)
    scale = 2.0 ** -d
    ok = (mxa * mxb * margin * scale + 1.0 <= float(plim)) & (s * margin * scale + float(k) <= float(slim))
    if method == "f64":  # P by one float64 GEMM: every partial sum below 2**53
        ok = ok & (s * margin < 2.0 ** 53)
    return ok


def _carry_term(mode: str, t, d: int, neg, rwords, r_bits: int):
    """``inc 2**d - l`` (int32) of each product from its low 32 bits ``t`` (uint32 wrap).

    ``rwords``: the ``r_bits``-bit random words of ``stochastic`` / ``sr_lo``; there, with
    ``R'`` their top ``d`` bits, ``inc = (l + R') >> d`` and ``inc 2**d - l`` is
    ``R' - ((t + R') mod 2**d)`` (the low ``d`` bits of ``l + R'`` are those of ``t + R'``).
    """
    mask = jnp.uint32((1 << d) - 1)
    if mode in _RANDOM:
        rp = rwords >> jnp.uint32(r_bits - d) if d <= r_bits else rwords << jnp.uint32(d - r_bits)
        return rp.astype(jnp.int32) - ((t + rp) & mask).astype(jnp.int32)
    l = t & mask
    inc = _increment(mode, t, l, d, neg)
    return (inc << jnp.uint32(d)).astype(jnp.int32) - l.astype(jnp.int32)


def _increment(mode: str, t, l, d: int, neg):
    """``inc`` in {0, 1} (uint32) of each product of a deterministic mode from its low bits."""
    one = jnp.uint32(1)
    if mode == "floor":
        return jnp.zeros_like(l)
    if mode == "toward_zero":
        return (neg & (l != 0)).astype(jnp.uint32)
    half = jnp.uint32(1 << (d - 1))
    if mode == "nearest_even":
        tie = ((t >> jnp.uint32(d)) & one) == one  # q odd: bit d of p (two's complement)
    else:  # nearest_away
        tie = ~neg
    return ((l > half) | ((l == half) & tie)).astype(jnp.uint32)


def rounded_product_sum(a: jax.Array, b: jax.Array, cfg: ArrayConfig, d: int, key: Any, method: str
                        ) -> tuple[jax.Array, NumericEvents]:
    """The final accumulator (int64, product fraction bits) and events, when :func:`bound_ok`.

    Equal to the ordered path's result for the same key (module docstring).
    """
    m, k = a.shape
    n = b.shape[1]
    w = cfg.width
    nc = -(-k // w)
    mode = cfg.product_rounding
    r_bits = cfg.stochastic.bits
    if m == 0 or n == 0:  # no products: no words drawn
        with jax.enable_x64(True):
            return jnp.zeros((m, n), jnp.int64), NumericEvents.make()
    with jax.enable_x64(True):
        p = exact_matmul(a, b, a_bits=cfg.a_format.bits, b_bits=cfg.b_format.bits,
                         a_signed=cfg.a_format.signed, b_signed=cfg.b_format.signed, method=method)
        a32 = a.astype(jnp.int64).astype(jnp.int32)
        b32 = b.astype(jnp.int64).astype(jnp.int32)
    # Chunks per scan step: at least 16 lanes, so that XLA:CPU slices each step's operands
    # once instead of inside the fused per-product loop (measured: 8 lanes per step ran 10x
    # slower); one chunk, reduced over its lanes, when chunks are wider than 64 lanes.
    g = max(1, -(-_MIN_LANES // w)) if w <= _MAX_UNROLL else 1
    steps = -(-nc // g)
    pad = steps * g * w - k  # zero products round to zero whatever the word: padding adds nothing
    if pad:
        a32 = jnp.pad(a32, ((0, 0), (0, pad)))
        b32 = jnp.pad(b32, ((0, pad), (0, 0)))
    # Columns: (N,), or for SR LO (N / 32, 32) (N padded: zero columns add nothing), the
    # layout in which a word is a broadcast of two states and an iota shift (module docstring)
    nq = -(-n // 32)
    windows = mode == "sr_lo" and n >= _MIN_WINDOW_COLS
    cols = (nq, 32) if windows else (n,)
    if windows and nq * 32 != n:
        b32 = jnp.pad(b32, ((0, 0), (0, nq * 32 - n)))
    a3 = a32.reshape(m, steps, g * w).transpose(1, 2, 0)  # (steps, lanes, M)
    b3 = b32.reshape(steps, g * w, *cols)  # (steps, lanes, *cols)
    ex = (None,) * len(cols)  # a's row index broadcast over the column axes
    wide = steps * g * w * (1 << d) >= 1 << 31  # |T| <= K 2**d: int32 unless K is huge
    acc_t = jnp.int64 if wide else jnp.int32
    step_t = jnp.int64 if g * w * (1 << d) >= 1 << 31 else jnp.int32  # one step's lanes
    s = key_words(key, 2) if mode == "stochastic" else None
    blk = jnp.uint32((m * w * n) & 0xFFFFFFFF)
    wn = jnp.uint32((w * n) & 0xFFFFFFFF)
    if mode == "sr_lo":
        # Word of chunk c, row i, lane j, column n: the register at the stream's clock
        # c M W N + i W N + j N + n (the ordered path's order): rows (c, i, j) of N clocks.
        # Each step's first state here, its rows' states every 32 clocks in the step
        # (row_states) and the words inside the fused per-product loop (register_windows).
        start = lfsr_state(cfg.stochastic, sr_lo_clock(key, 0))
        if windows:  # every row's states every 32 clocks: (steps, chunk, row, lane, Q), 1/8 byte a product
            starts = row_states(cfg.stochastic, start, steps * g * m * w, n).reshape(steps, g, m, w, nq + 1)
        else:  # each step's first state
            starts = stride_states(tuple(cfg.stochastic.lfsr_taps), start[None], steps, g * m * w * n)[0]
    else:
        starts = jnp.zeros((steps,), jnp.uint32)

    def lfsr_words(states):  # r-bit SR LO words (..., nq, 32) from row states (..., nq + 1)
        win = register_windows(states)
        return win if r_bits == 32 else win & jnp.uint32((1 << r_bits) - 1)

    def hash_words(base):  # r-bit counter-hash words at index base + i W N + n
        # the step's base added between the iotas: an index XLA cannot hoist out of the loop
        # as an (M, N) array (measured: 1.2 ms to write and stream it for M = N = 1024)
        i_wn = jax.lax.broadcasted_iota(jnp.uint32, (m, n), 0) * wn
        h = _lowbias32(_lowbias32(((i_wn + base) + jax.lax.broadcasted_iota(jnp.uint32, (m, n), 1)) ^ s[0]) + s[1])
        return h if r_bits == 32 else h >> jnp.uint32(32 - r_bits)

    def lane_terms(ac, bc, rwords):
        """inc 2**d - l of the products ac[i] bc[n] (int32) with their r-bit words (or None)."""
        ae = ac[(..., slice(None)) + ex]  # (..., M, 1[, 1])
        be = bc[(..., None) + (slice(None),) * len(cols)]  # (..., 1, *cols)
        t = ae.astype(jnp.uint32) * be.astype(jnp.uint32)  # mod 2**32
        neg = None
        if mode == "toward_zero" or mode == "nearest_away":
            neg = ((ae < 0) != (be < 0)) & (ae != 0) & (be != 0)
        return _carry_term(mode, t, d, neg, rwords, r_bits)

    def step(acc, xs):
        ac, bc, st, step_start = xs
        lo = words = None
        if windows:  # the states every 32 clocks of the step's rows: (chunk, row, lane, Q)
            lo = step_start
        elif mode == "sr_lo":  # short rows: the step's words, (chunk, row, lane, column)
            words = stream_words(cfg.stochastic, step_start, g * m * w * n).reshape(g, m, w, n)
        if w > _MAX_UNROLL:  # one chunk: lanes on the leading axis, reduced
            if mode == "stochastic":
                base = st * blk + jnp.arange(w, dtype=jnp.uint32)[:, None, None] * jnp.uint32(n)
                rw = hash_words(base)
            else:
                rw = (None if mode != "sr_lo" else lfsr_words(lo[0].transpose(1, 0, 2)) if windows
                      else words[0].transpose(1, 0, 2))  # (lanes, M, *cols)
            with jax.enable_x64(True):
                tot = jnp.sum(lane_terms(ac, bc, rw).astype(step_t), axis=0, dtype=step_t)
        else:
            tot = None
            for q in range(g * w):  # chunk st*g + q // w, lane q % w
                if mode == "stochastic":
                    rw = hash_words((st * jnp.uint32(g) + jnp.uint32(q // w)) * blk + jnp.uint32((q % w) * n))
                else:
                    rw = (None if mode != "sr_lo" else lfsr_words(lo[q // w, :, q % w, :]) if windows
                          else words[q // w, :, q % w, :])  # (M, *cols)
                with jax.enable_x64(True):
                    v = lane_terms(ac[q], bc[q], rw).astype(step_t)
                    tot = v if tot is None else tot + v
        with jax.enable_x64(True):
            return acc + tot.astype(acc_t), None

    with jax.enable_x64(True):
        xs = (a3, b3, jnp.arange(steps, dtype=jnp.uint32), starts)
        tsum, _ = jax.lax.scan(step, jnp.zeros((m, *cols), acc_t), xs)
        tsum = tsum.reshape(m, -1)[:, :n]
        acc = (p + tsum.astype(jnp.int64)) >> d  # P + T is a multiple of 2**d
        # the ordered path's count: every multiplier slot of every chunk, from the static shape (a Python int)
        rb = 0 if mode not in _RANDOM else min(d, r_bits) * m * w * n * nc
        ev = NumericEvents.make(random_bits=rb)
    return acc, ev


__all__ = ["bound_ok", "rounded_product_sum", "rounding_shift"]
