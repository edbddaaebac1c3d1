"""Memolution (Wang, Zhang, Yang, LCTES 2017, Sec. 3): the scheduler and its explicit schedule.

:func:`memolution_schedule` runs the paper's steps, one module each:

1. vertex merge (Sec. 3.3, Fig. 5): :mod:`pimjax.apps.schedule._merge`;
2. phase, rotation and insertion into an iteration of 4 images on a group of ``q`` PEs
   (Sec. 3.3, Fig. 6-7): :mod:`pimjax.apps.schedule._iteration`;
3. PE groups and their start times, Alg. 3.1 (Sec. 3.4): :mod:`pimjax.apps.schedule._balance`;
4. allocation of the results to buffer or eDRAM with minimum prologue, Alg. 3.2 with the
   retiming of Theorem 3.1 and Properties 3.1-3.3 (Sec. 3.2, 3.5):
   :mod:`pimjax.apps.schedule._retiming`;

and expands the periodic result into an explicit :class:`~pimjax.apps.schedule.Schedule` of
every image: group ``g`` runs round ``r`` (images ``4 (r N_g + g) .. + 3``) from ``gs_g + r p``,
a merged vertex instance with retiming ``R`` ``R p`` earlier (in the prologue for the first
round), each original operation at its offset inside its merged vertex. Total time = (group
stagger) + prologue + rounds x ``p`` for ``rounds = ceil(images / (4 N_g))``, measured exactly
on the expanded schedule (last sink - first source); the prologue is ``R_max p``. Retimings
(Table 3) = the sum of ``R`` over the operation instances of one iteration of all groups
(Definition 2.3: each increment is one retiming).

If Alg. 3.2 gets stuck (:class:`~pimjax.apps.schedule._retiming.Stuck`), the results it names are
pinned to eDRAM, the iteration is rebuilt with ``L_RAM`` on them and steps 2-4 run again
(``info["escalations"]``; not in the paper, see ``docs/scheduling.md``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pimjax.apps.schedule._balance import alg31_case, all_groups_requirement, group_requirement, group_starts
from pimjax.apps.schedule._config import MemolutionOptions, ScheduleConfig
from pimjax.apps.schedule._graph import DataFlowGraph
from pimjax.apps.schedule._iteration import PROCS, Iteration, build_iteration
from pimjax.apps.schedule._merge import MergedGraph, merge_vertices
from pimjax.apps.schedule._result import BUFFER, EDRAM, ON_PE, Schedule
from pimjax.apps.schedule._retiming import Allocation, Stuck, allocate


def _expand(mg: MergedGraph, it: Iteration, alloc: Allocation, q: int, config: ScheduleConfig,
            pinned: frozenset[int], info: dict[str, Any]) -> Schedule:
    """The explicit schedule of ``config.images`` images (module docstring)."""
    g = mg.graph
    p = it.period
    ng = len(alloc.gs)
    nv, ne = len(g.vertices), len(g.edges)
    dummy = {g.source, g.sink}
    ops = [v for v in range(nv) if v not in dummy]
    off = np.zeros(nv, np.int64)  # offset of an original vertex inside its merged vertex
    for mem in mg.members:
        acc = 0
        for v in mem:
            off[v] = acc
            acc += g.times[v]
    vof = np.array(mg.vertex_of, np.int64)
    times = np.array(g.times, np.int64)
    mtimes = np.array(mg.times, np.int64)
    opsa = np.array(ops, np.int64)
    cand = [j for j in range(len(mg.e_src)) if not mg.is_dummy_edge(j) and j not in pinned]
    jidx = {j: i for i, j in enumerate(cand)}
    medge = {}
    for j, mem in enumerate(mg.edge_members):
        for e in mem:
            medge[e] = j
    internal = set(mg.internal)
    images = config.images
    rounds = -(-images // (ng * PROCS))
    runs, trs, srcs, snks = [], [], [], []
    for gi in range(ng):
        for k in range(PROCS):
            rgk = alloc.R[gi, k]
            mstart = it.start[:, k] - rgk * p  # merged vertex start relative to the round base
            mfin = mstart + mtimes
            vstart = mstart[vof[opsa]] + off[opsa]
            vpe = gi * q + it.pe[vof[opsa], k]
            src_t = -int(rgk[mg.source]) * p
            snk_t = int(it.sink_off[k])
            wr = np.zeros(ne, np.int64)
            rd = np.zeros(ne, np.int64)
            pl = np.zeros(ne, np.int64)
            ret = np.zeros(ne, np.int64)
            for e in range(ne):
                a, b = g.e_src[e], g.e_dst[e]
                if e in internal:
                    wr[e] = mstart[vof[a]] + off[a] + times[a]
                    rd[e] = mstart[vof[b]] + off[b]
                    pl[e] = ON_PE
                    continue
                j = medge[e]
                wr[e] = src_t if a == g.source else mfin[vof[a]]
                rd[e] = snk_t if b == g.sink else mstart[vof[b]]
                ua, ub = vof[a], vof[b]
                ret[e] = (rgk[ua] if a != g.source else rgk[mg.source]) - (0 if b == g.sink else rgk[ub])
                if mg.is_dummy_edge(j) or j in pinned:
                    pl[e] = EDRAM
                else:
                    pl[e] = BUFFER if alloc.place[gi, k, jidx[j]] else EDRAM
            for r in range(rounds):
                img = (r * ng + gi) * PROCS + k
                if img >= images:
                    continue
                base = int(alloc.gs[gi]) + r * p
                runs.append(np.stack([np.full(len(ops), img), opsa, vpe, base + vstart, base + vstart + times[opsa]],
                                     1))
                trs.append(np.stack([np.full(ne, img), np.arange(ne), pl, base + wr, base + rd, ret], 1))
                srcs.append((img, base + src_t))
                snks.append((img, base + snk_t))
    runs_a = np.concatenate(runs).astype(np.int64)
    trs_a = np.concatenate(trs).astype(np.int64)
    src_a = np.array(sorted(srcs), np.int64)
    snk_a = np.array(sorted(snks), np.int64)
    t0 = int(src_a[:, 1].min())
    runs_a[:, 3:5] -= t0
    trs_a[:, 3:5] -= t0
    src_a[:, 1] -= t0
    snk_a[:, 1] -= t0
    runs_a = runs_a[np.lexsort((runs_a[:, 1], runs_a[:, 0]))]
    trs_a = trs_a[np.lexsort((trs_a[:, 1], trs_a[:, 0]))]
    mask = np.ones(mg.num_vertices, bool)
    mask[[mg.source, mg.sink]] = False
    r_ops = alloc.R[:, :, mask]
    r_max = int(r_ops.max(initial=0))
    return Schedule(
        scheduler="memolution", graph=g, num_pes=config.num_pes, buffer_bytes=config.buffer_bytes, images=images,
        run_image=runs_a[:, 0], run_vertex=runs_a[:, 1], run_pe=runs_a[:, 2], run_start=runs_a[:, 3],
        run_end=runs_a[:, 4], tr_image=trs_a[:, 0], tr_edge=trs_a[:, 1], tr_place=trs_a[:, 2], tr_write=trs_a[:, 3],
        tr_read=trs_a[:, 4], tr_retiming=trs_a[:, 5], source_time=src_a[:, 1], sink_time=snk_a[:, 1],
        period=p, prologue=r_max * p, r_max=r_max, retimings=int(r_ops.sum()),
        info={**info, "rounds": rounds, "stagger": int(alloc.gs.max(initial=0)), "edram_moves": alloc.moves,
              "group_starts": tuple(int(x) for x in alloc.gs)},
    )


def _plan(mg: MergedGraph, q: int, config: ScheduleConfig, options: MemolutionOptions) -> Schedule:
    """Steps 2-4 and the expansion for groups of ``q`` PEs."""
    ng = max(1, config.num_pes // q)
    cap = config.buffer_bytes
    pinned: frozenset[int] = frozenset()
    escalations = 0
    it = build_iteration(mg, q, pinned, options.max_rotations)
    # Alg. 3.1 on the initial schedule S_init; a rebuilt iteration keeps its decision to stagger
    c_max, c_min = group_requirement(mg, it, pinned)
    case = alg31_case(c_max, c_min, ng, cap)
    # Fig. 8: the peak requirement of all groups, aligned (line 2) and staggered (line 7)
    peaks = (all_groups_requirement(mg, it, pinned, group_starts(it.period, ng, stagger=False)),
             all_groups_requirement(mg, it, pinned, group_starts(it.period, ng, stagger=True)))
    while True:
        gs = group_starts(it.period, ng, stagger=case != 1)
        try:
            alloc = allocate(mg, it, gs, cap, pinned, options.edram_order, options.max_retiming)
            break
        except Stuck as stuck:
            if not stuck.edges or stuck.edges <= pinned:  # pragma: no cover - cannot happen: pinned results move freely
                raise RuntimeError("Memolution could not fit the buffer") from None
            pinned = pinned | frozenset(stuck.edges)
            escalations += 1
            it = build_iteration(mg, q, pinned, options.max_rotations)
    info = {"group_size": q, "groups": ng, "rotation": it.sigma, "iteration_makespan": it.makespan,
            "merged_ops": mg.num_vertices - 2, "merged_results": sum(1 for j in range(len(mg.e_src))
                                                                    if not mg.is_dummy_edge(j)),
            "symmetric_ops": it.symmetric, "pinned_results": len(pinned), "escalations": escalations,
            "alg31_case": case, "c_max": c_max, "c_min": c_min, "peak_aligned": peaks[0], "peak_staggered": peaks[1]}
    return _expand(mg, it, alloc, q, config, pinned, info)


def memolution_schedule(graph: DataFlowGraph, config: ScheduleConfig,
                        options: MemolutionOptions = MemolutionOptions()) -> Schedule:
    """Schedule ``config.images`` iterations of ``graph`` with Memolution (module docstring).

    Args:
      graph: the data-flow graph of one image.
      config: PEs, buffer capacity and number of images.
      options: the choices inside Memolution (merge, group size, Alg. 3.2 order, bounds).

    Returns:
      The explicit :class:`~pimjax.apps.schedule.Schedule` (``scheduler="memolution"``) of the
      faster group size; ``info`` holds the group size, groups, rotation, Alg. 3.1 case, eDRAM
      moves and escalations.

    >>> from pimjax.apps.schedule import DataFlowGraph, ScheduleConfig
    >>> g = DataFlowGraph.from_edges({"a": 1, "b": 1, "c": 1, "d": 1},
    ...     [("a", "b", 1, 0, 0), ("b", "c", 1, 0, 0), ("c", "d", 1, 0, 0)])
    >>> s = memolution_schedule(g, ScheduleConfig(num_pes=4, buffer_bytes=64, images=16))
    >>> s.total_time, s.info["groups"], s.period
    (16, 4, 16)
    """
    if not isinstance(graph, DataFlowGraph):
        raise TypeError(f"graph must be a DataFlowGraph, got {type(graph).__name__}")
    if not isinstance(config, ScheduleConfig):
        raise TypeError(f"config must be a ScheduleConfig, got {type(config).__name__}")
    if not isinstance(options, MemolutionOptions):
        raise TypeError(f"options must be MemolutionOptions, got {type(options).__name__}")
    mg = merge_vertices(graph, enabled=options.merge)
    n = max(mg.level_widths(), default=1)
    if options.group_size is not None:
        sizes = [min(options.group_size, config.num_pes)]
    elif n >= config.num_pes:
        sizes = [config.num_pes]
    else:
        sizes = [n, n + 1]
    best = None
    for q in sizes:
        s = _plan(mg, q, config, options)
        if best is None or s.total_time < best.total_time:
            best = s
    return best
