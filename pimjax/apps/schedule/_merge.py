"""Memolution's vertex merge (Wang, Zhang, Yang, LCTES 2017, Sec. 3.3, Fig. 5).

Two operations ``T_u``, ``T_v`` (neither a dummy) merge when they "can be assigned to the same
processing engine without causing extra latency in pipelining", ``c_u + c_v <= max_i c_i``, and
either

* (*sequential merge*) ``(T_u, T_v)`` is an edge and ``T_u`` has only that outgoing edge or
  ``T_v`` only that incoming edge, or
* (*parallel merge*) they belong to the same layer, have the same numbers of incoming and
  outgoing edges and no path joins them.

The merged vertex runs ``T_u`` then ``T_v`` on one PE (its time is the sum); the results between
them stay on the PE (place ``"pe"``, no latency, no buffer); parallel edges merge into one
result whose size and latencies are the sums ("the total data transfer for incoming edges (or
outgoing edges)"). The paper gives no order; pimjax merges greedily, smallest combined time
first, sequential merges before parallel ones, pairing the vertices of a layer in order of time,
until nothing merges. Both kinds of merge keep the graph acyclic: a sequential merge joins an
edge that is the only path between its ends, a parallel merge two vertices without a path.
"""

from __future__ import annotations

import dataclasses
import heapq

from pimjax.apps.schedule._graph import DataFlowGraph


@dataclasses.dataclass(frozen=True, eq=False)
class MergedGraph:
    """The graph after Memolution's vertex merge (Sec. 3.3).

    Merged vertex ``U`` runs the original operations ``members[U]`` one after the other (a
    topological order); ``vertex_of[v]`` is the merged vertex of original vertex ``v``. Merged
    edge ``j`` = ``(e_src[j], e_dst[j])`` carries the original edges ``edge_members[j]``; its
    bytes and latencies are their sums. ``internal`` lists the original edges inside a merged
    vertex. ``source`` / ``sink`` are the dummies, ``topo`` a topological order.
    """

    graph: DataFlowGraph
    members: tuple[tuple[int, ...], ...]
    times: tuple[int, ...]
    layers: tuple[str, ...]
    vertex_of: tuple[int, ...]
    e_src: tuple[int, ...]
    e_dst: tuple[int, ...]
    edge_members: tuple[tuple[int, ...], ...]
    e_bytes: tuple[int, ...]
    e_lcache: tuple[int, ...]
    e_lram: tuple[int, ...]
    internal: tuple[int, ...]
    in_edges: tuple[tuple[int, ...], ...]
    out_edges: tuple[tuple[int, ...], ...]
    topo: tuple[int, ...]
    source: int
    sink: int

    @property
    def num_vertices(self) -> int:
        """Merged vertices, the two dummies included."""
        return len(self.members)

    def is_dummy_edge(self, j: int) -> bool:
        """Whether merged edge ``j`` leaves the source or enters the sink (not an intermediate result)."""
        return self.e_src[j] == self.source or self.e_dst[j] == self.sink

    def level_widths(self) -> list[int]:
        """Operations per topological level of the merged graph."""
        lev = [0] * len(self.members)
        for v in self.topo:
            for j in self.out_edges[v]:
                lev[self.e_dst[j]] = max(lev[self.e_dst[j]], lev[v] + 1)
        counts: dict[int, int] = {}
        for v in self.topo:
            if v not in (self.source, self.sink):
                counts[lev[v]] = counts.get(lev[v], 0) + 1
        return [counts[k] for k in sorted(counts)]


