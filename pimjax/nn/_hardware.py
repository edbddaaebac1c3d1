"""Training hardware presets: per-phase precisions of NeuroTrainer Table 4 on slice systems.

NeuroTrainer Sec. 3.3.2 and Table 4: feed-forward in 16-bit fixed point with round-to-nearest;
back-propagation (BP) and weight update (UP) in 32-bit fixed point with stochastic rounding in
the MAC (its "Fixed 32/16 + SR" MAC adds one random number generator per multiplier, i.e. each
product is rounded stochastically). Fraction bits are pimjax's choice (the paper gives widths
only): activations Q8.8 and weights Q4.12 in FF; gradients with 20 fraction bits in BP/UP.

Each phase's compute energy follows its datapath through :func:`pimjax.hw.table1_energy`
(NeuroTrainer Table 1, per product, accumulate included; docs/cost_model.md section 5): 16-bit
fixed point 0.454 pJ (Fixed 32/16, two pairs per cycle), 32-bit nearest 0.908 pJ, 32-bit SR
2.316 pJ, 32-bit SR LO 1.512 pJ, fp32 and bf16 2.148 pJ (Float 32).
"""

from __future__ import annotations

from jax.sharding import Mesh

from pimjax.hw import AggregationConfig, ArrayConfig, SystemConfig, table1_energy
from pimjax.numerics import FixedFormat, FloatFormat
from pimjax.nn._emulated import PhaseConfig, TrainingHardware
from pimjax.nn._resident import ResidentWeights

PRECISIONS = ("neurotrainer", "neurotrainer_sr_lo", "neurotrainer_sr_out", "fixed32_nearest", "fixed16", "bf16", "fp32",
              "native")
WEIGHTS = ("auto", "resident", "float")

#: Update rounding of the resident weights per precision: SR where the MACs round
#: stochastically (NeuroTrainer "Fixed 32/16 + SR" / "+ SR LO"), nearest where they do not.
_UPDATE_ROUNDING = {"neurotrainer": "stochastic", "neurotrainer_sr_lo": "sr_lo", "neurotrainer_sr_out": "stochastic",
                    "fixed32_nearest": "nearest_even",
                    "fixed16": "nearest_even"}


def _fixed_system(*, a: FixedFormat, b: FixedFormat, product: FixedFormat | None, product_rounding: str,
                  out: FixedFormat, output_rounding: str, rows: int, width: int, num_slices: int) -> SystemConfig:
    tree_frac = product.frac if product is not None else a.frac + b.frac
    acc = FixedFormat(bits=32, frac=tree_frac)
    arr = ArrayConfig(rows=rows, width=width, a_format=a, b_format=b, product_format=product,
                      product_rounding=product_rounding, accumulator_format=acc, output_format=out,
                      output_rounding=output_rounding, name="training")
    agg = AggregationConfig(packet_format=None, accumulator_format=acc, output_format=out,
                            output_rounding=output_rounding)
    return SystemConfig(array=arr, num_slices=num_slices, aggregation=agg, energy=table1_energy(arr))


def _float_system(fmt: str, *, rows: int, width: int, num_slices: int) -> SystemConfig:
    op = FloatFormat(name=fmt)
    fp32 = FloatFormat(name="fp32")
    arr = ArrayConfig(rows=rows, width=width, a_format=op, b_format=op, tree_format=fp32,
                      accumulator_format=fp32, output_format=fp32, name=f"{fmt}_array")
    agg = AggregationConfig(packet_format=fp32, accumulator_format=fp32, output_format=fp32)
    return SystemConfig(array=arr, num_slices=num_slices, aggregation=agg, energy=table1_energy(arr))


