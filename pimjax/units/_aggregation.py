"""The aggregation engine: ordered cross-slice partial-sum reduction and activation.

Memory Slices Fig. 6 steps 7-9 and docs/design.md section 2 steps 4-5: each slice's final
accumulator is requantized to the packet format; the owner's engine adds the packets in
ascending slice index into its accumulator format (overflow after every addition), applies the
activation to the exact aggregated value (or through a LUT) and requantizes to the output
format.

The functions take a :class:`~pimjax.hw.SystemConfig` (the engine of a slice system) or an
:class:`EngineSpec`: what an engine needs besides its :class:`~pimjax.hw.AggregationConfig`
(the datapath kind, the fraction bits of the partial sums it receives, the random-word
source). The host of a model-parallel node (:func:`pimjax.system.parallel_matmul`) is such an
engine, whose packets are the units' partial results.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from pimjax.hw._system import AggregationConfig, SystemConfig
from pimjax.numerics import (
    NumericEvents,
    StochasticConfig,
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


class EngineSpec(NamedTuple):
    """An aggregation engine apart from a slice system.

    Attributes:
      aggregation: its formats, roundings and activation.
      is_float: a float datapath (packets and sums are float values, rounded nearest even).
      input_frac: fraction bits of the partial sums it receives (fixed point; a slice's
        accumulator carries the array's tree fraction bits; 0 and unused on a float datapath).
      stochastic: how its stochastic roundings draw their random words.
    """

    aggregation: AggregationConfig
    is_float: bool
    input_frac: int
    stochastic: StochasticConfig


def engine_spec(cfg: SystemConfig | EngineSpec) -> EngineSpec:
    """The :class:`EngineSpec` of a system's aggregation engine (an ``EngineSpec`` as is)."""
    if isinstance(cfg, EngineSpec):
        return cfg
    if not isinstance(cfg, SystemConfig):
        raise TypeError(f"cfg must be a SystemConfig or an EngineSpec, got {type(cfg).__name__}")
    arr = cfg.array
    return EngineSpec(cfg.aggregation, arr.is_float, 0 if arr.is_float else arr.tree_frac, arr.stochastic)


def packet_key(key: Any, cfg: SystemConfig | EngineSpec, slice_index: Any) -> Any:
    """The key a slice uses to round its packets (None when no stochastic rounding)."""
    eng = engine_spec(cfg)
    agg = eng.aggregation
    if agg.packet_format is None or eng.is_float or not needs_random(agg.packet_rounding):
        return None
    if key is None:
        raise ValueError(f"packet_rounding {agg.packet_rounding!r} needs a key")
    return fold_key(fold_key(key, _PACKET_STREAM), slice_index)


def to_packets(acc: jax.Array, cfg: SystemConfig | EngineSpec, *, key: Any = None) -> tuple[jax.Array, NumericEvents]:
    """A slice's final accumulator (tree fraction bits; ``input_frac`` of an
    :class:`EngineSpec`) requantized to the packet format."""
    eng = engine_spec(cfg)
    agg = eng.aggregation
    if eng.is_float:
        if agg.packet_format is None:
            return acc, NumericEvents.zero()
        v, over = round_to_float(acc, agg.packet_format)
        return v, NumericEvents.make(overflow=_count(over))
    return requantize_exact(acc, eng.input_frac, agg.packet_format, agg.packet_rounding,
                            key=key, stochastic=eng.stochastic)


def reduce_packets(packets: jax.Array, cfg: SystemConfig | EngineSpec) -> tuple[jax.Array, NumericEvents]:
    """Adds packets ``(S, ...)`` in ascending slice index into the engine's accumulator."""
    eng = engine_spec(cfg)
    af = eng.aggregation.accumulator_format
    with jax.enable_x64(True):
        if eng.is_float:
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


def finish(acc: jax.Array, cfg: SystemConfig | EngineSpec, *, key: Any = None) -> tuple[jax.Array, NumericEvents]:
    """Activation on the exact aggregated value, then the output format (DESIGN step 5).

    ``output_format=None`` (exact) passes codes through: the aggregated accumulator codes
    (identity / relu), the LUT's entry codes (activation through a LUT on a fixed-point
    datapath) or float64 values (float datapaths).
    """
    eng = engine_spec(cfg)
    agg = eng.aggregation
    of = agg.output_format
    okey = None
    if of is not None and not eng.is_float and needs_random(agg.output_rounding):
        if key is None:
            raise ValueError(f"output_rounding {agg.output_rounding!r} needs a key")
        okey = fold_key(key, _AGG_OUTPUT_STREAM)
    with jax.enable_x64(True):
        if eng.is_float:
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
            out, ev = requantize_exact(a, frac, of, agg.output_rounding, key=okey, stochastic=eng.stochastic)
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
                out, ev = quantize(y, of, agg.output_rounding, key=okey, stochastic=eng.stochastic)
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


__all__ = ["AggregationEngine", "EngineSpec", "engine_spec", "finish", "packet_key", "reduce_packets", "to_packets"]
