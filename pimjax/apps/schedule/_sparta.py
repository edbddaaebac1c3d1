"""SPARTA, the second baseline of Memolution's Tables 1-3 and Fig. 10 (Sec. 4.2).

What the Memolution paper says about it (Sec. 4.2; SPARTA is Donyanavard et al., CODES+ISSS'16):

* "a throughput-aware task allocation approach for many-core platforms. SPARTA collects sensor
  data to characterize tasks and uses this information to prioritize tasks when performing
  allocation";
* "In order to make a fair comparison, SPARTA is combined with the retiming technique to
  preserve the data dependencies. The schemes LS, SPARTA, and our Memolution adopt the same
  input graphs";
* "the fine-grained reallocation of intermediate processing results are not performed in
  SPARTA. Therefore, it can not generate a good initial schedule for CNN applications";
* "it combines the simple retiming technique without applying any further optimization
  techniques. Therefore, SPARTA will introduce more retiming operations"; "the retiming value of
  SPARTA is not sensitive to the number of PEs" (Table 3).

The design below was fixed from that text before any SPARTA number was computed; every choice
the text leaves open is marked *(assumption)* and listed in :data:`ASSUMPTIONS`. It is not
tuned against the paper's tables.

1. **Characterize.** A task is one operation of one image. Its characteristic is its measured
   cost, the execution time ``c_i`` of the graph (pimjax's cost model stands in for SPARTA's
   sensor readings) *(assumption: no other sensed quantity; the PEs are identical, so SPARTA's
   per-core-type prediction reduces to ``c_i``)*.
2. **Prioritize.** Tasks in descending ``c_i`` (ties: topological position, then image).
3. **Allocate (throughput-aware).** Each task in priority order goes to the PE with the least
   load so far (ties: lowest index) and runs there after the tasks already on it: longest
   processing time first, the classic throughput (period-minimizing) allocation *(assumption:
   the allocation heuristic)*. An iteration allocates the images of one iteration of the paper's
   LS (``batch`` = ``N_g`` in :func:`~pimjax.apps.schedule.compare`), "the same input graphs"
   *(assumption: images per iteration)*. The iteration repeats with period ``p`` = the largest
   PE load; data dependencies play no part in the allocation.
4. **Simple retiming.** An intermediate result ``I_ij`` whose consumer starts before the
   producer's result can arrive is served from an earlier iteration: ``R(i) - R(j) >=
   d_ij = max(0, ceil((f_i + L_RAM(I_ij) - s_j) / p))`` (Definition 2.3, Property 3.2
   generalized to more than one period); ``R`` is the smallest retiming that meets every
   ``d_ij`` (reverse topological order, ``R = 0`` for operations that feed only the outputs).
   The latency is ``L_RAM`` for every result *(assumption: without reallocation of the results,
   a retiming must hold wherever the result ends up)*.
5. **Results, no reallocation.** First come, first served: in order of write time (ties: image,
   edge) each intermediate result goes to the shared buffer if it fits there for its whole
   steady-state lifetime ``[f_i - R(i) p, s_j - R(j) p)`` next to those already placed, else to
   eDRAM; a placement is never revisited *(assumption: the greedy order)*.

The explicit schedule repeats the iteration: image ``b`` of round ``r`` runs operation ``v`` on
its PE from ``r p + s_v - R(v) p``; the prologue is ``R_max p``. Retimings (Table 3) = the sum of
``R`` over the operations of one iteration (Definition 2.3), ``info["retimings_per_image"]`` per
image (the unit pimjax compares, since the images per iteration differ between schedulers).

>>> from pimjax.apps.schedule import DataFlowGraph, ScheduleConfig
>>> g = DataFlowGraph.from_edges({"a": 1, "b": 3}, [("a", "b", 1, 0, 0)])
>>> s = sparta_schedule(g, ScheduleConfig(num_pes=2, buffer_bytes=8, images=4), batch=1)
>>> s.period, s.retimings, s.r_max, s.total_time
(3, 1, 1, 15)
"""

from __future__ import annotations

import heapq

import numpy as np

from pimjax.apps.schedule._config import ScheduleConfig
from pimjax.apps.schedule._graph import DataFlowGraph
from pimjax.apps.schedule._result import BUFFER, EDRAM, Schedule

