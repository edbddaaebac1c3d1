"""The systolic multiplier array of one slice, with one adder tree per row (Memory Slices 3.2).

``C = A @ B`` with A (M x K) streamed and B (K x N) preloaded, following docs/design.md section 2
steps 1, 2, 3 and 5 bit for bit. K is cut into chunks of ``width`` (the last one zero-padded,
as idle multipliers see zeros); N into tiles of ``rows`` (tiling N changes cycles, not values).

Two paths, chosen automatically and correctly under ``jit``:

* **fast** (order-free): no stage rounds (product and tree formats keep the fraction bits)
  and no stage can overflow, proven either from the formats (``K * max|a| * max|b|`` fits
  every stage) or from the data (a per-output bound on ``sum_k |a_ik| |b_kj|``). The result is
  then the exact integer product, computed by full-speed GEMMs (:mod:`._exact_gemm`).
* **rounded products** (:mod:`._rounded_products`): products rounded by a static shift, no
  stage able to saturate (proven from the data): the exact GEMM plus a 32-bit carry term per
  product, with the ordered path's random words;
* **ordered**: otherwise, a scan over K-chunks in ascending order: products (requantized),
  tree sums (requantized), accumulation with overflow after every addition; float datapaths
  always take it (every adder rounds).

Every path assumes operands that are codes of ``a_format`` / ``b_format`` (or values of a float
format's dtype): :func:`check_operands`, the one check of the public entry points, makes sure
of that (an error for concrete operands; under ``jit`` the format's overflow rule, counted).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pimjax.hw import ArrayConfig
from pimjax.numerics import (
    FixedFormat,
    FloatFormat,
    NumericEvents,
    apply_overflow,
    fold_key,
    needs_random,
    quantize,
    random_words,
    requantize_exact,
    round_shift,
    scale_pow2,
)
from pimjax.units._array_float import float_accumulate, float_output
from pimjax.units._array_operands import check_config, check_operands, check_shapes, jit_operands
from pimjax.units._backend import accelerator_paths
from pimjax.units._exact_gemm import abs_product_bound, exact_matmul, resolve_method
from pimjax.units._rounded_products import bound_ok as rounded_bound_ok
from pimjax.units._rounded_products import rounded_product_sum, rounding_shift

# sub-streams of the caller's key, one per rounding stage
_PRODUCT_STREAM, _TREE_STREAM, _OUTPUT_STREAM = 1, 2, 3


class ArrayResult(NamedTuple):
    """Output codes (or float values) of the array, the numeric events, and the path taken.

    ``ordered`` is a bool scalar: True when the hardware-order path ran.
    """

    out: jax.Array
    events: NumericEvents
    ordered: jax.Array




def _stage_key(key, stream, fmt, rounding):
    if fmt is None or isinstance(fmt, FloatFormat) or not needs_random(rounding):
        return None
    if key is None:
        raise ValueError(f"rounding {rounding!r} needs a key: pass key=jax.random.key(...) or an int seed")
    return fold_key(key, stream)


# ------------------------------------------------------------------------------ fixed point


def _stage_limit(fmt: FixedFormat | None) -> int | None:
    """Largest magnitude a signed stage holds without overflow (None: exact, no limit)."""
    if fmt is None:
        return None
    return fmt.max_code


def _order_free(cfg: ArrayConfig) -> bool:
    """True when no stage rounds and all stages are signed (or the operands are unsigned)."""
    fa, fb = cfg.a_format, cfg.b_format
    pf, tf, af = cfg.product_format, cfg.tree_format, cfg.accumulator_format
    if pf is not None and pf.frac != fa.frac + fb.frac:
        return False
    if tf is not None and tf.frac != cfg.product_frac:
        return False
    nonneg = not fa.signed and not fb.signed
    return all(f is None or f.signed or nonneg for f in (pf, tf, af))


def _bound_limit(cfg: ArrayConfig) -> int:
    lims = [l for l in (_stage_limit(cfg.product_format), _stage_limit(cfg.tree_format),
                        _stage_limit(cfg.accumulator_format)) if l is not None]
    return min(lims) if lims else (1 << 62)


def _data_bound_ok(a, b, limit: int):
    """True if every output's sum_k |a_ik||b_kj| is provably <= limit (cheap O(MK + KN) bounds,
    :func:`._exact_gemm.abs_product_bound`)."""
    _, _, bound, margin = abs_product_bound(a, b)
    return bound * margin <= float(limit)


def _fixed_output(acc, cfg: ArrayConfig, key, events):
    if cfg.activation == "relu":
        with jax.enable_x64(True):  # int64 accumulators (32-bit unsigned) must not truncate
            acc = jnp.maximum(acc, 0)
    out, ev = requantize_exact(acc, cfg.tree_frac, cfg.output_format, cfg.output_rounding,
                               key=_stage_key(key, _OUTPUT_STREAM, cfg.output_format, cfg.output_rounding),
                               stochastic=cfg.stochastic)
    dt = cfg.output_format.code_dtype if cfg.output_format is not None else np.dtype(np.int64)
    with jax.enable_x64(True):  # int64 codes (exact or 32-bit unsigned outputs) must not truncate
        out = out.astype(dt)
    return out, events.merge(ev)


def _fixed_fast(a, b, cfg: ArrayConfig, method: str):
    return exact_matmul(a, b, a_bits=cfg.a_format.bits, b_bits=cfg.b_format.bits,
                        a_signed=cfg.a_format.signed, b_signed=cfg.b_format.signed, method=method)


def _product_stage_tree(p, d: int, pf: FixedFormat, cfg: ArrayConfig, key, offset):
    """Products rounded by ``d`` bits into ``pf`` and summed over the tree axis, in one pass.

    Equal to ``requantize_exact`` then ``sum(axis=1)``; the overflow flags ride in bits 48+ of
    the same sum (|sum of W products| < 2**43 for 32-bit products and W <= 4096), so XLA
    reduces once instead of materialising the (M, W, N) block for a second, counting pass.
    Returns the tree sums, the (M, N) int64 overflow counts of each output's W products (the
    caller sums them once, after its scan: no reduction kernel inside the loop) and the events
    (random bits).
    """
    words = None
    if needs_random(cfg.product_rounding):
        words = random_words(cfg.product_rounding == "sr_lo", cfg.stochastic, key, p.shape, offset)
    with jax.enable_x64(True):
        r = round_shift(p, d, cfg.product_rounding, words, cfg.stochastic.bits)
        r, over = apply_overflow(r, pf.bits, pf.signed, pf.overflow)
        s = jnp.sum(r + (over.astype(jnp.int64) << 48), axis=1)
        cnt = (s + (jnp.int64(1) << 47)) >> 48
        t = s - (cnt << 48)
        rb = 0 if words is None else min(d, cfg.stochastic.bits) * p.size  # static: a Python int
        ev = NumericEvents.make(random_bits=rb)
    return t, cnt, ev


def _fixed_ordered(a, b, cfg: ArrayConfig, key):
    """The ordered scan over K-chunks. Each step slices its chunk out of the (zero-padded)
    codes in their own dtype and widens it to int64 there: no int64, chunk-major copies of
    A and B before the scan (less memory, fewer kernels to compile)."""
    m, n = a.shape[0], b.shape[1]
    w = cfg.width
    nc = -(-a.shape[1] // w)
    if nc * w != a.shape[1]:
        a = jnp.pad(a, ((0, 0), (0, nc * w - a.shape[1])))
        b = jnp.pad(b, ((0, nc * w - b.shape[0]), (0, 0)))
    pf, tf, af = cfg.product_format, cfg.tree_format, cfg.accumulator_format
    pkey = _stage_key(key, _PRODUCT_STREAM, pf, cfg.product_rounding)
    tkey = _stage_key(key, _TREE_STREAM, tf, cfg.tree_rounding)
    raw_frac = cfg.a_format.frac + cfg.b_format.frac
    f64_tree = cfg.exact_tree_bits <= 52 and pf is None
    int8_tree = f64_tree and accelerator_paths()  # the same exact chunk sums, no float64 GEMM
    # Overflow flags are summed per output position in the carry (elementwise, fused into the
    # step) and reduced once after the scan: the same exact counts without a reduction kernel
    # in the loop body. A position counts at most W + 1 flags per chunk (products, accumulator).
    cnt_t = jnp.int32 if nc * (w + 1) < 2**31 else jnp.int64

    def step(carry, c):
        acc, cnt, ev = carry
        start = c.astype(jnp.int32) * w
        ac = jax.lax.dynamic_slice_in_dim(a, start, w, axis=1).astype(jnp.int64)  # (M, W)
        bc = jax.lax.dynamic_slice_in_dim(b, start, w, axis=0).astype(jnp.int64)  # (W, N)
        if pf is None and int8_tree:
            t = _fixed_fast(ac, bc, cfg, "int8")
        elif pf is None and f64_tree:
            t = jax.lax.dot_general(ac.astype(jnp.float64), bc.astype(jnp.float64), (((1,), (0,)), ((), ())),
                                    precision=jax.lax.Precision.HIGHEST).astype(jnp.int64)
        else:
            p = ac[:, :, None] * bc[None, :, :]  # (M, W, N) exact int64 products
            if pf is not None and pf.is_static and raw_frac - pf.frac >= 0:
                t, pcnt, pev = _product_stage_tree(p, raw_frac - pf.frac, pf, cfg, pkey, c * (m * w * n))
                cnt = cnt + pcnt.astype(cnt_t)
                ev = ev.merge(pev)
            else:
                if pf is not None:
                    p, pev = requantize_exact(p, raw_frac, pf, cfg.product_rounding, key=pkey,
                                              stochastic=cfg.stochastic, offset=c * (m * w * n))
                    ev = ev.merge(pev)
                t = jnp.sum(p, axis=1)
        if tf is not None:
            t, tev = requantize_exact(t, cfg.product_frac, tf, cfg.tree_rounding, key=tkey,
                                      stochastic=cfg.stochastic, offset=c * (m * n))
            ev = ev.merge(tev)
        acc, over = apply_overflow(acc + t, af.bits, af.signed, af.overflow)
        cnt = cnt + over.astype(cnt_t)
        return (acc, cnt, ev), None

    with jax.enable_x64(True):
        init = (jnp.zeros((m, n), jnp.int64), jnp.zeros((m, n), cnt_t), NumericEvents.zero())
        (acc, cnt, ev), _ = jax.lax.scan(step, init, jnp.arange(nc, dtype=jnp.uint32))
        ev = ev.merge(NumericEvents.make(overflow=jnp.sum(cnt, dtype=jnp.int64)))
    return acc, ev


def _fixed_run(a, b, cfg: ArrayConfig, key, method: str, finish, bound_failed: bool = False) -> ArrayResult:
    """Fast or ordered accumulation, then ``finish(acc, events)`` inside the chosen branch.

    ``bound_failed``: the caller runs this only where its own data bound (one at least as
    strict as this array's) has failed, so an order-free array takes the ordered path without
    compiling a fast branch it would not take (where the fast path's bound does hold, both
    paths give the same bits: the fast path is exact exactly when no stage can overflow).
    """
    k = a.shape[1]

    def fast(a, b):
        return finish(_fixed_fast(a, b, cfg, method), NumericEvents.zero())

    def ordered(a, b):
        with jax.enable_x64(True):
            acc, ev = _fixed_ordered(a, b, cfg, key)
        return finish(acc, ev)

    if not _order_free(cfg):
        d = rounding_shift(cfg)
        if d is None:
            return ArrayResult(*ordered(a, b), jnp.asarray(True))

        def rounded(a, b):  # per-product rounding, provably no saturation: GEMM + carry term
            return finish(*rounded_product_sum(a, b, cfg, d, _stage_key(key, _PRODUCT_STREAM, cfg.product_format,
                                                                        cfg.product_rounding), method))

        ok = rounded_bound_ok(a, b, cfg, d, method)
        with jax.enable_x64(True):
            out, ev = jax.lax.cond(ok, rounded, ordered, a, b)
        return ArrayResult(out, ev, ~ok)
    limit = _bound_limit(cfg)
    fa, fb = cfg.a_format, cfg.b_format
    static_bound = k * max(abs(fa.min_code), fa.max_code) * max(abs(fb.min_code), fb.max_code)
    if static_bound <= limit:
        return ArrayResult(*fast(a, b), jnp.asarray(False))
    if bound_failed:
        return ArrayResult(*ordered(a, b), jnp.asarray(True))
    ok = _data_bound_ok(a, b, limit)
    with jax.enable_x64(True):
        out, ev = jax.lax.cond(ok, fast, ordered, a, b)
    return ArrayResult(out, ev, ~ok)


# ------------------------------------------------------------------------------ public API


@dataclasses.dataclass(frozen=True)
class SystolicArray:
    """One slice's multiplier array: ``SystolicArray(cfg)(a_codes, b_codes, key=...)``.

    >>> import jax.numpy as jnp
    >>> from pimjax import hw
    >>> from pimjax.units import SystolicArray
    >>> arr = SystolicArray(hw.presets.get("memory_slices"))
    >>> a = jnp.full((2, 20), 256, jnp.int16)   # 1.0 in Q8.8
    >>> res = arr(a, a.T)
    >>> res.out[0, 0].item(), int(res.events.overflow)   # 20.0 in Q8.8
    (5120, 0)
    """

    config: ArrayConfig
    method: str = "auto"

    def __call__(self, a: jax.Array, b: jax.Array, *, key: Any = None) -> ArrayResult:
        return systolic_matmul(a, b, self.config, key=key, method=self.method)


def systolic_matmul(a: jax.Array, b: jax.Array, config: ArrayConfig, *, key: Any = None,
                    method: str = "auto") -> ArrayResult:
    """``C = A @ B`` on one slice's array, bit for bit (docs/design.md section 2, steps 1-3, 5).

    Args:
      a: (M, K) integer codes in ``config.a_format`` (values of its dtype for a float datapath).
      b: (K, N) integer codes in ``config.b_format``.
      config: the array, with static formats (traced numerics are swept with
        :mod:`pimjax.apps.sweep`; TypeError here).
      key: ``jax.random`` key or int seed, needed when a stage rounds stochastically.
      method: exact GEMM method of the fast path, ``"auto"``, ``"f64"`` or ``"int8"``.

    Returns:
      :class:`ArrayResult` with output codes in ``config.output_format`` (int64 when exact);
      M or N = 0 gives an empty result. Its events are exact int64 counts; the random bits
      are those of :func:`array_accumulate` plus ``M x N`` words of a stochastic output stage.

    Codes outside ``config.a_format`` / ``b_format`` raise ValueError; under ``jit`` / ``vmap``
    they are saturated or wrapped by the operand format and counted as overflow events
    (:func:`check_operands`).
    """
    a, b, ev = check_operands(a, b, config)
    return _with_events(run_jitted(_matmul, a, b, config, key, resolve_method(method)), ev)


def run_jitted(core, a, b, config, key, method: str):
    """``core(a, b, config, key, method)`` as one jitted program per shape, dtype and config.

    An eager call then compiles one program (reused by later calls of the same shape)
    instead of dispatching the datapath op by op, and a call inside a trace inlines it. The
    bits are those of ``core`` (:func:`jit_operands`).
    """
    a, b, key, ok = jit_operands(a, b, config, key)
    if not ok:
        return core(a, b, config, key, method)
    return _core_jit(a, b, key, core=core, config=config, method=method, accelerator=accelerator_paths())


@functools.partial(jax.jit, static_argnames=("core", "config", "method", "accelerator"))
def _core_jit(a, b, key, *, core, config, method, accelerator):
    del accelerator  # part of the cache key: the paths a trace took (pimjax.units._backend)
    return core(a, b, config, key, method)


def _with_events(res: ArrayResult, ev: NumericEvents) -> ArrayResult:
    return res._replace(events=ev.merge(res.events))


def _matmul(a, b, config: ArrayConfig, key, method: str) -> ArrayResult:
    """:func:`systolic_matmul` of checked operands."""
    if config.is_float:
        acc, ev = float_accumulate(a, b, config)
        return ArrayResult(*float_output(acc, config, ev), jnp.asarray(True))
    return _fixed_run(a, b, config, key, method, lambda acc, ev: _fixed_output(acc, config, key, ev))


def array_accumulate(a: jax.Array, b: jax.Array, config: ArrayConfig, *, key: Any = None,
                     method: str = "auto") -> ArrayResult:
    """Steps 1-3 only: the final accumulator of ``A @ B`` (before activation and output).

    Fixed point: int64 codes with ``config.tree_frac`` fraction bits; float: float64 values
    of the accumulator format. A slice in a multi-slice system sends this as packets.
    Operands are checked as in :func:`systolic_matmul` (:func:`check_operands`).

    Random bits: per K-chunk, one word for every multiplier slot (``M x width x N``, the
    padded lanes of a ragged last chunk included) of a stochastic product stage and ``M x N``
    of a stochastic tree stage, ``min(d, stochastic.bits)`` bits each, times
    ``ceil(K / width)`` chunks (exact int64).
    """
    a, b, ev = check_operands(a, b, config, who="array_accumulate")
    return _with_events(run_jitted(_accumulate, a, b, config, key, resolve_method(method)), ev)


def _accumulate(a, b, config: ArrayConfig, key, method: str, bound_failed: bool = False) -> ArrayResult:
    """:func:`array_accumulate` of checked operands.

    Random bits (``events.random_bits``, exact int64): in every K-chunk each stochastically
    rounding stage draws one word per value it rounds, the product stage ``M x width x N``
    (the zero-padded lanes of a ragged last chunk included: those multipliers run too) and
    the tree stage ``M x N``, and each word counts ``min(d, r)`` bits (``d``: the fraction
    bits the stage drops, clipped at 0; ``r``: ``stochastic.bits``). Every path (ordered,
    rounded products) counts exactly that, so the count is the per-chunk number times
    ``ceil(K / width)``.

    ``bound_failed``: see :func:`_fixed_run` (the system's one-slice ordered branch).
    """
    if config.is_float:
        acc, ev = float_accumulate(a, b, config)
        return ArrayResult(acc, ev, jnp.asarray(True))
    with jax.enable_x64(True):
        return _fixed_run(a, b, config, key, method, lambda acc, ev: (acc.astype(jnp.int64), ev), bound_failed)


def emulated_matmul(a: jax.Array, b: jax.Array, config: ArrayConfig, *, key: Any = None,
                    method: str = "auto") -> tuple[jax.Array, NumericEvents]:
    """Real ``a @ b`` through the array: quantize operands (nearest even), run, decode.

    Returns float32 values and the events of quantization and of the datapath.
    """
    check_config(config, "emulated_matmul")
    a, b = check_shapes(a, b)
    method = resolve_method(method)
    qa, ea = quantize(a, config.a_format)
    qb, eb = quantize(b, config.b_format)
    res = _matmul(qa, qb, config, key, method)  # quantize's codes are in their formats
    ev = ea.merge(eb).merge(res.events)
    if config.is_float:
        return res.out.astype(jnp.float32), ev
    frac = config.output_format.frac if config.output_format is not None else config.tree_frac
    return _decode_frac(res.out, frac), ev


def _decode_frac(codes, frac: int) -> jax.Array:
    with jax.enable_x64(True):
        return scale_pow2(codes.astype(jnp.float64), -frac).astype(jnp.float32)
