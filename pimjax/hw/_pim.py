"""Nodes of a host and several PIM stacks: ``PIMConfig``, ``HostConfig``, ``NodeConfig``.

AMD multi-PIM paper (Xu, Zhang, Jayasena, "Scaling Deep Learning on Multiple In-Memory
Processors"), Sec. 3 (Fig. 6) and Sec. 6.1 (Table 1): one host APU attached to
``N`` memory stacks; each stack carries a small APU (the PIM) on its logic die. The PIM reads
its own stack at the in-stack bandwidth and any other stack at ``1/8`` of it; the host reads
all stacks at once, each at a fraction (``1/2``, ``1/4`` or ``1/8``) of the in-stack bandwidth.

Units: FLOP rates in GFLOPS (10**9 FLOP/s), bandwidths in GB/s (10**9 bytes/s), capacities in
GiB (2**30 bytes: DRAM capacities are binary), frequencies in MHz.

>>> from pimjax import hw
>>> node = hw.presets.get("4PIM")
>>> node.num_pims, node.pim.peak_gflops, node.pim.remote_bandwidth_gbps
(4, 650.0, 40.0)
>>> host = hw.presets.get("Host_8_320")
>>> host.bandwidth_per_stack_gbps, host.peak_gflops
(40.0, 5200.0)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from pimjax._checks import int_field
from pimjax.hw._presets import register


def _num(name: str, v: Any, lo: float, hi: float, *, lo_open: bool = True) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise TypeError(f"{name} must be a finite number, got {v!r}")
    if (v <= lo if lo_open else v < lo) or v > hi:
        rng = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi}]"
        raise ValueError(f"{name} must be in {rng}, got {v}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class PIMConfig:
    """One PIM device: the GPU of the APU on a memory stack's logic die, and its stack.

    Args:
      peak_gflops: peak compute throughput of the PIM GPU, GFLOPS.
      bandwidth_gbps: in-stack bandwidth from the PIM to its own stack, GB/s.
      capacity_gib: capacity of the stack, GiB.
      frequency_mhz: engine (GPU) clock, MHz (descriptive; the roofline model uses
        ``peak_gflops``).
      remote_bandwidth_fraction: bandwidth of a PIM's access to another stack as a fraction
        of ``bandwidth_gbps``, in (0, 1].
      compute_units: GPU compute units of this PIM (descriptive).
      name: label for reports.
    """

    peak_gflops: float
    bandwidth_gbps: float
    capacity_gib: float
    frequency_mhz: float
    remote_bandwidth_fraction: float
    compute_units: int = 16
    name: str = ""

    def __post_init__(self) -> None:
        _num("PIMConfig.peak_gflops", self.peak_gflops, 0, 1e9)
        _num("PIMConfig.bandwidth_gbps", self.bandwidth_gbps, 0, 1e9)
        _num("PIMConfig.capacity_gib", self.capacity_gib, 0, 1e9)
        _num("PIMConfig.frequency_mhz", self.frequency_mhz, 0, 1e6)
        _num("PIMConfig.remote_bandwidth_fraction", self.remote_bandwidth_fraction, 0, 1)
        int_field(self, "compute_units", 1, 1 << 20)

    @property
    def remote_bandwidth_gbps(self) -> float:
        """Bandwidth of this PIM's access to a remote stack, GB/s."""
        return self.bandwidth_gbps * self.remote_bandwidth_fraction

    @property
    def capacity_bytes(self) -> int:
        """Stack capacity in bytes (GiB x 2**30)."""
        return int(self.capacity_gib * 2**30)

    @property
    def ridge_flops_per_byte(self) -> float:
        """Roofline ridge point: arithmetic intensity above which the PIM is compute-bound."""
        return self.peak_gflops / self.bandwidth_gbps

    def replace(self, **changes: Any) -> "PIMConfig":
        """``dataclasses.replace`` with validation."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True, kw_only=True)
class HostConfig:
    """The host GPU (of the host APU) and its access to the memory stacks.

    The host's memory *is* the ``num_stacks`` PIM stacks (Fig. 6), reached over a board-level
    interface; it reads all stacks at once, each at ``bandwidth_gbps / num_stacks``.

    Args:
      peak_gflops: peak compute throughput of the host GPU, GFLOPS.
      bandwidth_gbps: total host memory bandwidth over all stacks, GB/s (Table 1 "Total DRAM
        BW").
      frequency_mhz: engine (GPU) clock, MHz (descriptive).
      num_stacks: memory stacks attached to the host.
      compute_units: GPU compute units (descriptive).
      name: label for reports.
    """

    peak_gflops: float
    bandwidth_gbps: float
    frequency_mhz: float
    num_stacks: int
    compute_units: int = 32
    name: str = ""

    def __post_init__(self) -> None:
        _num("HostConfig.peak_gflops", self.peak_gflops, 0, 1e9)
        _num("HostConfig.bandwidth_gbps", self.bandwidth_gbps, 0, 1e9)
        _num("HostConfig.frequency_mhz", self.frequency_mhz, 0, 1e6)
        int_field(self, "num_stacks", 1, 1 << 16)
        int_field(self, "compute_units", 1, 1 << 20)

    @property
    def bandwidth_per_stack_gbps(self) -> float:
        """Host bandwidth to one stack, GB/s (Table 1 "DRAM BW/stack")."""
        return self.bandwidth_gbps / self.num_stacks

    @property
    def ridge_flops_per_byte(self) -> float:
        """Roofline ridge point of the host (FLOP per byte)."""
        return self.peak_gflops / self.bandwidth_gbps

    def replace(self, **changes: Any) -> "HostConfig":
        """``dataclasses.replace`` with validation."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True, kw_only=True)
class NodeConfig:
    """A node: one host and ``num_pims`` identical PIM stacks (AMD paper Fig. 6).

    Args:
      host: the host; ``host.num_stacks`` must equal ``num_pims`` (its memory is the stacks).
      num_pims: PIM stacks in the node.
      pim: the PIM device of every stack.
      name: label for reports.
    """

    host: HostConfig
    num_pims: int
    pim: PIMConfig
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.host, HostConfig):
            raise TypeError(f"NodeConfig.host must be a HostConfig, got {type(self.host).__name__}")
        if not isinstance(self.pim, PIMConfig):
            raise TypeError(f"NodeConfig.pim must be a PIMConfig, got {type(self.pim).__name__}")
        int_field(self, "num_pims", 1, 1 << 16)
        if self.host.num_stacks != self.num_pims:
            raise ValueError(
                f"NodeConfig.num_pims ({self.num_pims}) must equal NodeConfig.host.num_stacks "
                f"({self.host.num_stacks}): the host's memory is the PIM stacks"
            )

    @property
    def total_pim_gflops(self) -> float:
        """Aggregate peak of all PIMs, GFLOPS."""
        return self.num_pims * self.pim.peak_gflops

    @property
    def total_pim_bandwidth_gbps(self) -> float:
        """Aggregate in-stack bandwidth, GB/s (Table 1 "Total DRAM BW" of 4PIM / 8PIM)."""
        return self.num_pims * self.pim.bandwidth_gbps

    @property
    def total_capacity_gib(self) -> float:
        """Memory of the node, GiB."""
        return self.num_pims * self.pim.capacity_gib

    @property
    def host_bandwidth_fraction(self) -> float:
        """Host bandwidth per stack as a fraction of the in-stack bandwidth (1/2, 1/4, 1/8)."""
        return self.host.bandwidth_per_stack_gbps / self.pim.bandwidth_gbps

    def replace(self, **changes: Any) -> "NodeConfig":
        """``dataclasses.replace`` with validation."""
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------------------------------------
# Presets: AMD paper Table 1 and Sec. 3 / 6.1.

