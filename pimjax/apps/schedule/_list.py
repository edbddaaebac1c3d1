"""List scheduling (LS), the baseline of Memolution's Tables 1-3 (Sec. 4.2).

The paper only names LS; pimjax implements the textbook event-driven list scheduler (highest
level first, Hu / HLFET) with a greedy buffer:

* priority of an operation: its *b-level*, the longest path from its start to the sink
  (execution times plus ``L_cache`` of the intermediate results, ``L_RAM`` of the dummy
  edges); ties by image, then topological position;
* whenever PEs are free, the ready operations of highest priority start on the free PEs of
  lowest index (an operation is ready when all its input results have arrived);
* when an operation ends, each of its results (in order of the consumers' priority) goes to
  the shared buffer if it fits next to the results already there, else to eDRAM; it arrives
  ``L_cache`` resp. ``L_RAM`` ticks later and leaves the buffer when its consumer starts;
* images enter in one of three ways (LS never retimes, ``R = 0``):

  - ``batch=k`` (**the paper's LS**, what :func:`~pimjax.apps.schedule.compare` uses with ``k``
    = the images of one Memolution iteration on all PEs, ``4 N_g``): LS schedules an
    *iteration* (Definition 2.2) of ``k`` images on all PEs, and iterations run one after the
    other: "The LS scheme does not introduce inter-iteration data dependencies, so some PEs
    have to wait for the intermediate processing results" (Sec. 4.2 item 2). Iteration ``b + 1``
    starts when the last output of iteration ``b`` is written; each iteration sees idle PEs and
    an empty buffer, so total = ``ceil(images / k)`` iteration makespans (the last one of the
    remaining images). With ``k`` proportional to the PEs, the time halves when the PEs double,
    as the LS column of the paper's Table 1 does (160,000 -> 76,320 -> 38,240 us);
  - ``in_flight=1`` (default; pimjax's earlier baseline, a labelled variant): one image at a
    time, total = images x makespan of one image; flat in the PE count once one image's graph
    is narrower than the PEs;
  - ``in_flight=k > 1`` (not in the paper): a sliding window of up to ``k`` images (image
    ``i + k`` enters when one completes), i.e. LS *with* overlap between iterations.

>>> from pimjax.apps.schedule import DataFlowGraph, ScheduleConfig
>>> g = DataFlowGraph.from_edges({"a": 2, "b": 3, "c": 3, "d": 1},
...     [("a", "b", 1, 0, 0), ("a", "c", 1, 0, 0), ("b", "d", 1, 0, 0), ("c", "d", 1, 0, 0)])
>>> s = list_schedule(g, ScheduleConfig(num_pes=2, buffer_bytes=8, images=3))
>>> s.period, s.total_time
(6, 18)
>>> s = list_schedule(g, ScheduleConfig(num_pes=4, buffer_bytes=8, images=4), batch=2)
>>> s.period, s.total_time, s.info["batch"]
(6, 12, 2)
"""

from __future__ import annotations

import heapq

import numpy as np

from pimjax.apps.schedule._config import ScheduleConfig
from pimjax.apps.schedule._graph import DataFlowGraph
from pimjax.apps.schedule._result import BUFFER, EDRAM, Schedule


def b_levels(graph: DataFlowGraph, latency: list[int] | tuple[int, ...] | None = None) -> list[int]:
    """Longest path from the start of each vertex to the end of the sink (LS's priority).

    Args:
      graph: the data-flow graph.
      latency: ticks added for each edge (default: ``L_cache`` for intermediate results,
        ``L_RAM`` for the dummy edges).

    Returns:
      The b-level of every vertex, by vertex id.
    """
    if latency is None:
        latency = [graph.e_lcache[e] if graph.is_intermediate(e) else graph.e_lram[e] for e in range(len(graph.edges))]
    bl = [0] * len(graph.vertices)
    for v in reversed(graph.topo):
        best = 0
        for e in graph.out_edges[v]:
            best = max(best, latency[e] + bl[graph.e_dst[e]])
        bl[v] = graph.times[v] + best
    return bl


