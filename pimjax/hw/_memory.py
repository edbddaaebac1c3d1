"""A slice's memory and the energy constants of its datapath.

Memory Slices Sec. 6: each slice is one HMC vault or one HBM channel ("Each slice nominally
represents one HMCstyle vault, or HBMstyle channel"); DRAM access energy is 3.7 pJ/bit for HMC
and 6 pJ/bit for HBM; "Each slice is assumed to be on the order of 1Gbytes in size" (Sec. 7:
"We assume the memory capacity of a slice can be varied"). Per-vault / per-channel bandwidths
are not in the Memory Slices text (its Table 2 is not reproduced there): the HMC 1.0 vault's
10 GB/s is NeuroTrainer's (Sec. 3: "HMC 1.0 is composed of 4 DRAM dies partitioned into 16
vaults"; Sec. 5.2: "16 vaults x 10GByte/sec"), the others are noted beside each preset.
``capacity_gib`` is descriptive: the cost model does not read it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def _pos(name: str, v: Any, hi: float = 1e12, allow_zero: bool = False) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise TypeError(f"{name} must be a finite number, got {v!r}")
    if (v < 0 if allow_zero else v <= 0) or v > hi:
        rng = f"[0, {hi}]" if allow_zero else f"(0, {hi}]"
        raise ValueError(f"{name} must be in {rng}, got {v}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MemoryConfig:
    """One slice's memory bank.

    Args:
      name: label.
      bandwidth_gbps: peak bandwidth of the slice's bank in GB/s (10**9 bytes/s).
      energy_pj_per_bit: DRAM access energy per bit read or written.
      capacity_gib: capacity of the bank in GiB.
    """

    name: str
    bandwidth_gbps: float
    energy_pj_per_bit: float
    capacity_gib: float = 1.0

    def __post_init__(self) -> None:
        _pos("MemoryConfig.bandwidth_gbps", self.bandwidth_gbps, 1e6)
        _pos("MemoryConfig.energy_pj_per_bit", self.energy_pj_per_bit, 1e4, allow_zero=True)
        _pos("MemoryConfig.capacity_gib", self.capacity_gib, 1e6)


@dataclasses.dataclass(frozen=True, kw_only=True)
class EnergyConfig:
    """Energy constants of a slice's logic (pJ per event).

    ``mac_pj`` is charged per product (``CostRecord.macs``), ``add_pj`` per adder-tree and
    accumulator addition, ``aggregation_add_pj`` per aggregation-engine addition.

    The presets and :func:`pimjax.nn.training_hardware` take ``mac_pj`` from NeuroTrainer
    Table 1 through :func:`pimjax.hw.table1_energy` (per product, with the MAC's accumulate
    included, so ``add_pj = 0``). The defaults here are a generic array of multipliers with
    separate adders: a product at one Fixed 32/16 MAC-cycle (Table 1: 2.27 mW at 2.5 GHz =
    0.908 pJ; in 16-bit mode that cycle makes two products, 0.454 pJ each) and an adder at 1/4
    of it (pimjax assumption; Table 1's MAC power already contains an accumulate, so for a
    Table 1 datapath these defaults count the adds twice). Registers and the interconnect are
    pimjax assumptions (the papers give no per-event numbers): a register bit at 0.01 pJ, an
    ICN hop at 0.5 pJ/bit, an aggregation-engine add at 0.227 pJ.

    ``buffer_pj_per_bit`` is charged per bit read or written in a slice's on-chip SRAM buffers
    (accumulator, aggregation and weight buffers: ``CostRecord.buffer_bytes_read`` and
    ``buffer_bytes_written``). It is a pimjax assumption, like the buffers themselves (Memory
    Slices Sec. 3.2: "we do not use buffers"; neither paper gives an SRAM energy): 0.3 pJ/bit,
    a CACTI-class figure for a 256 KiB SRAM read at the papers' 15-16 nm nodes, taken from
    Horowitz, "Computing's energy problem", ISSCC 2014 (45 nm, a 64-bit access: 20 pJ from a
    32 KB SRAM, 100 pJ from 1 MB, so about 50 pJ = 0.8 pJ/bit at 256 KB, log-interpolated) and
    scaled by about 1/3 to 16 nm (Memory Slices Sec. 6 models 16 nm, NeuroTrainer 15 nm). Reads
    and writes cost the same. Treat it as an order of magnitude: it is 1/12 of an HMC bit
    (3.7 pJ).
    """

    mac_pj: float = 0.908  # NeuroTrainer Table 1: one Fixed 32/16 MAC-cycle, 2.27 mW / 2.5 GHz
    add_pj: float = 0.227  # pimjax assumption: a separate adder at 1/4 of a MAC-cycle
    register_pj_per_bit: float = 0.01  # pimjax assumption
    icn_pj_per_bit_hop: float = 0.5  # pimjax assumption
    aggregation_add_pj: float = 0.227  # pimjax assumption: one adder
    # pimjax assumption: a 256 KiB SRAM at 16 nm, from Horowitz ISSCC 2014's 45 nm figures
    # (~0.8 pJ/bit at 256 KB) scaled by ~1/3 (see the class docstring)
    buffer_pj_per_bit: float = 0.3

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _pos(f"EnergyConfig.{f.name}", getattr(self, f.name), 1e6, allow_zero=True)


# Memory Slices Sec. 6: "6pJ/bit for HBM [38] and 3.7pJ/bit for HMC [24]".
HMC1_VAULT = MemoryConfig(
    name="hmc1.0_vault",
    # NeuroTrainer Sec. 3 ("HMC 1.0 is composed of 4 DRAM dies partitioned into 16 vaults") and
    # Sec. 5.2 ("16 vaults x 10GByte/sec"); Memory Slices' own value (Table 2) is not in its text.
    # (pimjax used 8 GB/s before, from a 128 GB/s per cube figure that no source paper gives.)
    bandwidth_gbps=10.0,
    energy_pj_per_bit=3.7,  # Memory Slices Sec. 6
    capacity_gib=1.0,  # Memory Slices Sec. 6: "Each slice is assumed to be on the order of 1Gbytes"
)
HMC2_VAULT = MemoryConfig(
    name="hmc2.0_vault",
    # Memory Slices Sec. 3.2 (a slice example "with memory bandwidth of 10GB/s") and Sec. 8 "(e.g.,
    # to 10GB/S)"; Table 2 is not in the text. From outside the papers: HMC 2.0's 320 GB/s over
    # its 32 vaults (NeuroTrainer Sec. 5.2: "With 32 vaults")
    bandwidth_gbps=10.0,
    energy_pj_per_bit=3.7,  # Memory Slices Sec. 6
    capacity_gib=1.0,  # Memory Slices Sec. 6: "Each slice is assumed to be on the order of 1Gbytes"
)
HBM_CHANNEL = MemoryConfig(
    name="hbm_channel",
    bandwidth_gbps=16.0,  # pimjax assumption from outside the papers: HBM gen 1, 128 GB/s per stack over 8 channels
    energy_pj_per_bit=6.0,  # Memory Slices Sec. 6
    capacity_gib=1.0,  # Memory Slices Sec. 6: "Each slice is assumed to be on the order of 1Gbytes"
)
NEUROTRAINER_VAULT = MemoryConfig(
    name="neurotrainer_vault",
    bandwidth_gbps=10.0,  # NeuroTrainer Sec. 5.2: "16 vaults x 10GByte/sec"; Sec. 3.4: "a single vault (10GBps)"
    energy_pj_per_bit=3.7,  # NeuroTrainer Sec. 5.2: DRAM power "using 3.7pJ/bit from [33]" (also Memory Slices Sec. 6)
    capacity_gib=0.125,  # pimjax assumption from outside the papers: HMC 1.0's 2 GB over 16 vaults (NeuroTrainer gives none)
)
