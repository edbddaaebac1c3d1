"""Configs of a multi-slice system: interconnect, aggregation engine, activation LUT, system.

Memory Slices sections 3.2 and 4.1-4.2 (Fig. 5-6): K is split across slices; every slice sends
its partial sums as packets over a wormhole-switched interconnect (ICN) to the slice that owns
the output block, whose aggregation engine adds them and applies the activation when the last
one arrives. docs/design.md section 2 step 4 fixes the arithmetic.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from pimjax._checks import int_field
from pimjax.hw._array import ArrayConfig
from pimjax.hw._memory import HMC2_VAULT, EnergyConfig, MemoryConfig
from pimjax.numerics import ROUNDING_MODES, FixedFormat, FloatFormat, check_format

TOPOLOGIES: tuple[str, ...] = ("mesh", "ring", "crossbar")
PARTITIONINGS: tuple[str, ...] = ("k_split", "partitions", "output_split")
WRITE_BACKS: tuple[str, ...] = ("overlapped", "after_compute")
"""How the cost model places a matmul's work on the slices (see :class:`SystemConfig`)."""
OWNERSHIPS: tuple[str, ...] = ("tile", "diagonal")
"""Who aggregates an output tile's partial sums (see :class:`SystemConfig`)."""
SYSTEM_ACTIVATIONS: tuple[str, ...] = ("identity", "relu", "tanh", "sigmoid")


