"""The float datapath of the multiplier array (docs/design.md section 2 with float formats):
every product, adder-tree sum and accumulation rounded to its stage's format (:mod:`._systolic`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from pimjax.hw import ArrayConfig
from pimjax.numerics import FloatFormat, NumericEvents, add_rounded, from_f64_exact, round_to_float, to_f64_exact
from pimjax.numerics._events import count_true as _count

# XLA:CPU runs with flush-to-zero / denormals-are-zero, so a plain float32 <-> float64 convert
# turns fp32 and bf16 subnormals into 0 (fp16 and fp8 subnormals are normal float32 and pass).
# The datapath keeps subnormals (docs/design.md section 2 is bit-exact), so operands and outputs
# cross between the format and float64 through their bit patterns where they are subnormal.


def _tree_sum(p, fmt: FloatFormat):
    """Balanced pairwise tree over axis 1 (((0+1)+(2+3))+...), rounding after every adder."""
    with jax.enable_x64(True):
        over_total = jnp.zeros((), jnp.int64)
    w = p.shape[1]
    width = 1 << max(0, (w - 1).bit_length())
    if width != w:
        p = jnp.pad(p, ((0, 0), (0, width - w), (0, 0)))
    with jax.enable_x64(True):
        while p.shape[1] > 1:
            p, over = add_rounded(p[:, 0::2], p[:, 1::2], fmt)
            over_total = over_total + _count(over).astype(jnp.int64)
        if w == 1:
            p, over = round_to_float(p, fmt)
            over_total = over_total + _count(over).astype(jnp.int64)
    return p[:, 0], over_total


def float_accumulate(a, b, cfg: ArrayConfig) -> tuple[jax.Array, NumericEvents]:
    m, n = a.shape[0], b.shape[1]
    pf, tf, af = cfg.product_format, cfg.tree_format, cfg.accumulator_format
    with jax.enable_x64(True):
        # exact conversion: a plain astype flushes fp32 / bf16 subnormals to 0 on XLA:CPU
        a3, b3, nc = _pad_chunks(to_f64_exact(a), to_f64_exact(b), cfg.width)

        def step(carry, xs):
            acc, ev = carry
            ac, bc = xs
            p = ac[:, :, None] * bc[None, :, :]  # exact in float64 for formats up to fp32
            over = jnp.zeros((), jnp.int64)
            if pf is not None:
                p, o = round_to_float(p, pf)
                over = over + _count(o).astype(jnp.int64)
            t, o = _tree_sum(p, tf)
            acc, o2 = add_rounded(acc, t, af)
            ev = ev.merge(NumericEvents.make(overflow=over + o + _count(o2).astype(jnp.int64)))
            return (acc, ev), None

        init = (jnp.zeros((m, n), jnp.float64), NumericEvents.zero())
        (acc, ev), _ = jax.lax.scan(step, init, (a3, b3))
    return acc, ev


def float_output(acc, cfg: ArrayConfig, ev: NumericEvents) -> tuple[jax.Array, NumericEvents]:
    of = cfg.output_format
    with jax.enable_x64(True):
        if cfg.activation == "relu":
            acc = jnp.maximum(acc, 0.0)
        ev = ev.merge(NumericEvents.make(nan=_count(jnp.isnan(acc))))
        if of is None:
            return acc, ev
        out, o = round_to_float(acc, of)
        ev = ev.merge(NumericEvents.make(overflow=_count(o)))
        return from_f64_exact(out, of.dtype), ev  # keeps fp32 / bf16 subnormals


def _pad_chunks(a, b, w):
    k = a.shape[1]
    nc = -(-k // w)
    pad = nc * w - k
    if pad:
        a = jnp.pad(a, ((0, 0), (0, pad)))
        b = jnp.pad(b, ((0, pad), (0, 0)))
    a3 = a.reshape(a.shape[0], nc, w).transpose(1, 0, 2)  # (nc, M, W)
    b3 = b.reshape(nc, w, b.shape[1])  # (nc, W, N)
    return a3, b3, nc