def training_hardware(precision: str = "neurotrainer", *, num_slices: int = 1, mesh: Mesh | None = None,
                      rows: int = 256, width: int = 8, weights: str = "auto",
                      weight_format: FixedFormat | None = None, modules: int = 1,
                      central: AggregationConfig | None = None) -> TrainingHardware:
    """Per-phase hardware for training on ``num_slices`` slices of ``rows`` x ``width`` arrays.

    Args:
      precision: ``"neurotrainer"`` (Table 4: FF 16-bit nearest; BP/UP 32-bit, products rounded
        stochastically), ``"neurotrainer_sr_lo"`` (the same with SR LO, Fig. 11),
        ``"neurotrainer_sr_out"`` (the other reading of the SR stage: BP/UP products kept at 24
        fraction bits (nearest: 4 guard bits below the output's 20), summed and accumulated
        in Q8.24, rounded stochastically once, when the result is written; see below),
        ``"fixed32_nearest"`` (BP/UP 32-bit without SR: Fig. 10's failing case), ``"fixed16"``
        (every phase 16-bit nearest), ``"bf16"`` or ``"fp32"`` float datapaths, or ``"native"``
        (plain float32 ``jnp.dot``, no emulation: the float reference).
      num_slices: slices each phase's matmuls are split over (K-partitioned).
      mesh: devices the slices are sharded over (default one device).
      rows, width: the array (Memory Slices: 256 x 8).
      weights: ``"resident"``: fixed-point weights in the slices' memory (Q8.16, updated with
        the precision's rounding: SR, SR LO, or nearest for ``fixed32_nearest``/``fixed16``);
        ``"float"``: float32 master weights quantized on use; ``"auto"`` (default): resident
        for the fixed-point precisions, float for ``bf16``, ``fp32`` and ``native``.
      weight_format: the resident weights' format (default :class:`ResidentWeights`' Q8.16;
        e.g. 16-bit Q4.12, the FF weight operand's format, as in Gupta et al.'s Fig. 10 setting).
      modules: synchronous data-parallel modules, each of ``num_slices`` slices with the whole
        model (NeuroTrainer Sec. 5.3; :mod:`pimjax.nn._modules`).
      central: the central unit's reduction of the modules' dW partials (``None``:
        :func:`pimjax.nn._modules.default_central`; only with ``modules > 1``).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")
    resident = None
    if weights == "resident" or (weights == "auto" and precision in _UPDATE_ROUNDING):
        kw_w = {} if weight_format is None else {"format": weight_format}
        resident = ResidentWeights(rounding=_UPDATE_ROUNDING.get(precision, "stochastic"), **kw_w)
    kw = dict(rows=rows, width=width, num_slices=num_slices)
    if precision == "native":
        p = PhaseConfig(system=None)
        return TrainingHardware(ff=p, bp=p, up=p, mesh=mesh, weights=resident, modules=modules, central=central)
    if precision in ("bf16", "fp32"):
        s = _float_system(precision, **kw)
        return TrainingHardware(ff=PhaseConfig(system=s), bp=PhaseConfig(system=s), up=PhaseConfig(system=s),
                                mesh=mesh, weights=resident, modules=modules, central=central)
    q8_8, q4_12 = FixedFormat(bits=16, frac=8), FixedFormat(bits=16, frac=12)
    ff = _fixed_system(a=q8_8, b=q4_12, product=None, product_rounding="nearest_even", out=q8_8,
                       output_rounding="nearest_even", **kw)
    if precision == "fixed16":
        g = FixedFormat(bits=16, frac=12)
        bp = _fixed_system(a=g, b=q4_12, product=None, product_rounding="nearest_even", out=g,
                           output_rounding="nearest_even", **kw)
        up = _fixed_system(a=q8_8, b=g, product=None, product_rounding="nearest_even", out=g,
                           output_rounding="nearest_even", **kw)
    elif precision == "neurotrainer_sr_out":
        # The stage the MACs round at. The default ("neurotrainer") rounds every product: NeuroTrainer
        # Sec. 3.3.2 adds "64 random number generators ... [25]" to the PE's MACs (Fixed 32/16 + SR),
        # and SR LO's single LFSR shifts one new bit into a 32-bit register every clock (Fig. 11): a
        # random number per MAC per clock, i.e. per product. The text never names the stage, and its
        # reference [25] (Na, Ko, Kung, Mukhopadhyay, IJCNN 2017) is not in our copy. This preset is
        # the other reading: products and their sums kept wide, one stochastic rounding per output
        # when the accumulated result is written. pimjax's stages are at most 32 bits (and an exact
        # 64-bit product tree overflows int64), so "wide" is Q8.24: products rounded to nearest there
        # (4 guard bits under the output's Q12.20; range +-128), exact sums, one SR at the output.
        g = FixedFormat(bits=32, frac=20)
        w32 = FixedFormat(bits=32, frac=16)
        acc = FixedFormat(bits=32, frac=24)

        def sr_out(a: FixedFormat, b: FixedFormat) -> SystemConfig:
            arr = ArrayConfig(rows=rows, width=width, a_format=a, b_format=b, product_format=acc,
                              product_rounding="nearest_even", accumulator_format=acc,
                              output_format=g, output_rounding="stochastic", name="training")
            agg = AggregationConfig(packet_format=None, accumulator_format=acc, output_format=g,
                                    output_rounding="stochastic")
            return SystemConfig(array=arr, num_slices=num_slices, aggregation=agg, energy=table1_energy(arr))

        bp, up = sr_out(g, w32), sr_out(w32, g)
    else:
        rnd = {"neurotrainer": "stochastic", "neurotrainer_sr_lo": "sr_lo", "fixed32_nearest": "nearest_even"}[precision]
        g = FixedFormat(bits=32, frac=20)  # gradients: range +-2048, resolution 2**-20
        w32 = FixedFormat(bits=32, frac=16)  # weights / activations in 32-bit phases
        bp = _fixed_system(a=g, b=w32, product=g, product_rounding=rnd, out=g, output_rounding=rnd, **kw)
        up = _fixed_system(a=w32, b=g, product=g, product_rounding=rnd, out=g, output_rounding=rnd, **kw)
    return TrainingHardware(ff=PhaseConfig(system=ff), bp=PhaseConfig(system=bp), up=PhaseConfig(system=up),
                            mesh=mesh, weights=resident, modules=modules, central=central)
