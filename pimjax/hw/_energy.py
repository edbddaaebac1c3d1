"""Compute energy of a datapath from NeuroTrainer Table 1 (one place for every preset).

NeuroTrainer Table 1 ("All designs are synthesized with 15nm FinFet [23] operating 2.5GHz"):

| MAC design            | power (mW) | energy per MAC-cycle = mW / 2.5 GHz |
|-----------------------|------------|-------------------------------------|
| Float 32              | 5.37       | 2.148 pJ                            |
| Fixed 32/16           | 2.27       | 0.908 pJ                            |
| Fixed 32/16 SR        | 5.79       | 2.316 pJ                            |
| Fixed 32/16 SR LO     | 3.78       | 1.512 pJ                            |

Products per MAC-cycle (Sec. 3.3.2: "we design MAC to operate 1) two pairs of 16bit operands or
2) a pair of 32bit operands (Fixed 32/16)"): a fixed-point datapath whose operands are at most
16 bits wide makes two products per MAC-cycle, so a product costs half a MAC-cycle (Fixed
32/16: 0.454 pJ); a wider one (17-32 bits) makes one. Table 1 gives one power per design, not
one per mode: that the 16-bit mode draws the same power is a pimjax assumption.

The MAC's power includes its accumulate (a "multiplier and accumulator (MAC)", Sec. 3.3.2), and
an array's adds are exactly one per product (``W - 1`` adder-tree adds and one accumulator add
per ``W`` products), so :func:`table1_energy` sets ``add_pj = 0``: ``energy_compute_pj =
macs * mac_pj`` is the whole MAC energy. Register, interconnect and aggregation-engine energies
stay the :class:`EnergyConfig` defaults (pimjax assumptions; the papers give no per-event
numbers).
"""

from __future__ import annotations

from pimjax.hw._array import ArrayConfig
from pimjax.hw._memory import EnergyConfig

#: NeuroTrainer Table 1: power of one MAC of each design, in mW.
TABLE1_MAC_MW: dict[str, float] = {
    "float32": 5.37,  # Table 1: Float 32 (IEEE 754 single precision MAC)
    "fixed": 2.27,  # Table 1: Fixed 32/16
    "fixed_sr": 5.79,  # Table 1: Fixed 32/16 SR ("64 random number generators", Sec. 3.3.2)
    "fixed_sr_lo": 3.78,  # Table 1: Fixed 32/16 SR LO (one LFSR bit per clock, Fig. 11)
}
#: NeuroTrainer Table 1 caption: "operating 2.5GHz".
TABLE1_CLOCK_GHZ: float = 2.5


def table1_design(array: ArrayConfig) -> tuple[str, int]:
    """``(design, products per MAC-cycle)`` of NeuroTrainer Table 1 that ``array`` is charged as.

    Float datapaths: the Float 32 MAC, one product per cycle (for bf16 / fp16 / fp8 operands a
    pimjax assumption: Table 1 has no narrower float MAC, and :func:`pimjax.nn.training_hardware`'s
    bf16 datapath accumulates in fp32). Fixed point: ``fixed_sr`` when a rounding stage in use
    (the product, tree or output stage with a format) rounds ``"stochastic"``, ``fixed_sr_lo``
    when one rounds ``"sr_lo"``, else ``fixed`` (nearest, floor, ...); two products per cycle
    when both operands have at most 16 bits, else one (Sec. 3.3.2). 16-bit operands with SR are
    a pimjax extrapolation (the paper runs "the 16bit mode without SR", Sec. 3.3.2).
    """
    if not isinstance(array, ArrayConfig):
        raise TypeError(f"table1_design needs an ArrayConfig, got {type(array).__name__}")
    if array.is_float:
        return "float32", 1
    stages = [(array.product_format, array.product_rounding), (array.tree_format, array.tree_rounding),
              (array.output_format, array.output_rounding)]
    used = {r for f, r in stages if f is not None}
    design = "fixed_sr" if "stochastic" in used else "fixed_sr_lo" if "sr_lo" in used else "fixed"
    bits = max(int(array.a_format.bits), int(array.b_format.bits))
    return design, 2 if bits <= 16 else 1


def table1_energy(array: ArrayConfig, **overrides: float) -> EnergyConfig:
    """The :class:`EnergyConfig` of ``array`` from NeuroTrainer Table 1 (module docstring).

    ``mac_pj = TABLE1_MAC_MW[design] / TABLE1_CLOCK_GHZ / products per cycle`` (mW / GHz = pJ)
    and ``add_pj = 0`` (the MAC includes the accumulate); ``overrides`` set other fields.

    >>> from pimjax import hw
    >>> table1_energy(hw.presets.get("neurotrainer_ff")).mac_pj  # 2.27 mW / 2.5 GHz / 2 pairs
    0.454
    >>> table1_energy(hw.presets.get("neurotrainer_bp")).mac_pj  # 5.79 mW / 2.5 GHz
    2.316
    """
    design, per_cycle = table1_design(array)
    mac_pj = round(TABLE1_MAC_MW[design] / TABLE1_CLOCK_GHZ / per_cycle, 12)
    return EnergyConfig(**{"mac_pj": mac_pj, "add_pj": 0.0, **overrides})