def merge_vertices(graph: DataFlowGraph, *, enabled: bool = True) -> MergedGraph:
    """Memolution's sequential and parallel vertex merge (Sec. 3.3; see the module docstring).

    Args:
      graph: the data-flow graph of one image.
      enabled: ``False`` returns the graph unmerged (every vertex its own merged vertex).

    Returns:
      The :class:`MergedGraph`.

    >>> from pimjax.apps.schedule import DataFlowGraph
    >>> g = DataFlowGraph.from_edges({"c1": 3, "p1": 1, "c2": 3, "p2": 1, "f": 4},
    ...     [("c1", "p1", 8, 1, 2), ("c2", "p2", 8, 1, 2), ("p1", "f", 8, 1, 2), ("p2", "f", 8, 1, 2)],
    ...     layers={"c1": "c", "c2": "c", "p1": "p", "p2": "p"})
    >>> mg = merge_vertices(g)
    >>> [[g.names[v] for v in m] for m in mg.members if len(m) > 1]
    [['c1', 'p1'], ['c2', 'p2']]
    """
    g = graph
    nv = len(g.vertices)
    pos = {v: i for i, v in enumerate(g.topo)}
    members: dict[int, list[int]] = {v: [v] for v in range(nv)}
    time = {v: g.times[v] for v in range(nv)}
    layer = {v: g.layers[v] for v in range(nv)}
    out: dict[int, dict[int, list[int]]] = {v: {} for v in range(nv)}
    inn: dict[int, dict[int, list[int]]] = {v: {} for v in range(nv)}
    for e in range(len(g.edges)):
        out[g.e_src[e]].setdefault(g.e_dst[e], []).append(e)
        inn[g.e_dst[e]].setdefault(g.e_src[e], []).append(e)
    dummy = {g.source, g.sink}
    ops = [v for v in range(nv) if v not in dummy]
    cmax = max((g.times[v] for v in ops), default=0)
    internal: list[int] = []

    def absorb_edges(u: int, w: int) -> None:
        for x, es in list(out[w].items()):
            del inn[x][w]
            out[u].setdefault(x, []).extend(es)
            inn[x].setdefault(u, []).extend(es)
        for y, es in list(inn[w].items()):
            del out[y][w]
            out[y].setdefault(u, []).extend(es)
            inn[u].setdefault(y, []).extend(es)
        members[u].extend(members[w])
        time[u] += time[w]
        for d in (members, time, layer, out, inn):
            del d[w]

    def reaches(a: int, b: int) -> bool:
        seen, stack = {a}, [a]
        while stack:
            x = stack.pop()
            for y in out[x]:
                if y == b:
                    return True
                if y not in seen:
                    seen.add(y)
                    stack.append(y)
        return False

    while enabled:
        best = None
        for u in members:
            if u in dummy:
                continue
            for w in out[u]:
                if w in dummy or time[u] + time[w] > cmax:
                    continue
                if len(out[u]) == 1 or len(inn[w]) == 1:
                    key = (time[u] + time[w], pos[u], pos[w])
                    if best is None or key < best[0]:
                        best = (key, u, w)
        if best is not None:
            _, u, w = best
            internal.extend(out[u].pop(w))
            del inn[w][u]
            layer[u] = layer[u] + "+" + layer[w]
            absorb_edges(u, w)
            continue
        classes: dict[tuple, list[int]] = {}
        for u in members:
            if u not in dummy:
                classes.setdefault((layer[u], len(inn[u]), len(out[u])), []).append(u)
        merged_any = False
        for key in sorted(classes, key=lambda k: min(pos[u] for u in classes[k])):
            lst = sorted(classes[key], key=lambda u: (time[u], pos[u]))
            i = 0
            while i + 1 < len(lst):
                u, w = lst[i], lst[i + 1]
                ok = (u in members and w in members and time[u] + time[w] <= cmax
                      and len(inn[u]) == len(inn[w]) and len(out[u]) == len(out[w])
                      and not reaches(u, w) and not reaches(w, u))
                if ok:
                    if pos[w] < pos[u]:
                        u, w = w, u
                    absorb_edges(u, w)
                    merged_any = True
                    i += 2
                else:
                    i += 1
        if not merged_any:
            break

    # renumber merged vertices in a topological order (Kahn, stable by original position)
    reps = sorted(members, key=lambda u: pos[u])
    indeg = {u: len(inn[u]) for u in reps}
    heap = [(pos[u], u) for u in reps if indeg[u] == 0]
    heapq.heapify(heap)
    order: list[int] = []
    while heap:
        _, u = heapq.heappop(heap)
        order.append(u)
        for w in out[u]:
            indeg[w] -= 1
            if indeg[w] == 0:
                heapq.heappush(heap, (pos[w], w))
    if len(order) != len(reps):  # pragma: no cover - merges are acyclic by construction
        raise AssertionError("vertex merge produced a cycle")
    new = {u: i for i, u in enumerate(order)}
    vertex_of = [0] * nv
    for u in order:
        for v in members[u]:
            vertex_of[v] = new[u]
    e_src, e_dst, emem = [], [], []
    for u in order:
        for w in sorted(out[u], key=lambda x: new[x]):
            e_src.append(new[u])
            e_dst.append(new[w])
            emem.append(tuple(sorted(out[u][w])))
    nm = len(order)
    in_e: list[list[int]] = [[] for _ in range(nm)]
    out_e: list[list[int]] = [[] for _ in range(nm)]
    for j in range(len(e_src)):
        out_e[e_src[j]].append(j)
        in_e[e_dst[j]].append(j)
    return MergedGraph(
        graph=g, members=tuple(tuple(members[u]) for u in order), times=tuple(time[u] for u in order),
        layers=tuple(layer[u] for u in order), vertex_of=tuple(vertex_of), e_src=tuple(e_src), e_dst=tuple(e_dst),
        edge_members=tuple(emem), e_bytes=tuple(sum(g.e_bytes[e] for e in m) for m in emem),
        e_lcache=tuple(sum(g.e_lcache[e] for e in m) for m in emem),
        e_lram=tuple(sum(g.e_lram[e] for e in m) for m in emem), internal=tuple(sorted(internal)),
        in_edges=tuple(tuple(x) for x in in_e), out_edges=tuple(tuple(x) for x in out_e), topo=tuple(range(nm)),
        source=new[g.source], sink=new[g.sink],
    )