_PIM_PEAK_GFLOPS = 650.0  # AMD Sec. 6.1: "peak computation throughput to 650 GFLOPS for each PIM"
_PIM_BANDWIDTH_GBPS = 320.0  # AMD Sec. 3 and 6.1: "memory bandwidth to 320 GB/s" per PIM; Table 1 "DRAM BW/stack" 320


def amd_pim() -> PIMConfig:
    """One AMD PIM stack: 650 GFLOPS, 320 GB/s in-stack, 4 GB, remote at 1/8 (Sec. 3, 6.1)."""
    return PIMConfig(
        peak_gflops=_PIM_PEAK_GFLOPS,  # AMD Sec. 6.1
        bandwidth_gbps=_PIM_BANDWIDTH_GBPS,  # AMD Sec. 3 / 6.1, Table 1 "DRAM BW/stack" (4PIM, 8PIM)
        capacity_gib=4.0,  # AMD Sec. 3: "The capacity of each memory stack is 4 GB"
        frequency_mhz=650.0,  # AMD Table 1: "Engine Frequency (MHz)" 650 for 4PIM / 8PIM
        remote_bandwidth_fraction=1 / 8,  # AMD Sec. 3 and 6.4: remote PIM access at 1/8 (40 GB/s)
        compute_units=16,  # AMD Table 1: 64 CUs for 4PIM, 128 for 8PIM, i.e. 16 per PIM
        name="amd_pim",
    )


