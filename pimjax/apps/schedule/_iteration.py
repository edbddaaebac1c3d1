"""The iteration of one PE group: phase, rotation and insertion (Memolution Sec. 3.3, Fig. 6-7).

* **Phase** (Definition 2.1, Fig. 6): two processing procedures (images ``A``, ``B``) are
  interleaved on a group of ``q`` PEs. Vertices that have a mirrored twin (same layer, same
  in/out degree, same time: the "symmetrical structure" of Fig. 5(c)) run ``T^A`` immediately
  followed by ``T^B`` on the same PE ("T_a is immediately followed by another T_a from another
  processing procedure"); the others ("individual vertices") run their two copies wherever the
  policy puts them. The paper leaves the policy open; pimjax list-schedules by b-level (highest
  first), each unit on the PE where it can start first, with ``L_cache`` on every intermediate
  result (Sec. 3.4: the initial schedule is the best case in which the buffer holds
  everything) and ``L_RAM`` on the dummies' edges and on results pinned to eDRAM.
* **Rotation and insertion** (Fig. 6-7): the complement phase (images ``C``, ``D``) reuses the
  phase's allocation with PEs rotated by ``sigma`` (PE ``x`` -> ``x + sigma mod q``); its units
  are inserted in the phase's allocation order (start time; a unit waits for the units of its
  predecessors), each at the earliest idle gap of its PE where its inputs have arrived.
* **Iteration** (Definition 2.2): the two phases, 4 images (:data:`PROCS`) per group. pimjax
  tries every rotation (up to ``max_rotations``) and keeps the shortest iteration. The iteration
  repeats every period ``p`` = its length (Sec. 3.3: "repeatedly executed in the successive time
  slot"), at least ``max(L_RAM - L_cache)`` over the intermediate results so that Theorem 3.1
  holds (see :mod:`pimjax.apps.schedule._retiming`).
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq

import numpy as np

from pimjax.apps.schedule._merge import MergedGraph

PROCS = 4  # images per iteration: two phases of two interleaved processing procedures


@dataclasses.dataclass(frozen=True, eq=False)
class Iteration:
    """One iteration of a PE group: the 4 images' instances of every merged vertex.

    Attributes:
      start: ``(M, PROCS)`` start offset of each merged vertex instance in the iteration.
      pe: ``(M, PROCS)`` its PE in the group (``0..q-1``).
      sink_off: ``(PROCS,)`` when each image's last output is written.
      makespan: length of the iteration.
      period: ``p``, ``max(makespan, max(L_RAM - L_cache), 1)``.
      sigma: the rotation of the complement phase.
      symmetric: merged vertices run as A/B pairs.
      lat: latency assumed per merged edge (``L_cache``, or ``L_RAM`` for dummy / pinned edges).
    """

    start: np.ndarray
    pe: np.ndarray
    sink_off: np.ndarray
    makespan: int
    period: int
    sigma: int
    symmetric: int
    lat: tuple[int, ...]


def _earliest_fit(intervals: list[tuple[int, int]], lo: int, dur: int) -> int:
    """Earliest ``t >= lo`` with ``[t, t + dur)`` free of the sorted busy ``intervals``."""
    t = lo
    for s, e in intervals:
        if e <= t:
            continue
        if s >= t + dur:
            return t
        t = max(t, e)
    return t


def _insertion_order(mg: MergedGraph, units: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """The phase's units ``(start, pe, v, proc)`` (``proc`` -1: an A/B pair) in allocation order,
    each after the units of its predecessors.

    Sorting by start alone is not enough: a pair's B copy may depend on an individual vertex's B
    copy that starts after the pair (it only has to end before the B copy starts); inserting the
    pair first would read that predecessor's complement copy before it exists.
    """
    unit_of: dict[tuple[int, int], int] = {}
    for i, (_, _, v, k) in enumerate(units):
        for kk in ((0, 1) if k == -1 else (k,)):
            unit_of[(v, kk)] = i
    waits: list[int] = [0] * len(units)
    after: list[list[int]] = [[] for _ in units]
    for i, (_, _, v, k) in enumerate(units):
        deps = {unit_of[(mg.e_src[j], kk)] for j in mg.in_edges[v] if mg.e_src[j] != mg.source
                for kk in ((0, 1) if k == -1 else (k,))}
        waits[i] = len(deps)
        for d in deps:
            after[d].append(i)
    heap = [(units[i], i) for i in range(len(units)) if waits[i] == 0]
    heapq.heapify(heap)
    order: list[tuple[int, int, int, int]] = []
    while heap:
        unit, i = heapq.heappop(heap)
        order.append(unit)
        for w in after[i]:
            waits[w] -= 1
            if waits[w] == 0:
                heapq.heappush(heap, (units[w], w))
    return order


def build_iteration(mg: MergedGraph, q: int, pinned: frozenset[int], max_rotations: int) -> Iteration:
    """The shortest iteration of ``mg`` on ``q`` PEs over the rotations tried (module docstring).

    Args:
      mg: the merged graph.
      q: PEs of the group.
      pinned: merged edges that go to eDRAM (``L_RAM``) in the iteration itself.
      max_rotations: at most this many rotations ``sigma`` are tried.

    Returns:
      The :class:`Iteration`.
    """
    m = mg.num_vertices
    nj = len(mg.e_src)
    lat = tuple(mg.e_lram[j] if (mg.is_dummy_edge(j) or j in pinned) else mg.e_lcache[j] for j in range(nj))
    bl = [0] * m
    for v in reversed(mg.topo):
        bl[v] = mg.times[v] + max((lat[j] + bl[mg.e_dst[j]] for j in mg.out_edges[v]), default=0)
    dummy = {mg.source, mg.sink}
    ops = [v for v in mg.topo if v not in dummy]
    # symmetrical structure: vertices with a mirrored twin (Sec. 3.3, Fig. 5(c))
    classes: dict[tuple, list[int]] = {}
    for v in ops:
        classes.setdefault((mg.layers[v], len(mg.in_edges[v]), len(mg.out_edges[v]), mg.times[v]), []).append(v)
    paired: set[int] = set()
    for lst in classes.values():
        paired.update(lst[: len(lst) // 2 * 2])
    start = np.zeros((m, PROCS), np.int64)
    pe = np.zeros((m, PROCS), np.int64)
    finish = np.zeros((m, PROCS), np.int64)

    def ready(fin: np.ndarray, v: int, k: int) -> int:
        """When image ``k``'s inputs of ``v`` have arrived, given the finish times ``fin``."""
        return max(((0 if mg.e_src[j] == mg.source else int(fin[mg.e_src[j], k])) + lat[j] for j in mg.in_edges[v]),
                   default=0)

    # phase: procedures 0 (A) and 1 (B)
    avail = [0] * q
    units: list[tuple] = []
    for v in ops:
        if v in paired:
            units.append((-bl[v], v, 0, "pair"))
        else:
            units.append((-bl[v], v, 0, "single"))
            units.append((-bl[v], v, 1, "single"))
    units.sort(key=lambda u: (u[0], u[1], u[2]))
    intervals: list[list[tuple[int, int]]] = [[] for _ in range(q)]
    alloc_order: list[tuple[int, int, int, int]] = []  # (start, pe, v, proc; -1: an A/B pair)
    for _, v, k, kind in units:
        c = mg.times[v]
        if kind == "pair":
            ra, rb = ready(finish, v, 0), ready(finish, v, 1)
            cand = [(max(avail[x], ra, rb - c), x) for x in range(q)]
            s, x = min(cand)
            start[v, 0], start[v, 1] = s, s + c
            pe[v, 0] = pe[v, 1] = x
            finish[v, 0], finish[v, 1] = s + c, s + 2 * c
            avail[x] = s + 2 * c
            intervals[x].append((s, s + 2 * c))
            alloc_order.append((s, x, v, -1))
        else:
            r = ready(finish, v, k)
            s, x = min((max(avail[xx], r), xx) for xx in range(q))
            start[v, k], pe[v, k], finish[v, k] = s, x, s + c
            avail[x] = s + c
            intervals[x].append((s, s + c))
            alloc_order.append((s, x, v, k))
    alloc_order = _insertion_order(mg, alloc_order)

    # rotation + insertion: procedures 2 (C) and 3 (D)
    if q == 1:
        sigmas = [0]
    else:
        step = max(1, (q - 1) // max_rotations + (1 if (q - 1) % max_rotations else 0))
        sigmas = list(range(1, q, step))[:max_rotations]
    best = None
    for sigma in sigmas:
        st, pp, ff = start.copy(), pe.copy(), finish.copy()
        ivs = [sorted(iv) for iv in intervals]
        for s0, x0, v, k in alloc_order:
            c = mg.times[v]
            x = (x0 + sigma) % q
            if k == -1:
                ra, rb = ready(ff, v, 2), ready(ff, v, 3)
                s = _earliest_fit(ivs[x], max(ra, rb - c), 2 * c)
                st[v, 2], st[v, 3] = s, s + c
                pp[v, 2] = pp[v, 3] = x
                ff[v, 2], ff[v, 3] = s + c, s + 2 * c
                bisect.insort(ivs[x], (s, s + 2 * c))
            else:
                kk = k + 2
                s = _earliest_fit(ivs[x], ready(ff, v, kk), c)
                st[v, kk], pp[v, kk], ff[v, kk] = s, x, s + c
                bisect.insort(ivs[x], (s, s + c))
        sink_off = np.zeros(PROCS, np.int64)
        for k in range(PROCS):
            sink_off[k] = max((int(ff[mg.e_src[j], k]) + lat[j] for j in mg.in_edges[mg.sink]), default=0)
        mk = int(max(int(ff[ops].max()) if ops else 0, int(sink_off.max())))
        if best is None or mk < best[0]:
            best = (mk, sigma, st, pp, sink_off)
    mk, sigma, st, pp, sink_off = best
    need = max((mg.e_lram[j] - mg.e_lcache[j] for j in range(nj) if not mg.is_dummy_edge(j)), default=0)
    period = max(mk, need, 1)
    return Iteration(start=st, pe=pp, sink_off=sink_off, makespan=mk, period=period, sigma=sigma,
                     symmetric=len(paired), lat=lat)
