"""A node of several identical slice systems under one host: data or model parallelism.

AMD multi-PIM paper Sec. 5.1-5.4 and Fig. 6: ``N`` PIM stacks under a host. With
*data parallelism* every unit holds the whole model (B) and works on its share of the batch
(A's rows), with no communication (Sec. 5.1). With *model parallelism* of an FC layer the
model is split (Sec. 5.4, Fig. 7): every unit computes the contribution of its share of the
input features (a range of K) to every output, and "this reduction across PIMs happens on
host. The host accesses each PIM's memory, performs the reduction, and writes the results
back to, for example, PIM0. The other PIMs can then fetch the results from PIM0." The same
K-split with K = batch is NeuroTrainer's synchronous data-parallel weight update (NeuroTrainer
Sec. 5.3, Fig. 17): each module computes dW on its share of the batch and a central unit sums
(averages) them.

Here every unit is a whole memory-slice system (:class:`~pimjax.hw.SystemConfig`) and the
host's reduction is an aggregation engine (:class:`~pimjax.hw.AggregationConfig`) whose
packets are the units' partial results; :func:`pimjax.system.parallel_matmul` fixes the
arithmetic. ``node`` (a :class:`~pimjax.hw.NodeConfig`) gives the host's FLOP rate and
bandwidths for the cost of the sync (:func:`pimjax.cost.parallel_cost`).

>>> from pimjax import hw
>>> from pimjax.numerics import fx
>>> unit = hw.presets.get("slices_hmc2")
>>> host = hw.AggregationConfig(packet_format=None, accumulator_format=fx(32, 8), output_format=fx(16, 8))
>>> cfg = hw.ParallelConfig(unit=unit, num_units=4, scheme="model", host=host)
>>> cfg.sync_node.name, cfg.sync_node.host.bandwidth_per_stack_gbps, cfg.partial_frac
('4PIM', 160.0, 8)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pimjax._checks import int_field
from pimjax.hw._pim import NodeConfig, _host, amd_pim, node_4pim, node_8pim
from pimjax.hw._system import AggregationConfig, SystemConfig
from pimjax.numerics import FixedFormat, FloatFormat

PARALLEL_SCHEMES: tuple[str, ...] = ("data", "model")
"""How a matmul is split over the units (see :class:`ParallelConfig`)."""

MAX_UNITS = 1024
"""The largest ``num_units``; unit ``u`` draws its random words from sub-stream ``u`` of the
key and the host from sub-stream ``MAX_UNITS`` (:func:`pimjax.system.parallel_matmul`)."""

# AMD Sec. 3: "We model the host memory interface on Hybrid Memory Cube (HMC) at 160 GB/s peak
# bandwidth per memory stack (i.e., 1/2 the internal bandwidth)": Table 1 Host_4_640 / Host_8_1280.
_HOST_GBPS_PER_STACK = 160.0
# AMD Table 1: 32 host CUs for 4 stacks, 64 for 8 (8 per stack; descriptive only).
_HOST_CUS_PER_STACK = 8


def amd_node(num_pims: int) -> NodeConfig:
    """The AMD node of ``num_pims`` stacks: Table 1 ``4PIM`` / ``8PIM`` for 4 / 8, else the same
    organisation with ``num_pims`` stacks (a pimjax extrapolation of Table 1).

    Each stack: the AMD PIM (650 GFLOPS, 320 GB/s in-stack, remote access at 1/8 = 40 GB/s:
    Sec. 3, 6.1, 6.4). The host: ``num_pims x 650`` GFLOPS (Sec. 6.1: "the peak FLOPS of the host
    GPU equal to the aggregate peak FLOPS of all PIM devices") and 160 GB/s per stack (Sec. 3,
    the HMC baseline, 1/2 of in-stack).

    >>> amd_node(2).host.peak_gflops, amd_node(2).host.bandwidth_gbps, amd_node(2).pim.remote_bandwidth_gbps
    (1300.0, 320.0, 40.0)
    """
    if num_pims == 4:
        return node_4pim()  # AMD Table 1 4PIM
    if num_pims == 8:
        return node_8pim()  # AMD Table 1 8PIM
    host = _host(num_pims, num_pims * _HOST_GBPS_PER_STACK, _HOST_CUS_PER_STACK * num_pims)
    return NodeConfig(host=host, num_pims=num_pims, pim=amd_pim(), name=f"{num_pims}PIM")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ParallelConfig:
    """``num_units`` identical slice systems under a host that reduces their partial sums.

    Args:
      unit: every unit's system (its slices, mapping rule, aggregation, memory and energy).
      num_units: units in the node, ``1..1024``.
      scheme: ``"data"`` (A's rows split, B replicated: AMD Sec. 5.1) or ``"model"`` (K split,
        partial sums reduced on the host: AMD Sec. 5.4, NeuroTrainer Sec. 5.3).
      host: the host's reduction (``"model"`` only, required there; ``None`` for ``"data"``):
        ``packet_format`` is the format the host reads each unit's partial in
        (``packet_rounding``; ``None``: as the unit wrote it), ``accumulator_format`` the sum's
        format (overflow after every addition, in ascending unit index), then ``activation``
        (exact, or through ``lut``) and ``output_format`` (``output_rounding``). Its
        ``buffer_kib`` is not used.
      node: host FLOP rate and bandwidths for the sync cost; ``num_pims`` must equal
        ``num_units``. Default: :func:`amd_node` (:attr:`sync_node`).
      name: label for reports.

    For ``"model"``, the unit's aggregation must pass its sum on as is: activation
    ``"identity"`` and no LUT (the activation is the host's, applied after the reduction). The
    host's formats must be of the unit's datapath (fixed or float); on a fixed-point datapath
    ``host.accumulator_format.frac`` must equal the fraction bits of the packets the host adds
    (``host.packet_format.frac``, or :attr:`partial_frac` when that is ``None``), and tanh /
    sigmoid without a LUT need an ``output_format``; on a float datapath every host rounding is
    ``"nearest_even"``.

    Raises:
      TypeError: a field of the wrong type.
      ValueError: a field out of range or inconsistent with the others (the message names it).
    """

    unit: SystemConfig
    num_units: int
    scheme: str = "model"
    host: AggregationConfig | None = None
    node: NodeConfig | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.unit, SystemConfig):
            raise TypeError(f"ParallelConfig.unit must be a SystemConfig, got {type(self.unit).__name__}")
        int_field(self, "num_units", 1, MAX_UNITS)
        if self.scheme not in PARALLEL_SCHEMES:
            raise ValueError(f"ParallelConfig.scheme must be one of {PARALLEL_SCHEMES}, got {self.scheme!r}")
        if not isinstance(self.name, str):
            raise TypeError(f"ParallelConfig.name must be a str, got {type(self.name).__name__}")
        if self.node is not None:
            if not isinstance(self.node, NodeConfig):
                raise TypeError(f"ParallelConfig.node must be a NodeConfig or None, got {type(self.node).__name__}")
            if self.node.num_pims != self.num_units:
                raise ValueError(f"ParallelConfig.node.num_pims ({self.node.num_pims}) must equal "
                                 f"ParallelConfig.num_units ({self.num_units}): one stack per unit")
        if self.scheme == "data":
            if self.host is not None:
                raise ValueError("ParallelConfig.host must be None for scheme 'data' (no reduction: each unit "
                                 "writes its own rows of the output)")
            return
        if self.host is None:
            raise ValueError("ParallelConfig.host must be an AggregationConfig for scheme 'model' "
                             "(the host reduces the units' partial sums)")
        if not isinstance(self.host, AggregationConfig):
            raise TypeError(f"ParallelConfig.host must be an AggregationConfig, got {type(self.host).__name__}")
        uagg = self.unit.aggregation
        if uagg.activation != "identity" or uagg.lut is not None:
            raise ValueError(
                "ParallelConfig.unit.aggregation.activation must be 'identity' with no lut for scheme 'model' "
                f"(a unit sends a partial sum; the host applies the activation), got {uagg.activation!r}"
                + (" with a lut" if uagg.lut is not None else ""))
        self._check_host()

    def _check_host(self) -> None:
        h = self.host
        is_float = self.unit.array.is_float
        kind = FloatFormat if is_float else FixedFormat
        for f in ("packet_format", "accumulator_format", "output_format"):
            fmt = getattr(h, f)
            if fmt is not None and not isinstance(fmt, kind):
                raise TypeError(f"ParallelConfig.host.{f} must be a {kind.__name__} (the unit's datapath), got {fmt}")
        if is_float:
            for f in ("packet_rounding", "output_rounding"):
                if getattr(h, f) != "nearest_even":
                    raise ValueError(f"ParallelConfig.host.{f} must be 'nearest_even' on a float datapath, "
                                     f"got {getattr(h, f)!r}")
            return
        if h.activation in ("tanh", "sigmoid") and h.lut is None and h.output_format is None:
            raise ValueError(f"ParallelConfig.host.output_format must be set for activation {h.activation!r} "
                             "without a lut on a fixed-point datapath (its result is not an integer code)")
        want = self.partial_frac if h.packet_format is None else int(h.packet_format.frac)
        if int(h.accumulator_format.frac) != want:
            raise ValueError(
                f"ParallelConfig.host.accumulator_format.frac must equal the fraction bits of the packets it adds, "
                f"{want} (the host accumulator keeps the packet's fraction), got {h.accumulator_format.frac}")

    @property
    def partial_frac(self) -> int:
        """Fraction bits of a unit's output codes (fixed point): its aggregation output format's,
        or, when that is exact, its aggregation accumulator's."""
        agg = self.unit.aggregation
        fmt = agg.output_format if agg.output_format is not None else agg.accumulator_format
        return int(getattr(fmt, "frac", 0))

    @property
    def sync_node(self) -> NodeConfig:
        """``node``, or :func:`amd_node` of ``num_units`` stacks."""
        return self.node if self.node is not None else amd_node(self.num_units)

    def replace(self, **changes: Any) -> "ParallelConfig":
        """``dataclasses.replace`` with validation."""
        return dataclasses.replace(self, **changes)


__all__ = ["MAX_UNITS", "PARALLEL_SCHEMES", "ParallelConfig", "amd_node"]
