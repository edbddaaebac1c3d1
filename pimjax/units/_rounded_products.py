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
pass per K-chunk, with the same random words (counter hash of the same index) as the ordered
path: chunk ``c``, row ``i``, lane ``j``, column ``n`` use word ``c M W N + i W N + j N + n``.
Measured on a 2-core CPU, 3-5 G products/s against 0.8 for the int64 ordered path.

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
from pimjax.numerics._random import _lowbias32, key_words
from pimjax.units._exact_gemm import abs_product_bound, exact_matmul

_MODES = ("floor", "toward_zero", "nearest_even", "nearest_away", "stochastic")
_MAX_D = 30
_MIN_LANES = 16
_MAX_UNROLL = 64


def _fits_i32(f: FixedFormat | None) -> bool:
    return f is None or (f.is_static and f.bits <= 32 and (f.signed or f.bits <= 31))


def rounding_shift(cfg: ArrayConfig) -> int | None:
    """``d`` when ``cfg``'s products take this path (module docstring), else None.

    Eligible: a fixed-point array whose product stage rounds by a static ``d`` in 1..30 with a
    deterministic mode or counter-hash ``stochastic`` rounding (not SR LO or threefry words),
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


def _increment(mode: str, t, l, d: int, neg, words, r_bits: int):
    """``inc`` in {0, 1} (uint32) of each product from its low bits ``t`` (uint32 wrap)."""
    one = jnp.uint32(1)
    if mode == "floor":
        return jnp.zeros_like(l)
    if mode == "stochastic":
        w = words if r_bits == 32 else words >> jnp.uint32(32 - r_bits)
        rp = w >> jnp.uint32(r_bits - d) if d <= r_bits else w << jnp.uint32(d - r_bits)
        return (l + rp) >> jnp.uint32(d)  # l + R' < 2**(d + 1) <= 2**31
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
    a3 = a32.reshape(m, steps, g * w).transpose(1, 2, 0)  # (steps, lanes, M)
    b3 = b32.reshape(steps, g * w, n)  # (steps, lanes, N)
    mask = jnp.uint32((1 << d) - 1)
    wide = steps * g * w * (1 << d) >= 1 << 31  # |T| <= K 2**d: int32 unless K is huge
    acc_t = jnp.int64 if wide else jnp.int32
    step_t = jnp.int64 if g * w * (1 << d) >= 1 << 31 else jnp.int32  # one step's lanes
    s = key_words(key, 2) if mode == "stochastic" else None
    blk = jnp.uint32((m * w * n) & 0xFFFFFFFF)
    wn = jnp.uint32((w * n) & 0xFFFFFFFF)

    def rows():  # i W N + n, built from iotas inside the fused loop (no (M, N) array to stream)
        return jax.lax.broadcasted_iota(jnp.uint32, (m, n), 0) * wn + jax.lax.broadcasted_iota(jnp.uint32, (m, n), 1)

    def lane_terms(ac, bc, base):
        """inc 2**d - l of the products ac[i] bc[n] (int32), words at index base + i W N + n."""
        t = ac.astype(jnp.uint32)[..., :, None] * bc.astype(jnp.uint32)[..., None, :]  # mod 2**32
        l = t & mask
        neg = ((ac[..., :, None] < 0) != (bc[..., None, :] < 0)) & (ac[..., :, None] != 0) & (bc[..., None, :] != 0)
        words = None if s is None else _lowbias32(_lowbias32((base + rows()) ^ s[0]) + s[1])
        inc = _increment(mode, t, l, d, neg, words, r_bits)
        return (inc << jnp.uint32(d)).astype(jnp.int32) - l.astype(jnp.int32)

    def step(acc, xs):
        ac, bc, st = xs
        if w > _MAX_UNROLL:  # one chunk: lanes on the leading axis, reduced
            base = st * blk + jnp.arange(w, dtype=jnp.uint32)[:, None, None] * jnp.uint32(n)
            with jax.enable_x64(True):
                tot = jnp.sum(lane_terms(ac, bc, base).astype(step_t), axis=0, dtype=step_t)
        else:
            tot = None
            for q in range(g * w):  # chunk st*g + q // w, lane q % w
                base = (st * jnp.uint32(g) + jnp.uint32(q // w)) * blk + jnp.uint32((q % w) * n)
                with jax.enable_x64(True):
                    v = lane_terms(ac[q], bc[q], base).astype(step_t)
                    tot = v if tot is None else tot + v
        with jax.enable_x64(True):
            return acc + tot.astype(acc_t), None

    with jax.enable_x64(True):
        tsum, _ = jax.lax.scan(step, jnp.zeros((m, n), acc_t), (a3, b3, jnp.arange(steps, dtype=jnp.uint32)))
        acc = (p + tsum.astype(jnp.int64)) >> d  # P + T is a multiple of 2**d
        # the ordered path's count: every multiplier slot of every chunk, from the static shape (a Python int)
        rb = 0 if mode != "stochastic" else min(d, r_bits) * m * w * n * nc
        ev = NumericEvents.make(random_bits=rb)
    return acc, ev


__all__ = ["bound_ok", "rounded_product_sum", "rounding_shift"]