def _host(num_stacks: int, bandwidth_gbps: float, compute_units: int) -> HostConfig:
    return HostConfig(
        # AMD Sec. 6.1: "we set the peak FLOPS of the host GPU equal to the aggregate peak
        # FLOPS of all PIM devices": num_stacks x 650 GFLOPS
        peak_gflops=num_stacks * _PIM_PEAK_GFLOPS,
        bandwidth_gbps=bandwidth_gbps,
        frequency_mhz=1300.0,  # AMD Table 1: "Engine Frequency (MHz)" 1300 for every host
        num_stacks=num_stacks,
        compute_units=compute_units,
        name=f"Host_{num_stacks}_{int(bandwidth_gbps)}",
    )


# AMD Sec. 6.1: "Three host bandwidths are evaluated: 1/2, 1/4, and 1/8 of the in-stack PIM
# bandwidth per memory stack"; Table 1 "Total DRAM BW" / "DRAM BW/stack" / "Number of CUs".


@register("Host_4_160")
def host_4_160() -> HostConfig:
    """AMD Table 1 Host_4_160: 4 stacks at 40 GB/s each (1/8 of in-stack), 2600 GFLOPS."""
    return _host(4, 160.0, 32)  # Table 1: 160 GB/s total, 40 GB/s/stack, 4 stacks, 32 CUs


@register("Host_4_320")
def host_4_320() -> HostConfig:
    """AMD Table 1 Host_4_320: 4 stacks at 80 GB/s each (1/4 of in-stack), 2600 GFLOPS."""
    return _host(4, 320.0, 32)  # Table 1: 320 GB/s total, 80 GB/s/stack, 4 stacks, 32 CUs


@register("Host_4_640")
def host_4_640() -> HostConfig:
    """AMD Table 1 Host_4_640: 4 stacks at 160 GB/s each (1/2, HMC-like, Sec. 3), 2600 GFLOPS."""
    return _host(4, 640.0, 32)  # Table 1: 640 GB/s total, 160 GB/s/stack, 4 stacks, 32 CUs


@register("Host_8_320")
def host_8_320() -> HostConfig:
    """AMD Table 1 Host_8_320: 8 stacks at 40 GB/s each (1/8 of in-stack), 5200 GFLOPS."""
    return _host(8, 320.0, 64)  # Table 1: 320 GB/s total, 40 GB/s/stack, 8 stacks, 64 CUs


@register("Host_8_640")
def host_8_640() -> HostConfig:
    """AMD Table 1 Host_8_640: 8 stacks at 80 GB/s each (1/4 of in-stack), 5200 GFLOPS."""
    return _host(8, 640.0, 64)  # Table 1: 640 GB/s total, 80 GB/s/stack, 8 stacks, 64 CUs


@register("Host_8_1280")
def host_8_1280() -> HostConfig:
    """AMD Table 1 Host_8_1280: 8 stacks at 160 GB/s each (1/2 of in-stack), 5200 GFLOPS."""
    return _host(8, 1280.0, 64)  # Table 1: 1280 GB/s total, 160 GB/s/stack, 8 stacks, 64 CUs


# The host of a PIM node runs the model-parallel reduction (AMD Sec. 5.4). The paper does not
# say which host bandwidth it used for Fig. 10; pimjax takes the Sec. 3 baseline: "We model
# the host memory interface on Hybrid Memory Cube (HMC) at 160 GB/s peak bandwidth per memory
# stack (i.e., 1/2 the internal bandwidth)", i.e. Host_4_640 / Host_8_1280.


@register("4PIM")
def node_4pim() -> NodeConfig:
    """AMD Table 1 4PIM: 4 PIM stacks (64 CUs, 650 MHz, 4 x 320 GB/s), host Host_4_640."""
    return NodeConfig(
        host=host_4_640(),  # pimjax choice, AMD Sec. 3 baseline host interface (1/2 in-stack)
        num_pims=4,  # AMD Table 1: "Number of DRAM stacks" 4; total DRAM BW 1280 GB/s
        pim=amd_pim(),  # AMD Sec. 3 / 6.1 / Table 1
        name="4PIM",
    )


@register("8PIM")
def node_8pim() -> NodeConfig:
    """AMD Table 1 8PIM: 8 PIM stacks (128 CUs, 650 MHz, 8 x 320 GB/s), host Host_8_1280."""
    return NodeConfig(
        host=host_8_1280(),  # pimjax choice, AMD Sec. 3 baseline host interface (1/2 in-stack)
        num_pims=8,  # AMD Table 1: "Number of DRAM stacks" 8; total DRAM BW 2560 GB/s
        pim=amd_pim(),  # AMD Sec. 3 / 6.1 / Table 1
        name="8PIM",
    )


HOST_PRESETS: tuple[str, ...] = (
    "Host_4_160", "Host_4_320", "Host_4_640", "Host_8_320", "Host_8_640", "Host_8_1280",
)
"""AMD Table 1 host configurations, in the table's order."""

NODE_PRESETS: tuple[str, ...] = ("4PIM", "8PIM")
"""AMD Table 1 PIM configurations."""