def _simulate(graph: DataFlowGraph, num_pes: int, capacity: int, images: int, in_flight: int) -> dict:
    g = graph
    nv, ne = len(g.vertices), len(g.edges)
    bl = b_levels(g)
    topo_pos = [0] * nv
    for i, v in enumerate(g.topo):
        topo_pos[v] = i
    n_in = [len(g.in_edges[v]) for v in range(nv)]
    remaining = [0] * (images * nv)
    ready_at = [0] * (images * nv)
    tr_place = np.full(images * ne, EDRAM, np.int64)
    tr_write = np.zeros(images * ne, np.int64)
    tr_read = np.zeros(images * ne, np.int64)
    runs: list[tuple[int, int, int, int, int]] = []
    source_time = np.zeros(images, np.int64)
    sink_time = np.zeros(images, np.int64)
    succ_order = [sorted(g.out_edges[v], key=lambda e: (-bl[g.e_dst[e]], topo_pos[g.e_dst[e]])) for v in range(nv)]

    # (time, kind, seq, image, vertex, pe); kinds at equal times in this order: 0 an operation
    # ends (its PE is freed, its results are placed), 1 an image completes, 2 an operation is ready
    events: list[tuple[int, int, int, int, int, int]] = []
    seq = 0

    def push(t: int, kind: int, a: int, b: int = 0, pe: int = -1) -> None:
        nonlocal seq
        heapq.heappush(events, (t, kind, seq, a, b, pe))
        seq += 1

    occ = 0
    free = list(range(num_pes))
    heapq.heapify(free)
    ready: list[tuple[int, int, int, int]] = []  # (-blevel, image, topo_pos, vertex)
    next_image = 0

    def deliver(img: int, e: int, arrival: int) -> None:
        w = g.e_dst[e]
        k = img * nv + w
        ready_at[k] = max(ready_at[k], arrival)
        remaining[k] -= 1
        if remaining[k] == 0:
            if w == g.sink:
                sink_time[img] = ready_at[k]
                push(ready_at[k], 1, -1)  # an image completes: release the next one
            else:
                push(ready_at[k], 2, img, w)

    def release(img: int, t: int) -> None:
        source_time[img] = t
        for v in range(nv):
            remaining[img * nv + v] = n_in[v]
        for e in g.out_edges[g.source]:
            tr_write[img * ne + e] = t
            tr_place[img * ne + e] = EDRAM
            deliver(img, e, t + g.e_lram[e])

    while next_image < min(in_flight, images):
        release(next_image, 0)
        next_image += 1

    while events:
        t = events[0][0]
        while events and events[0][0] == t:
            _, kind, _, a, b, pe_done = heapq.heappop(events)
            if kind == 0:  # operation (image a, vertex b) ends on PE pe_done
                img, v = a, b
                heapq.heappush(free, pe_done)
                for e in succ_order[v]:
                    k = img * ne + e
                    tr_write[k] = t
                    w = g.e_dst[e]
                    size = g.e_bytes[e]
                    if w != g.sink and occ + size <= capacity:
                        tr_place[k] = BUFFER
                        occ += size
                        deliver(img, e, t + g.e_lcache[e])
                    else:
                        tr_place[k] = EDRAM
                        deliver(img, e, t + g.e_lram[e])
            elif kind == 1:
                if next_image < images:
                    release(next_image, t)
                    next_image += 1
            else:
                heapq.heappush(ready, (-bl[b], a, topo_pos[b], b))
        while free and ready:
            _, img, _, v = heapq.heappop(ready)
            pe = heapq.heappop(free)
            end = t + g.times[v]
            runs.append((img, v, pe, t, end))
            for e in g.in_edges[v]:
                k = img * ne + e
                tr_read[k] = t
                if tr_place[k] == BUFFER:
                    occ -= g.e_bytes[e]
            push(end, 0, img, v, pe)
    # sink edges: read when the image completes
    for img in range(images):
        for e in g.in_edges[g.sink]:
            tr_read[img * ne + e] = sink_time[img]
    return dict(runs=runs, tr_place=tr_place, tr_write=tr_write, tr_read=tr_read, source_time=source_time,
                sink_time=sink_time)


