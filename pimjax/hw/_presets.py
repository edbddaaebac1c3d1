"""Preset registry: hardware configurations from the papers, each number cited.

Papers (``CITATION.cff``): Memory Slices, NeuroTrainer. Where a paper leaves a
number open (e.g. the split of a 16-bit word into integer and fraction bits) the preset says
that pimjax chose it.
"""

from __future__ import annotations

from typing import Callable

from pimjax.hw._array import ArrayConfig
from pimjax.numerics import FixedFormat, FloatFormat

_REGISTRY: dict[str, Callable[[], object]] = {}
_DOCS: dict[str, str] = {}


def register(name: str, doc: str = "") -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Decorator registering a zero-argument preset factory under ``name``."""

    def deco(fn: Callable[[], object]) -> Callable[[], object]:
        if name in _REGISTRY:
            raise ValueError(f"preset {name!r} is already registered")
        _REGISTRY[name] = fn
        _DOCS[name] = doc or (fn.__doc__ or "").strip().splitlines()[0]
        return fn

    return deco


def get(name: str) -> object:
    """Returns a fresh copy of preset ``name`` (see :func:`names`)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]()


def names() -> list[str]:
    """Names of all registered presets."""
    return sorted(_REGISTRY)


def describe() -> dict[str, str]:
    """Preset name -> one-line description."""
    return dict(sorted(_DOCS.items()))


# 16-bit words: the papers give widths, not the integer/fraction split. pimjax uses 8
# fraction bits (Q8.8) for 16-bit operands and 16 for 32-bit ones.
_Q8_8 = FixedFormat(bits=16, frac=8)
_Q16_16 = FixedFormat(bits=32, frac=16)


@register("memory_slices")
def memory_slices_array() -> ArrayConfig:
    """Memory Slices multiplier array: 256 x 8, 16-bit fixed point (Sec. 3.2, Table 1)."""
    return ArrayConfig(
        rows=256,  # Memory Slices Sec. 3.2: "a 256x8 array of multipliers per slice"
        width=8,  # Memory Slices Sec. 3.2: "8 per row", one adder tree per row
        a_format=_Q8_8,  # Memory Slices Sec. 6 / Table 1: 16-bit multiplier array
        b_format=_Q8_8,
        accumulator_format=FixedFormat(bits=32, frac=16),  # pimjax choice: 32-bit accumulator
        output_format=_Q8_8,  # results written back as 16-bit words
        multiplier_latency=3,  # Memory Slices Sec. 3.2: "multiplier latency is 3 cycles (@2GHz)"
        adder_tree_latency=3,  # Memory Slices Sec. 3.2: "adder tree takes 3 cycles to add ... 8 products"
        clock_ghz=2.0,  # Memory Slices Sec. 3.2: 2 GHz clock
        # pimjax assumption (the ArrayConfig default, cost model only): a 256 KiB buffer for the
        # running sums of one 256 x 256 block of 32-bit partial sums between K-chunk passes. The
        # paper gives no size and says the opposite (Sec. 3.2: "registers themselves can play the
        # role of buffers ... therefore, we do not use buffers").
        accumulator_buffer_kib=256.0,
        name="memory_slices",
    )


@register("memory_slices_fp32")
def memory_slices_fp32_array() -> ArrayConfig:
    """Memory Slices array with 32-bit floating-point multipliers (Sec. 3.2, Fig. 3-4)."""
    fp32 = FloatFormat(name="fp32")
    return ArrayConfig(
        rows=256,  # Memory Slices Sec. 3.2 / Fig. 3: eight 256-unit columns
        width=8,
        a_format=fp32,  # Memory Slices Fig. 3: "a 32bit multiplier" per PE, floating point (Fig. 4)
        b_format=fp32,
        product_format=fp32,  # fp32 x fp32 products are rounded to fp32
        tree_format=fp32,
        accumulator_format=fp32,
        output_format=fp32,
        multiplier_latency=3,  # Memory Slices Sec. 3.2
        adder_tree_latency=3,  # Memory Slices Sec. 3.2
        clock_ghz=2.0,  # Memory Slices Sec. 3.2
        name="memory_slices_fp32",
    )


@register("neurotrainer_ff")
def neurotrainer_ff_pe() -> ArrayConfig:
    """NeuroTrainer PE in 16-bit feed-forward mode: 32 MACs x 2 operand pairs (Sec. 3.3.2, 3.3.4)."""
    return ArrayConfig(
        # NeuroTrainer Sec. 3.3.4: "k inputs are processed by k MACs in parallel (SIMD level)", for
        # convolutions and matrix products alike, with k = 32 MACs per PE (Sec. 5): a vector holds
        # 32 rows of A (outputs), and Sec. 5.1 runs the FC layers at 4.2-4.7 TOPS with a minibatch
        # of 32, so both operand pairs work on those 32 inputs.
        rows=32,
        # Sec. 3.3.2: a MAC operates "two pairs of 16bit operands" per cycle. Sec. 3.3.4 keeps y of
        # length 2k in 16-bit mode (two accumulators per MAC); pimjax adds the two products of a
        # MAC with an exact 2-input tree and keeps one accumulator per output: the same cycles
        # (ceil(K / 2) per output) and the same sums unless an accumulator saturates.
        width=2,
        a_format=_Q8_8,  # NeuroTrainer Table 4 / Sec. 3.3.2: 16-bit fixed point for FF
        b_format=_Q8_8,
        accumulator_format=FixedFormat(bits=32, frac=16),  # Fixed 32/16 MAC (Table 1)
        output_format=_Q8_8,
        output_rounding="nearest_even",  # Sec. 3.3.2: "16bit mode without SR during inference"
        multiplier_latency=1,  # pimjax choice: single-cycle MAC (not given in the paper)
        adder_tree_latency=1,  # pimjax choice (the 2-input add of the MAC's two products)
        clock_ghz=2.5,  # NeuroTrainer Table 1 / Sec. 5: 2.5 GHz
        name="neurotrainer_ff",
    )


@register("neurotrainer_bp")
def neurotrainer_bp_pe() -> ArrayConfig:
    """NeuroTrainer PE in 32-bit mode with stochastic rounding, for BP and UP (Sec. 3.3.2)."""
    return ArrayConfig(
        rows=32,  # NeuroTrainer Sec. 5: 32 MACs per PE
        width=1,  # NeuroTrainer Sec. 3.3.2: "a pair of 32bit operands" per MAC
        a_format=_Q16_16,  # NeuroTrainer Table 4: 32-bit fixed point for BP / UP
        b_format=_Q16_16,
        product_format=_Q16_16,  # product rounded back to 32 bits ...
        product_rounding="stochastic",  # ... with stochastic rounding (Sec. 3.3.2, Fig. 11)
        accumulator_format=_Q16_16,
        output_format=_Q16_16,
        multiplier_latency=1,  # pimjax choice (not given in the paper)
        adder_tree_latency=0,
        clock_ghz=2.5,  # NeuroTrainer Sec. 5: 2.5 GHz
        name="neurotrainer_bp",
    )


@register("neurotrainer_bp_sr_lo")
def neurotrainer_bp_sr_lo_pe() -> ArrayConfig:
    """NeuroTrainer 32-bit PE with low-overhead SR (one LFSR bit per clock, Fig. 11)."""
    return neurotrainer_bp_pe().replace(product_rounding="sr_lo", name="neurotrainer_bp_sr_lo")
