"""What a scheduler returns: every operation run and every intermediate result, explicitly.

A :class:`Schedule` lists, for all images of the run,

* one *run* per (image, operation): its PE, start and end tick (``end - start`` is the
  operation's execution time ``c_i``);
* one *transfer* per (image, edge): where the result lived (``"buffer"``, ``"edram"``, or
  ``"pe"`` for the results inside a merged Memolution vertex that never leave the PE, Sec. 3.3),
  and the ticks at which it was written and read: the shared buffer holds ``bytes`` during
  ``[write, read)``;
* per image, the tick of its ``source`` (the image starts being read) and of its ``sink`` (the
  last output is written back);
* Memolution's periodic quantities: period ``p``, ``R_max``, prologue ``R_max * p``, the
  number of retimings, and per transfer the relative retiming ``R(i) - R(j)`` (Theorem 3.1).

Times are integer ticks of ``graph.time_unit_s``. The total time of the run is ``max(sink) -
min(source)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from pimjax.apps.schedule._graph import DataFlowGraph

PLACES: tuple[str, ...] = ("buffer", "edram", "pe")
BUFFER, EDRAM, ON_PE = 0, 1, 2


def step_profile(starts: np.ndarray, ends: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The step function ``sum(size for start <= t < end)`` of half-open intervals.

    Args:
      starts, ends, sizes: one entry per interval (empty intervals are ignored).

    Returns:
      ``(times, values)``: ``values[i]`` holds on ``[times[i], times[i + 1])``; 0 before
      ``times[0]`` and after the last time.

    >>> step_profile([0, 1], [2, 3], [5, 7])
    (array([0, 1, 2, 3]), array([ 5, 12,  7,  0]))
    """
    starts = np.asarray(starts, np.int64)
    ends = np.asarray(ends, np.int64)
    sizes = np.asarray(sizes, np.int64)
    keep = ends > starts
    starts, ends, sizes = starts[keep], ends[keep], sizes[keep]
    if starts.size == 0:
        return np.zeros(1, np.int64), np.zeros(1, np.int64)
    t = np.concatenate([starts, ends])
    d = np.concatenate([sizes, -sizes])
    order = np.argsort(t, kind="stable")
    t, d = t[order], d[order]
    uniq, first = np.unique(t, return_index=True)
    sums = np.add.reduceat(d, first)
    return uniq, np.cumsum(sums)


@dataclasses.dataclass(frozen=True, eq=False)
class Schedule:
    """An explicit schedule of ``images`` iterations of ``graph`` on ``num_pes`` PEs.

    Array fields (``numpy`` int64): runs ``run_image``, ``run_vertex``, ``run_pe``,
    ``run_start``, ``run_end``; transfers ``tr_image``, ``tr_edge``, ``tr_place`` (0 buffer,
    1 eDRAM, 2 on the PE), ``tr_write``, ``tr_read``, ``tr_retiming`` (``R(i) - R(j)``);
    per image ``source_time`` and ``sink_time``.
    """

    scheduler: str
    graph: DataFlowGraph
    num_pes: int
    buffer_bytes: int
    images: int
    run_image: np.ndarray
    run_vertex: np.ndarray
    run_pe: np.ndarray
    run_start: np.ndarray
    run_end: np.ndarray
    tr_image: np.ndarray
    tr_edge: np.ndarray
    tr_place: np.ndarray
    tr_write: np.ndarray
    tr_read: np.ndarray
    tr_retiming: np.ndarray
    source_time: np.ndarray
    sink_time: np.ndarray
    period: int
    prologue: int = 0
    r_max: int = 0
    retimings: int = 0
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    # ------------------------------------------------------------------------------------------
    @property
    def total_time(self) -> int:
        """Ticks from the first image's source to the last image's sink."""
        return int(self.sink_time.max() - self.source_time.min())

    @property
    def total_time_s(self) -> float:
        """:attr:`total_time` in seconds."""
        return self.total_time * self.graph.time_unit_s

    @property
    def tr_bytes(self) -> np.ndarray:
        """Bytes of each transfer's result."""
        return np.asarray(self.graph.e_bytes, np.int64)[self.tr_edge]

    def occupancy(self) -> tuple[np.ndarray, np.ndarray]:
        """Shared-buffer bytes over time: ``(times, bytes)`` (see :func:`step_profile`)."""
        m = self.tr_place == BUFFER
        return step_profile(self.tr_write[m], self.tr_read[m], self.tr_bytes[m])

    @property
    def peak_buffer(self) -> int:
        """Largest shared-buffer occupancy in bytes."""
        return int(self.occupancy()[1].max(initial=0))

    def _intermediate_mask(self) -> np.ndarray:
        g = self.graph
        inter = np.array([g.is_intermediate(e) for e in range(len(g.edges))], bool)
        return inter[self.tr_edge] if len(g.edges) else np.zeros(0, bool)

    def place_counts(self) -> dict[str, float]:
        """Intermediate results per image by where they lived (Table 2 counts ``buffer``), and
        the fraction of intermediate bytes that stayed out of eDRAM."""
        m = self._intermediate_mask()
        places = self.tr_place[m]
        b = self.tr_bytes[m]
        out = {p: float(np.sum(places == i)) / self.images for i, p in enumerate(PLACES)}
        tot = float(b.sum())
        out["bytes_not_edram"] = float(b[places != EDRAM].sum()) / tot if tot else 1.0
        return out

    @property
    def utilization(self) -> float:
        """Busy PE time over ``num_pes x total_time``."""
        busy = float(np.sum(self.run_end - self.run_start))
        return busy / (self.num_pes * self.total_time) if self.total_time else 0.0

    @property
    def throughput(self) -> float:
        """Images per second."""
        return self.images / self.total_time_s if self.total_time else float("inf")

    def summary(self) -> dict[str, Any]:
        """The numbers of the paper's tables for this schedule, and a few more."""
        u = self.graph.time_unit_s
        pc = self.place_counts()
        return {
            "scheduler": self.scheduler, "pes": self.num_pes, "buffer_bytes": self.buffer_bytes,
            "images": self.images, "total_time_us": self.total_time * u * 1e6,
            "period_us": self.period * u * 1e6, "prologue_us": self.prologue * u * 1e6,
            "r_max": self.r_max, "retimings": self.retimings,
            "buffer_results_per_image": pc["buffer"], "edram_results_per_image": pc["edram"],
            "pe_results_per_image": pc["pe"], "bytes_not_edram": pc["bytes_not_edram"],
            "peak_buffer_bytes": self.peak_buffer, "utilization": self.utilization,
            **{k: v for k, v in self.info.items() if isinstance(v, (int, float, str, bool))},
        }
