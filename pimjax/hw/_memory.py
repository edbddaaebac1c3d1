"""A slice's memory and the energy constants of its datapath.

Memory Slices Sec. 6: each slice is one HMC vault or one HBM channel; DRAM access energy is
3.7 pJ/bit for HMC and 6 pJ/bit for HBM. Per-vault / per-channel bandwidths are not in the
source text (its Table 2 is not reproduced there); pimjax takes them from the memory
standards as noted beside each preset.
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

    Defaults: NeuroTrainer Table 1 (15 nm FinFET, 2.5 GHz): a Fixed 32/16 MAC draws 2.27 mW,
    i.e. 2.27e-3 W / 2.5e9 ops/s = 0.908 pJ per MAC; an fp32 MAC 5.37 mW = 2.148 pJ. Adders,
    registers and the interconnect are pimjax assumptions (the papers give no per-event
    numbers): an adder at 1/4 of a MAC, a register bit at 0.01 pJ, an ICN hop at 0.5 pJ/bit.
    """

    mac_pj: float = 0.908  # NeuroTrainer Table 1: Fixed 32/16 MAC, 2.27 mW @ 2.5 GHz
    add_pj: float = 0.227  # pimjax assumption: 1/4 of a MAC
    register_pj_per_bit: float = 0.01  # pimjax assumption
    icn_pj_per_bit_hop: float = 0.5  # pimjax assumption
    aggregation_add_pj: float = 0.227  # pimjax assumption: one adder

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _pos(f"EnergyConfig.{f.name}", getattr(self, f.name), 1e6, allow_zero=True)


# Memory Slices Sec. 6: "6pJ/bit for HBM [38] and 3.7pJ/bit for HMC [24]".
HMC1_VAULT = MemoryConfig(
    name="hmc1.0_vault",
    bandwidth_gbps=8.0,  # HMC 1.0 spec: 128 GB/s over 16 vaults (Table 2 values not in the text)
    energy_pj_per_bit=3.7,  # Memory Slices Sec. 6
    capacity_gib=0.125,  # HMC 1.0: 2 GB over 16 vaults
)
HMC2_VAULT = MemoryConfig(
    name="hmc2.0_vault",
    bandwidth_gbps=10.0,  # HMC 2.0: 320 GB/s over 32 vaults; Memory Slices Sec. 8 "(e.g., to 10GB/S)"
    energy_pj_per_bit=3.7,  # Memory Slices Sec. 6
    capacity_gib=0.25,  # HMC 2.0: 8 GB over 32 vaults
)
HBM_CHANNEL = MemoryConfig(
    name="hbm_channel",
    bandwidth_gbps=16.0,  # HBM gen 1: 128 GB/s per stack over 8 channels
    energy_pj_per_bit=6.0,  # Memory Slices Sec. 6
    capacity_gib=0.125,  # HBM gen 1: 1 GB per stack over 8 channels
)
NEUROTRAINER_VAULT = MemoryConfig(
    name="neurotrainer_vault",
    bandwidth_gbps=10.0,  # NeuroTrainer Sec. 5.2: "16 vaults x 10GByte/sec"; Sec. 3.4: "a single vault (10GBps)"
    energy_pj_per_bit=3.7,  # HMC DRAM access energy (Memory Slices Sec. 6)
    capacity_gib=0.125,  # HMC 1.0: 2 GB over 16 vaults
)