def _kib(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 1e9:
        raise ValueError(f"{name} must be a number of KiB in [0, 1e9], got {v!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class InterconnectConfig:
    """The inter-slice network (ICN) and its packet format.

    Args:
      topology: ``"mesh"`` (2-D, XY routing, slices row-major on a ``mesh_width``-wide grid),
        ``"ring"`` (bidirectional, shortest way) or ``"crossbar"`` (one hop between slices).
      mesh_width: columns of the mesh (default: ``ceil(sqrt(num_slices))``).
      payload_bytes: payload of one packet; elements per packet = payload // element bytes
        (coalescing, Memory Slices Sec. 3.2).
      header_bytes: header of one packet, holding the first element's index and the element
        count (first-index addressing, Memory Slices Fig. 6 step 5).
      link_bytes_per_cycle: bytes a link moves per ICN cycle.
      hop_latency: cycles per router hop.
    """

    topology: str = "mesh"
    mesh_width: int | None = None
    payload_bytes: int = 64
    header_bytes: int = 8
    link_bytes_per_cycle: int = 16
    hop_latency: int = 2

    def __post_init__(self) -> None:
        if self.topology not in TOPOLOGIES:
            raise ValueError(f"InterconnectConfig.topology must be one of {TOPOLOGIES}, got {self.topology!r}")
        if self.mesh_width is not None:
            int_field(self, "mesh_width", 1, 1 << 16)
        int_field(self, "payload_bytes", 1, 1 << 20)
        int_field(self, "header_bytes", 0, 1 << 10)
        int_field(self, "link_bytes_per_cycle", 1, 1 << 16)
        int_field(self, "hop_latency", 0, 1 << 10)

    def hops(self, src: int, dst: int, num_slices: int) -> int:
        """Router hops from slice ``src`` to slice ``dst`` (0 when local)."""
        if src == dst:
            return 0
        if self.topology == "crossbar":
            return 1
        if self.topology == "ring":
            d = abs(src - dst)
            return min(d, num_slices - d)
        w = self.mesh_width or math.ceil(math.sqrt(num_slices))
        return abs(src % w - dst % w) + abs(src // w - dst // w)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LUTConfig:
    """A lookup table for an activation f(x) (or its derivative), NeuroTrainer PMAG (Sec. 2).

    ``size`` entries cover ``[x_min, x_max)`` in equal steps; entry ``i`` holds
    ``f(x_min + (i + 0.5) * step)`` quantized to ``entry_format`` (nearest even). Inputs
    below/above the range use the first/last entry. ``size`` is a power of two and the bounds
    are multiples of ``2**-24``. The index ``floor((x - x_min) / step)`` is exact for every input
    (:func:`pimjax.units.lut_index` compares ``x`` with the exact step edges).
    """

    size: int = 256
    x_min: float = -8.0
    x_max: float = 8.0
    entry_format: FixedFormat | FloatFormat = FixedFormat(bits=16, frac=12)

    def __post_init__(self) -> None:
        int_field(self, "size", 2, 1 << 20)
        if self.size & (self.size - 1):
            raise ValueError(f"LUTConfig.size must be a power of two, got {self.size}")
        for f in ("x_min", "x_max"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise TypeError(f"LUTConfig.{f} must be a finite number, got {v!r}")
            if float(v) * 2**24 != int(float(v) * 2**24):
                raise ValueError(f"LUTConfig.{f} must be a multiple of 2**-24, got {v!r}")
        if not self.x_min < self.x_max:
            raise ValueError(f"LUTConfig.x_min must be < x_max, got {self.x_min} >= {self.x_max}")
        check_format("LUTConfig.entry_format", self.entry_format)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AggregationConfig:
    """The aggregation engine of the slice owning an output block (docs/design.md section 2 step 4-5).

    Packets arrive with each slice's final accumulator requantized to ``packet_format``
    (``packet_rounding``); the engine adds them in ascending slice index into
    ``accumulator_format`` (overflow after each addition; it keeps the packet's fraction bits),
    applies ``activation`` (exact, or through ``lut``) and requantizes to ``output_format``.
    ``None`` formats are exact (``packet_format=None`` sends the slice accumulator as is).

    ``buffer_kib`` (cost model only): on-chip storage of the engine for the running sums of the
    output block being aggregated. When a block's sums fit, each arriving partial sum is added
    on chip and only the final output is written to the slice's memory; when they do not
    (``0``: no buffer), every partial sum after the first is a read-modify-write of the slice's
    memory (Memory Slices Fig. 6 steps 8-9). The paper gives no size (pimjax assumption).
    """

    packet_format: FixedFormat | FloatFormat | None
    accumulator_format: FixedFormat | FloatFormat
    output_format: FixedFormat | FloatFormat | None
    packet_rounding: str = "nearest_even"
    output_rounding: str = "nearest_even"
    activation: str = "identity"
    lut: LUTConfig | None = None
    buffer_kib: float = 0.0

    def __post_init__(self) -> None:
        _kib("AggregationConfig.buffer_kib", self.buffer_kib)
        check_format("AggregationConfig.packet_format", self.packet_format, allow_exact=True)
        check_format("AggregationConfig.accumulator_format", self.accumulator_format)
        check_format("AggregationConfig.output_format", self.output_format, allow_exact=True)
        for f in ("packet_rounding", "output_rounding"):
            if getattr(self, f) not in ROUNDING_MODES:
                raise ValueError(f"AggregationConfig.{f} must be one of {ROUNDING_MODES}, got {getattr(self, f)!r}")
        if self.activation not in SYSTEM_ACTIVATIONS:
            raise ValueError(
                f"AggregationConfig.activation must be one of {SYSTEM_ACTIVATIONS}, got {self.activation!r}"
            )
        if self.lut is not None and not isinstance(self.lut, LUTConfig):
            raise TypeError("AggregationConfig.lut must be a LUTConfig or None")
        if self.lut is not None and self.activation == "identity":
            raise ValueError("AggregationConfig.lut needs a non-identity activation")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SystemConfig:
    """``num_slices`` memory slices, each with the same ``array``, an ICN and aggregation.

    The arrays' own output stage is not used in a system: each slice's accumulator goes out as
    packets. ``memory`` and ``energy`` feed the cost model; ``compute_scale`` > 1 models the
    balanced slices of Memory Slices Sec. 6 ("up to 2.5x compute units/slice"): the array's
    compute rate is scaled, the numerics are unchanged. For a fixed-point datapath the aggregation ``packet_format`` must be fixed point,
    and ``accumulator_format.frac`` must equal the packet's fraction bits.

    Cost-model fields (they change no result of :func:`pimjax.system.system_matmul`, whose
    numerics are those of the K-split of its :class:`~pimjax.system.Mapping`):

    * ``partitioning``: how the work of a matmul is placed on the slices.
      ``"k_split"``: as the mapping says (K-ranges per slice, every slice holds its K-range of
      every output tile; Memory Slices Fig. 5). ``"partitions"``: Memory Slices Sec. 4.1 and
      Table 4: B is cut into ``W x R`` partitions (one K-chunk of one output tile), dealt in
      order (tile by tile, K-chunks ascending) to the slices in contiguous, even runs, so a
      slice works on few tiles and an output tile is reduced by the few slices that hold its
      partitions. ``"output_split"``: NeuroTrainer Sec. 3.1 and 3.3 (the "hybrid data flow"):
      no reduction across PEs; the output rows (A larger than B, "small common data", e.g.
      convolutions) or columns (FC layers) are split over the PEs, each PE's ``rows`` MACs
      accumulate whole outputs in place (output stationary), the shared operand is
      broadcast from the common vault over the bus, and column-split outputs are merged back
      to it over the bus. Where the aggregation neither rounds nor saturates all three give
      the numbers ``system_matmul`` computes.
    * ``ownership``: who aggregates the partial sums of an output tile reduced by several
      slices. ``"tile"``: one owner per tile (``Mapping.owners``; under ``"partitions"`` the
      first slice holding the tile). ``"diagonal"``: the tile's diagonals, the elements the
      adder trees emit in one cycle that travel in one packet (Memory Slices Sec. 3.2, Fig. 6
      step 5), are owned round-robin by the slices that reduce the tile, so aggregation work,
      memory writes and network ejection spread evenly over them.
    * ``weight_buffer_kib``: on-slice storage for weights (B) besides register B. A slice's
      share of B that fits (with the shares of the layers interleaved with it) stays resident
      across M row blocks and across consecutive calls with the same weights (an LSTM layer's
      time steps) and is not read from memory again; a share of one partition stays in
      register B itself, without a buffer.
    * ``write_back`` (``"output_split"`` only): ``"overlapped"``: a PE's output writes overlap its
      compute (``time = max(compute, memory, bus)``); ``"after_compute"`` (NeuroTrainer presets):
      the output-stationary MACs hold their outputs until the last K step, then each PE writes
      its row-split outputs to its vault and all PEs merge their column-split outputs to the
      common vault over the one bus (Sec. 3.4: "all 15 PEs request BUS for writing-back
      simultaneously"), after the compute: NeuroTrainer Sec. 5.1's FC3 BP bottleneck ("writing
      back becomes bottleneck") and FC UP ("high network traffic between PE and independent vault").
    """

    array: ArrayConfig
    num_slices: int
    aggregation: AggregationConfig
    interconnect: InterconnectConfig = InterconnectConfig()
    memory: MemoryConfig = HMC2_VAULT
    energy: EnergyConfig = EnergyConfig()
    compute_scale: float = 1.0
    partitioning: str = "k_split"
    ownership: str = "tile"
    weight_buffer_kib: float = 0.0
    write_back: str = "overlapped"
    name: str = ""

    def __post_init__(self) -> None:
        if self.partitioning not in PARTITIONINGS:
            raise ValueError(f"SystemConfig.partitioning must be one of {PARTITIONINGS}, got {self.partitioning!r}")
        if self.ownership not in OWNERSHIPS:
            raise ValueError(f"SystemConfig.ownership must be one of {OWNERSHIPS}, got {self.ownership!r}")
        _kib("SystemConfig.weight_buffer_kib", self.weight_buffer_kib)
        if self.write_back not in WRITE_BACKS:
            raise ValueError(f"SystemConfig.write_back must be one of {WRITE_BACKS}, got {self.write_back!r}")
        if not isinstance(self.array, ArrayConfig):
            raise TypeError("SystemConfig.array must be an ArrayConfig")
        int_field(self, "num_slices", 1, 1 << 16)
        if not isinstance(self.aggregation, AggregationConfig):
            raise TypeError("SystemConfig.aggregation must be an AggregationConfig")
        if not isinstance(self.interconnect, InterconnectConfig):
            raise TypeError("SystemConfig.interconnect must be an InterconnectConfig")
        if not isinstance(self.memory, MemoryConfig):
            raise TypeError("SystemConfig.memory must be a MemoryConfig")
        if not isinstance(self.energy, EnergyConfig):
            raise TypeError("SystemConfig.energy must be an EnergyConfig")
        cs = self.compute_scale
        if isinstance(cs, bool) or not isinstance(cs, (int, float)) or not 1.0 <= cs <= 64.0:
            raise ValueError(f"SystemConfig.compute_scale must be a number in [1, 64], got {cs!r}")
        agg = self.aggregation
        if (not self.array.is_float and agg.activation in ("tanh", "sigmoid") and agg.lut is None
                and agg.output_format is None):
            raise ValueError(
                f"AggregationConfig.output_format must be set for activation {agg.activation!r} "
                "on a fixed-point datapath (its result is not an integer code)"
            )
        fmts = [agg.packet_format, agg.accumulator_format, agg.output_format]
        want = FloatFormat if self.array.is_float else FixedFormat
        for f in fmts:
            if f is not None and not isinstance(f, want):
                raise TypeError(
                    f"SystemConfig.aggregation formats must be {want.__name__} for this array's datapath, got {f}"
                )
        if self.array.is_float:
            for f in ("packet_rounding", "output_rounding"):
                if getattr(agg, f) != "nearest_even":
                    raise ValueError(
                        f"AggregationConfig.{f} must be 'nearest_even' for a float datapath "
                        f"(every float stage rounds to nearest even), got {getattr(agg, f)!r}"
                    )
        if not self.array.is_float and agg.accumulator_format.frac != self.packet_frac:
            raise ValueError(
                f"AggregationConfig.accumulator_format.frac must equal the packets' fraction bits "
                f"{self.packet_frac} (the aggregation accumulator keeps the packet's fraction), "
                f"got {agg.accumulator_format.frac}"
            )

    @property
    def packet_frac(self) -> int:
        pf = self.aggregation.packet_format
        return self.array.tree_frac if pf is None else pf.frac

    @property
    def packet_element_bytes(self) -> int:
        """Bytes of one partial sum in a packet."""
        pf = self.aggregation.packet_format or self.array.accumulator_format
        return max(1, -(-int(pf.bits) // 8))

    def replace(self, **changes: Any) -> "SystemConfig":
        return dataclasses.replace(self, **changes)