def list_schedule(graph: DataFlowGraph, config: ScheduleConfig, *, in_flight: int = 1,
                  batch: int | None = None) -> Schedule:
    """List-schedule ``config.images`` iterations of ``graph`` (see the module docstring).

    Args:
      graph: the data-flow graph of one image.
      config: PEs, buffer capacity and number of images.
      in_flight: images scheduled together in a sliding window (1: one image at a time).
      batch: if given, ``k >= 1`` images per LS iteration with no overlap between iterations
        (the paper's LS; ``in_flight`` must then be 1).

    Returns:
      The explicit :class:`~pimjax.apps.schedule.Schedule` (no retiming; ``period`` is the
      makespan of one image, of one full iteration with ``batch``, or the longest image with
      ``in_flight > 1``).
    """
    if not isinstance(graph, DataFlowGraph):
        raise TypeError(f"graph must be a DataFlowGraph, got {type(graph).__name__}")
    if not isinstance(config, ScheduleConfig):
        raise TypeError(f"config must be a ScheduleConfig, got {type(config).__name__}")
    if isinstance(in_flight, bool) or not isinstance(in_flight, int) or in_flight < 1:
        raise ValueError(f"in_flight must be a positive integer, got {in_flight!r}")
    if batch is not None:
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive integer, got {batch!r}")
        if in_flight != 1:
            raise ValueError(f"batch and in_flight > 1 exclude each other, got in_flight={in_flight}")
        return _batched(graph, config, batch)
    g = graph
    nv, ne = len(g.vertices), len(g.edges)
    reps = 1
    sim_images = config.images
    if in_flight == 1:  # every image sees an idle machine and an empty buffer: simulate one, repeat it
        reps, sim_images = config.images, 1
    sim = _simulate(g, config.num_pes, config.buffer_bytes, sim_images, min(in_flight, sim_images))
    runs = np.array(sim["runs"], np.int64).reshape(-1, 5)
    if reps > 1:
        span = int(sim["sink_time"][0] - sim["source_time"][0])
        shift = np.arange(reps, dtype=np.int64) * span
        r_img = (runs[None, :, 0] + np.arange(reps)[:, None]).ravel()
        runs = np.stack([r_img, np.tile(runs[:, 1], reps), np.tile(runs[:, 2], reps),
                         (runs[None, :, 3] + shift[:, None]).ravel(), (runs[None, :, 4] + shift[:, None]).ravel()], 1)
        tiles = {k: (sim[k][None, :] + shift[:, None]).ravel() for k in ("tr_write", "tr_read")}
        tr_place = np.tile(sim["tr_place"], reps)
        source_time = sim["source_time"][0] + shift
        sink_time = sim["sink_time"][0] + shift
        tr_write, tr_read = tiles["tr_write"], tiles["tr_read"]
        period = span
    else:
        tr_place, tr_write, tr_read = sim["tr_place"], sim["tr_write"], sim["tr_read"]
        source_time, sink_time = sim["source_time"], sim["sink_time"]
        period = int(np.max(sink_time - source_time))
    images = config.images
    order = np.lexsort((runs[:, 1], runs[:, 0]))
    runs = runs[order]
    return Schedule(
        scheduler="list" if in_flight == 1 else f"list(in_flight={in_flight})",
        graph=g, num_pes=config.num_pes, buffer_bytes=config.buffer_bytes, images=images,
        run_image=runs[:, 0], run_vertex=runs[:, 1], run_pe=runs[:, 2], run_start=runs[:, 3], run_end=runs[:, 4],
        tr_image=np.repeat(np.arange(images, dtype=np.int64), ne), tr_edge=np.tile(np.arange(ne, dtype=np.int64), images),
        tr_place=np.asarray(tr_place, np.int64), tr_write=np.asarray(tr_write, np.int64),
        tr_read=np.asarray(tr_read, np.int64), tr_retiming=np.zeros(images * ne, np.int64),
        source_time=np.asarray(source_time, np.int64), sink_time=np.asarray(sink_time, np.int64),
        period=int(period), prologue=0, r_max=0, retimings=0,
        info={"in_flight": in_flight, "makespan_one_image": int(period) if in_flight == 1 else -1},
    )


def _batched(g: DataFlowGraph, config: ScheduleConfig, batch: int) -> Schedule:
    """The paper's LS: iterations of ``batch`` images, one after the other (module docstring)."""
    nv, ne = len(g.vertices), len(g.edges)
    images = config.images
    k = min(batch, images)
    full, rest = divmod(images, k)
    pieces = [(k, full)] + ([(rest, 1)] if rest else [])
    runs_l, place_l, write_l, read_l, src_l, snk_l = [], [], [], [], [], []
    t0, img0, period = 0, 0, 0
    for n, reps in pieces:
        sim = _simulate(g, config.num_pes, config.buffer_bytes, n, n)
        r = np.array(sim["runs"], np.int64).reshape(-1, 5)
        span = int(sim["sink_time"].max())  # every image of the iteration released at 0
        if n == k:
            period = span
        for b in range(reps):
            shift = t0 + b * span
            rr = r.copy()
            rr[:, 0] += img0 + b * n
            rr[:, 3:5] += shift
            runs_l.append(rr)
            place_l.append(sim["tr_place"])
            write_l.append(sim["tr_write"] + shift)
            read_l.append(sim["tr_read"] + shift)
            src_l.append(sim["source_time"] + shift)
            snk_l.append(sim["sink_time"] + shift)
        t0 += reps * span
        img0 += reps * n
    runs = np.concatenate(runs_l)
    runs = runs[np.lexsort((runs[:, 1], runs[:, 0]))]
    return Schedule(
        scheduler=f"list(batch={k})",
        graph=g, num_pes=config.num_pes, buffer_bytes=config.buffer_bytes, images=images,
        run_image=runs[:, 0], run_vertex=runs[:, 1], run_pe=runs[:, 2], run_start=runs[:, 3], run_end=runs[:, 4],
        tr_image=np.repeat(np.arange(images, dtype=np.int64), ne), tr_edge=np.tile(np.arange(ne, dtype=np.int64), images),
        tr_place=np.concatenate(place_l).astype(np.int64), tr_write=np.concatenate(write_l).astype(np.int64),
        tr_read=np.concatenate(read_l).astype(np.int64), tr_retiming=np.zeros(images * ne, np.int64),
        source_time=np.concatenate(src_l).astype(np.int64), sink_time=np.concatenate(snk_l).astype(np.int64),
        period=int(period), prologue=0, r_max=0, retimings=0,
        info={"in_flight": 1, "batch": k, "iterations": full + (1 if rest else 0), "makespan_one_iteration": int(period),
              "makespan_one_image": -1},
    )