#: The choices the paper leaves open (module docstring), for the fidelity rows.
ASSUMPTIONS: tuple[str, ...] = (
    "SPARTA: a task = one operation of one image, characterized by its modelled time c_i "
    "(pimjax's cost model stands in for SPARTA's sensor data)",
    "SPARTA: allocation = longest time first to the least-loaded PE (throughput-aware); tasks run "
    "on a PE in allocation order; one iteration = the images of one LS iteration (N_g)",
    "SPARTA: simple retiming R(i) - R(j) >= ceil((f_i + L_RAM - s_j) / p) for every result (no "
    "reallocation of results); results to the buffer first come, first served, else eDRAM",
)


class _Phases:
    """Steady-state buffer requirement over the phases ``[0, p)``, on fixed breakpoints."""

    def __init__(self, points: np.ndarray, p: int) -> None:
        self.p = p
        self.t = np.unique(np.concatenate([np.mod(points, p), np.array([0], np.int64)]))
        self.occ = np.zeros(self.t.size, np.int64)  # requirement on [t[i], t[i + 1]) (last: up to p)

    def _ranges(self, w: int, span: int) -> tuple[int, list[tuple[int, int]]]:
        full, rem = divmod(span, self.p)
        a = w % self.p
        b = a + rem
        idx = lambda x: int(np.searchsorted(self.t, x))  # noqa: E731 - every endpoint is a breakpoint
        if b <= self.p:
            return full, [(idx(a), idx(b) if b < self.p else self.t.size)]
        return full, [(idx(a), self.t.size), (0, idx(b - self.p))]

    def fits(self, w: int, span: int, size: int, capacity: int) -> bool:
        full, rs = self._ranges(w, span)
        peak = int(self.occ.max()) + full * size if full else 0
        for i, j in rs:
            if j > i:
                peak = max(peak, int(self.occ[i:j].max()) + (full + 1) * size)
        return peak <= capacity

    def add(self, w: int, span: int, size: int) -> None:
        full, rs = self._ranges(w, span)
        if full:
            self.occ += full * size
        for i, j in rs:
            self.occ[i:j] += size


