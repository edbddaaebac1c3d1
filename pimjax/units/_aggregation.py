"""The aggregation engine: ordered cross-slice partial-sum reduction and activation.

Memory Slices Fig. 6 steps 7-9 and DESIGN.md section 2 steps 4-5: each slice's final
accumulator is requantized to the packet format; the owner's engine adds the packets in
ascending slice index into its accumulator format (overflow after every addition), applies the
activation to the exact aggregated value (or through a LUT) and requantizes to the output
format.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from pimjax.hw._system import SystemConfig
from pimjax.numerics import (
    NumericEvents,
    add_rounded,
    apply_overflow,
    fold_key,
    from_f64_exact,
    needs_random,
    quantize,
    requantize_exact,
    round_to_float,
    scale_pow2,
    to_f64_exact,
)
from pimjax.units._activation import exact_activation, lut_activation

# key sub-streams: per-slice packet rounding uses fold_key(fold_key(key, _PACKET_STREAM), slice)
_PACKET_STREAM, _AGG_OUTPUT_STREAM = 11, 12


from pimjax.numerics._events import count_true as _count  # noqa: E402


def packet_key(key: Any, cfg: SystemConfig, slice_index: Any) -> Any:
    """The key a slice uses to round its packets (None when no stochastic rounding)."""
    agg = cfg.aggregation
    if agg.packet_format is None or cfg.array.is_float or not needs_random(agg.packet_rounding):
        return None
    if key is None:
        raise ValueError(f"packet_rounding {agg.packet_rounding!r} needs a key")
    return fold_key(fold_key(key, _PACKET_STREAM), slice_index)


def to_packets(acc: jax.Array, cfg: SystemConfig, *, key: Any = None) -> tuple[jax.Array, NumericEvents]:
    """A slice's final accumulator (tree fraction bits) requantized to the packet format."""
    agg = cfg.aggregation
    if cfg.array.is_float:
        if agg.packet_format is None:
            return acc, NumericEvents.zero()
        v, over = round_to_float(acc, agg.packet_format)
        return v, NumericEvents.make(overflow=_count(over))
    return requantize_exact(acc, cfg.array.tree_frac, agg.packet_format, agg.packet_rounding,
                            key=key, stochastic=cfg.array.stochastic)


def reduce_packets(packets: jax.Array, cfg: SystemConfig) -> tuple[jax.Array, NumericEvents]:
    """Adds packets ``(S, ...)`` in ascending slice index into the engine's accumulator."""
    agg = cfg.aggregation
    af = agg.accumulator_format
    with jax.enable_x64(True):
        if cfg.array.is_float:
            def step(carry, p):
                acc, over = carry
                acc, o = add_rounded(acc, p.astype(jnp.float64), af)
                return (acc, over + _count(o).astype(jnp.int64)), None

            init = (jnp.zeros(packets.shape[1:], jnp.float64), jnp.zeros((), jnp.int64))
        else:
            def step(carry, p):
                acc, over = carry
                acc, o = apply_overflow(acc + p.astype(jnp.int64), af.bits, af.signed, af.overflow)
                return (acc, over + _count(o).astype(jnp.int64)), None

            init = (jnp.zeros(packets.shape[1:], jnp.int64), jnp.zeros((), jnp.int64))
        (acc, over), _ = jax.lax.scan(step, init, packets)
    return acc, NumericEvents.make(overflow=over)


def finish(acc: jax.Array, cfg: SystemConfig, *, key: Any = None) -> tuple[jax.Array, NumericEvents]:
    """Activation on the exact aggregated value, then the output format (DESIGN step 5).

    ``output_format=None`` (exact) passes codes through: the aggregated accumulator codes
    (identity / relu), the LUT's entry codes (activation through a LUT on a fixed-point
    datapath) or float64 values (float datapaths).
    """
    agg = cfg.aggregation
    of = agg.output_format
    okey = None
    if of is not None and not cfg.array.is_float and needs_random(agg.output_rounding):
        if key is None:
            raise ValueError(f"output_rounding {agg.output_rounding!r} needs a key")
        okey = fold_key(key, _AGG_OUTPUT_STREAM)
    with jax.enable_x64(True):
        if cfg.array.is_float:
            x = to_f64_exact(acc)  # a plain astype flushes fp32 / bf16 subnormals to zero on XLA:CPU
            # NaN aggregated values (e.g. +Inf + -Inf packets) are counted, as the array's output stage does
            ev = NumericEvents.make(nan=_count(jnp.isnan(x)))
            y = lut_activation(agg.activation, x, agg.lut) if agg.lut else exact_activation(agg.activation, x)
            if of is None:
                return y, ev
            v, over = round_to_float(y, of)
            # a plain astype flushes fp32 / bf16 subnormals to zero on XLA:CPU
            return from_f64_exact(v, of.dtype), ev.merge(NumericEvents.make(overflow=_count(over)))
        frac = agg.accumulator_format.frac
        if agg.lut is None and agg.activation in ("identity", "relu"):
            a = jnp.maximum(acc, 0) if agg.activation == "relu" else acc
            out, ev = requantize_exact(a, frac, of, agg.output_rounding, key=okey, stochastic=cfg.array.stochastic)
        else:
            x = scale_pow2(acc.astype(jnp.float64), -frac)
            if agg.lut is not None:
                y = lut_activation(agg.activation, x, agg.lut)
            else:
                y = exact_activation(agg.activation, x)
            if of is None:
                # exact output of a LUT: its entry codes pass through unchanged
                out, ev = quantize(y, agg.lut.entry_format)
                ev = ev._replace(overflow=0).to_int64()
            else:
                out, ev = quantize(y, of, agg.output_rounding, key=okey, stochastic=cfg.array.stochastic)
        if of is not None:
            out = out.astype(of.code_dtype)
        return out, ev.to_int64()


class AggregationEngine:
    """Callable view of the engine: ``AggregationEngine(cfg)(packets, key=...)``."""

    def __init__(self, cfg: SystemConfig):
        if not isinstance(cfg, SystemConfig):
            raise TypeError(f"cfg must be a SystemConfig, got {type(cfg).__name__}")
        self.cfg = cfg

    def __call__(self, packets: jax.Array, *, key: Any = None) -> tuple[jax.Array, NumericEvents]:
        acc, ev = reduce_packets(packets, self.cfg)
        out, ev2 = finish(acc, self.cfg, key=key)
        return out, ev.merge(ev2)


__all__ = ["AggregationEngine", "finish", "packet_key", "reduce_packets", "to_packets"]