def _allocate(g: DataFlowGraph, num_pes: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Steps 1-3: start, end and PE of every (image of the iteration, vertex); the period."""
    nv = len(g.vertices)
    pos = {v: i for i, v in enumerate(g.topo)}
    ops = [v for v in g.topo if v not in (g.source, g.sink)]
    tasks = sorted(((b, v) for b in range(k) for v in ops), key=lambda t: (-g.times[t[1]], pos[t[1]], t[0]))
    st = np.zeros((k, nv), np.int64)
    pe = np.full((k, nv), -1, np.int64)
    loads = [(0, q) for q in range(num_pes)]  # (load, PE): a heap, least load and lowest index first
    for b, v in tasks:
        load, q = heapq.heappop(loads)
        st[b, v], pe[b, v] = load, q
        heapq.heappush(loads, (load + g.times[v], q))
    fin = st + np.asarray(g.times, np.int64)[None, :]
    return st, fin, pe, max(1, max(load for load, _ in loads))


def _retime(g: DataFlowGraph, st: np.ndarray, fin: np.ndarray, p: int) -> np.ndarray:
    """Step 4: the smallest retiming with ``R(i) - R(j) >= d_ij`` for every intermediate result."""
    k, nv = st.shape
    R = np.zeros((k, nv), np.int64)
    for v in reversed(g.topo):
        if v in (g.source, g.sink):
            continue
        for e in g.out_edges[v]:
            j = g.e_dst[e]
            if j == g.sink:
                continue
            d = np.maximum(0, -((st[:, j] - fin[:, v] - g.e_lram[e]) // p))  # ceil((f + L - s) / p)
            R[:, v] = np.maximum(R[:, v], R[:, j] + d)
    return R


def sparta_schedule(graph: DataFlowGraph, config: ScheduleConfig, *, batch: int) -> Schedule:
    """Schedule ``config.images`` images of ``graph`` with the SPARTA baseline (module docstring).

    Args:
      graph: the data-flow graph of one image.
      config: PEs, buffer capacity and number of images.
      batch: images per iteration (``>= 1``; :func:`~pimjax.apps.schedule.compare` passes the
        paper's LS iteration, ``N_g``).

    Returns:
      The explicit :class:`~pimjax.apps.schedule.Schedule` (``scheduler="sparta"``).
    """
    if not isinstance(graph, DataFlowGraph):
        raise TypeError(f"graph must be a DataFlowGraph, got {type(graph).__name__}")
    if not isinstance(config, ScheduleConfig):
        raise TypeError(f"config must be a ScheduleConfig, got {type(config).__name__}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    g = graph
    nv, ne = len(g.vertices), len(g.edges)
    k = min(batch, config.images)
    st, fin, pe, p = _allocate(g, config.num_pes, k)
    R = _retime(g, st, fin, p)
    rs, rf = st - R * p, fin - R * p  # start / end relative to the round's base
    # step 5: first come, first served into the buffer (steady-state lifetimes)
    inter = [e for e in range(ne) if g.is_intermediate(e) and g.e_dst[e] != g.sink]
    place = np.full((k, ne), EDRAM, np.int64)
    if inter and config.buffer_bytes > 0:
        ea = np.array(inter, np.int64)
        src, dst = np.asarray(g.e_src, np.int64)[ea], np.asarray(g.e_dst, np.int64)[ea]
        w, r = rf[:, src], rs[:, dst]  # (k, results)
        ph = _Phases(np.concatenate([w.ravel(), r.ravel()]), p)
        bi, ci = np.meshgrid(np.arange(k), np.arange(ea.size), indexing="ij")
        for n in np.lexsort((ea[ci.ravel()], bi.ravel(), w.ravel())):
            b, c = int(bi.ravel()[n]), int(ci.ravel()[n])
            size, span = int(g.e_bytes[ea[c]]), int(r[b, c] - w[b, c])
            if span > 0 and ph.fits(int(w[b, c]), span, size, config.buffer_bytes):
                ph.add(int(w[b, c]), span, size)
                place[b, ea[c]] = BUFFER
    # the explicit schedule of every image
    ops = np.array([v for v in range(nv) if v not in (g.source, g.sink)], np.int64)
    src_e = [e for e in range(ne) if g.e_src[e] == g.source]
    snk_e = [e for e in range(ne) if g.e_dst[e] == g.sink]
    images, rounds = config.images, -(-config.images // k)
    runs, trs, srcs, snks = [], [], [], []
    for b in range(k):
        s_t = min(int(rs[b, g.e_dst[e]]) - g.e_lram[e] for e in src_e) if src_e else 0
        k_t = max(int(rf[b, g.e_src[e]]) + g.e_lram[e] for e in snk_e) if snk_e else s_t
        wr = np.array([s_t if g.e_src[e] == g.source else rf[b, g.e_src[e]] for e in range(ne)], np.int64)
        rd = np.array([k_t if g.e_dst[e] == g.sink else rs[b, g.e_dst[e]] for e in range(ne)], np.int64)
        ret = np.array([0 if g.e_src[e] == g.source or g.e_dst[e] == g.sink else R[b, g.e_src[e]] - R[b, g.e_dst[e]]
                        for e in range(ne)], np.int64)
        for rnd in range(rounds):
            img = rnd * k + b
            if img >= images:
                continue
            base = rnd * p
            runs.append(np.stack([np.full(ops.size, img), ops, pe[b, ops], base + rs[b, ops], base + rf[b, ops]], 1))
            trs.append(np.stack([np.full(ne, img), np.arange(ne), place[b], base + wr, base + rd, ret], 1))
            srcs.append((img, base + s_t))
            snks.append((img, base + k_t))
    runs_a, trs_a = np.concatenate(runs).astype(np.int64), np.concatenate(trs).astype(np.int64)
    src_a, snk_a = np.array(sorted(srcs), np.int64), np.array(sorted(snks), np.int64)
    t0 = int(src_a[:, 1].min())
    for a, cols in ((runs_a, slice(3, 5)), (trs_a, slice(3, 5)), (src_a, slice(1, 2)), (snk_a, slice(1, 2))):
        a[:, cols] -= t0
    runs_a = runs_a[np.lexsort((runs_a[:, 1], runs_a[:, 0]))]
    trs_a = trs_a[np.lexsort((trs_a[:, 1], trs_a[:, 0]))]
    r_ops = R[:, ops]
    r_max = int(r_ops.max(initial=0))
    return Schedule(
        scheduler="sparta", graph=g, num_pes=config.num_pes, buffer_bytes=config.buffer_bytes, images=images,
        run_image=runs_a[:, 0], run_vertex=runs_a[:, 1], run_pe=runs_a[:, 2], run_start=runs_a[:, 3],
        run_end=runs_a[:, 4], tr_image=trs_a[:, 0], tr_edge=trs_a[:, 1], tr_place=trs_a[:, 2], tr_write=trs_a[:, 3],
        tr_read=trs_a[:, 4], tr_retiming=trs_a[:, 5], source_time=src_a[:, 1], sink_time=snk_a[:, 1],
        period=int(p), prologue=r_max * int(p), r_max=r_max, retimings=int(r_ops.sum()),
        info={"batch": k, "rounds": rounds, "retimings_per_image": float(r_ops.sum()) / k,
              "period_utilization": float(k * g.work) / (config.num_pes * p)},
    )
