"""The data-flow graph ``G = (V, E, R)`` of one forward pass (Memolution Sec. 2.3, Fig. 3).

A vertex is a convolution, pooling, fully-connected or addition operation with an execution
time ``c_i`` (integer ticks of ``time_unit_s`` seconds); two dummy vertices stand for the
inputs (``"source"``, Fig. 3(b) ``T_0``) and the outputs (``"sink"``, ``T_9``) and take no
time and no PE. An edge ``(T_i, T_j)`` is the intermediate processing result ``I_ij``: its size
in bytes and its two latencies ``L_cache(I_ij) <= L_RAM(I_ij)`` (Sec. 3.2), the time from the
end of ``T_i`` until ``T_j`` may start when ``I_ij`` is kept in the shared buffer or in eDRAM.
Edges out of ``source`` and into ``sink`` (the image read from memory, the outputs written
back) always go through eDRAM; they are not intermediate results.

Each graph is one "processing procedure" (one input image); the schedulers run it once per
image (Sec. 2.3: periodic dependent tasks).

>>> g = DataFlowGraph.from_edges({"a": 2, "b": 3}, [("a", "b", 64, 1, 4)])
>>> g.num_ops, g.num_intermediates, [g.names[v] for v in g.topo]
(2, 1, ['source', 'a', 'b', 'sink'])
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from pimjax._checks import int_field

SOURCE = "source"
SINK = "sink"
OP_KINDS: tuple[str, ...] = ("conv", "fc", "pool", "add", "op")
KINDS: tuple[str, ...] = OP_KINDS + ("source", "sink")

_MAX_INT = 1 << 62


@dataclasses.dataclass(frozen=True, kw_only=True)
class Vertex:
    """One operation ``T_i`` of the graph.

    Args:
      name: unique name (``"source"`` / ``"sink"`` are the dummy vertices).
      time: execution time ``c_i`` in ticks (>= 1 for operations, 0 for the dummies).
      kind: ``"conv"``, ``"fc"``, ``"pool"``, ``"add"``, ``"op"``, ``"source"`` or ``"sink"``.
      layer: the model layer it belongs to; Memolution's parallel merge (Sec. 3.3) only joins
        vertices of the same layer. Empty: the vertex's own name.
      macs: multiply-accumulates of the operation (information only).
      out_bytes: bytes of the operation's output (information only).
    """

    name: str
    time: int
    kind: str = "op"
    layer: str = ""
    macs: int = 0
    out_bytes: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"Vertex.name must be a non-empty string, got {self.name!r}")
        if self.kind not in KINDS:
            raise ValueError(f"Vertex.kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind in ("source", "sink"):
            int_field(self, "time", 0, 0, name=f"Vertex.time of dummy {self.name!r}")
        else:
            int_field(self, "time", 1, _MAX_INT, name=f"Vertex.time of {self.name!r}")
        int_field(self, "macs", 0, _MAX_INT)
        int_field(self, "out_bytes", 0, _MAX_INT)
        if not isinstance(self.layer, str):
            raise TypeError(f"Vertex.layer must be a string, got {self.layer!r}")
        if not self.layer:
            object.__setattr__(self, "layer", self.name)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Edge:
    """One intermediate processing result ``I_ij`` from ``src`` to ``dst``.

    Args:
      src, dst: vertex names.
      bytes: size of the result (what the buffer must hold while it waits).
      l_cache: ``L_cache(I_ij)``, ticks from the end of ``src`` until ``dst`` may start when the
        result stays in the shared buffer.
      l_ram: ``L_RAM(I_ij) >= l_cache``, the same through eDRAM.
    """

    src: str
    dst: str
    bytes: int
    l_cache: int
    l_ram: int

    def __post_init__(self) -> None:
        int_field(self, "bytes", 0, _MAX_INT, name=f"Edge.bytes of {self.src}->{self.dst}")
        int_field(self, "l_cache", 0, _MAX_INT, name=f"Edge.l_cache of {self.src}->{self.dst}")
        int_field(self, "l_ram", 0, _MAX_INT, name=f"Edge.l_ram of {self.src}->{self.dst}")
        if self.l_ram < self.l_cache:
            raise ValueError(f"Edge {self.src}->{self.dst}: l_ram ({self.l_ram}) must be >= l_cache ({self.l_cache})")


class DataFlowGraph:
    """A validated, immutable data-flow graph with integer vertex and edge indices.

    Args:
      vertices: the operations and exactly one ``"source"`` and one ``"sink"`` vertex.
      edges: the intermediate results (at most one edge per ordered pair of vertices).
      time_unit_s: seconds per tick of ``Vertex.time`` and the edge latencies.
      name: a label (e.g. the model).

    Raises ValueError if the graph has a cycle, a vertex not on a source-to-sink path, an edge
    into the source / out of the sink, or duplicate names or edges.

    Attributes (all tuples, indexed by vertex id or edge id): ``names``, ``times``, ``kinds``,
    ``layers``; ``e_src``, ``e_dst``, ``e_bytes``, ``e_lcache``, ``e_lram``; ``in_edges[v]``,
    ``out_edges[v]`` (edge ids); ``topo`` (a topological order); ``source``, ``sink`` (ids).
    """

    def __init__(self, vertices: Sequence[Vertex], edges: Sequence[Edge], *, time_unit_s: float = 1e-9,
                 name: str = "") -> None:
        if not isinstance(time_unit_s, (int, float)) or isinstance(time_unit_s, bool) or not time_unit_s > 0:
            raise ValueError(f"time_unit_s must be a positive number, got {time_unit_s!r}")
        vertices = tuple(vertices)
        edges = tuple(edges)
        for v in vertices:
            if not isinstance(v, Vertex):
                raise TypeError(f"vertices must be Vertex objects, got {type(v).__name__}")
        for e in edges:
            if not isinstance(e, Edge):
                raise TypeError(f"edges must be Edge objects, got {type(e).__name__}")
        index: dict[str, int] = {}
        for i, v in enumerate(vertices):
            if v.name in index:
                raise ValueError(f"duplicate vertex name {v.name!r}")
            index[v.name] = i
        srcs = [i for i, v in enumerate(vertices) if v.kind == "source"]
        sinks = [i for i, v in enumerate(vertices) if v.kind == "sink"]
        if len(srcs) != 1 or len(sinks) != 1:
            raise ValueError(f"a graph needs exactly one source and one sink vertex, got {len(srcs)} and {len(sinks)}")
        n = len(vertices)
        in_edges: list[list[int]] = [[] for _ in range(n)]
        out_edges: list[list[int]] = [[] for _ in range(n)]
        pairs: set[tuple[int, int]] = set()
        e_src, e_dst = [], []
        for k, e in enumerate(edges):
            for end in (e.src, e.dst):
                if end not in index:
                    raise ValueError(f"edge {e.src}->{e.dst}: unknown vertex {end!r}")
            a, b = index[e.src], index[e.dst]
            if a == b:
                raise ValueError(f"self-loop on {e.src!r}")
            if (a, b) in pairs:
                raise ValueError(f"duplicate edge {e.src}->{e.dst}")
            if vertices[b].kind == "source" or vertices[a].kind == "sink":
                raise ValueError(f"edge {e.src}->{e.dst} enters the source or leaves the sink")
            if vertices[a].kind == "source" and vertices[b].kind == "sink":
                raise ValueError("an edge from the source straight to the sink carries no operation")
            pairs.add((a, b))
            e_src.append(a)
            e_dst.append(b)
            out_edges[a].append(k)
            in_edges[b].append(k)
        # Kahn's algorithm, stable in vertex order
        indeg = [len(x) for x in in_edges]
        ready = [i for i in range(n) if indeg[i] == 0]
        topo: list[int] = []
        import heapq

        heapq.heapify(ready)
        while ready:
            v = heapq.heappop(ready)
            topo.append(v)
            for k in out_edges[v]:
                w = e_dst[k]
                indeg[w] -= 1
                if indeg[w] == 0:
                    heapq.heappush(ready, w)
        if len(topo) != n:
            raise ValueError("the graph has a cycle")
        for i, v in enumerate(vertices):
            if v.kind in OP_KINDS and (not in_edges[i] or not out_edges[i]):
                raise ValueError(f"operation {v.name!r} needs at least one input and one output edge "
                                 "(connect it to 'source' / 'sink')")
        self.name = str(name)
        self.time_unit_s = float(time_unit_s)
        self.vertices = vertices
        self.edges = edges
        self.index = index
        self.names = tuple(v.name for v in vertices)
        self.times = tuple(v.time for v in vertices)
        self.kinds = tuple(v.kind for v in vertices)
        self.layers = tuple(v.layer for v in vertices)
        self.e_src = tuple(e_src)
        self.e_dst = tuple(e_dst)
        self.e_bytes = tuple(e.bytes for e in edges)
        self.e_lcache = tuple(e.l_cache for e in edges)
        self.e_lram = tuple(e.l_ram for e in edges)
        self.in_edges = tuple(tuple(x) for x in in_edges)
        self.out_edges = tuple(tuple(x) for x in out_edges)
        self.topo = tuple(topo)
        self.source = srcs[0]
        self.sink = sinks[0]

    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_edges(cls, times: Mapping[str, int], edges: Sequence[tuple], *, kinds: Mapping[str, str] | None = None,
                   layers: Mapping[str, str] | None = None, time_unit_s: float = 1e-9,
                   name: str = "") -> "DataFlowGraph":
        """A graph from operation times and ``(src, dst, bytes, l_cache, l_ram)`` edges.

        ``"source"`` and ``"sink"`` are added; an operation without an input edge gets one from
        the source, one without an output edge one to the sink (0 bytes, latencies 0). Edges may
        also name ``"source"`` / ``"sink"`` themselves.

        Args:
          times: execution time in ticks of each operation, by name.
          edges: ``(src, dst, bytes, l_cache, l_ram)`` tuples.
          kinds, layers: optional :class:`Vertex` kind / layer by name.
          time_unit_s, name: as for the constructor.

        Returns:
          The validated graph.
        """
        kinds = dict(kinds or {})
        layers = dict(layers or {})
        for nm in times:
            if nm in (SOURCE, SINK):
                raise ValueError(f"{nm!r} is reserved for the dummy vertices")
        verts = [Vertex(name=SOURCE, time=0, kind="source")]
        verts += [Vertex(name=nm, time=t, kind=kinds.get(nm, "op"), layer=layers.get(nm, "")) for nm, t in times.items()]
        verts.append(Vertex(name=SINK, time=0, kind="sink"))
        es = []
        for e in edges:
            if len(e) != 5:
                raise ValueError(f"an edge is (src, dst, bytes, l_cache, l_ram), got {e!r}")
            es.append(Edge(src=e[0], dst=e[1], bytes=e[2], l_cache=e[3], l_ram=e[4]))
        has_in = {e.dst for e in es}
        has_out = {e.src for e in es}
        for nm in times:
            if nm not in has_in:
                es.append(Edge(src=SOURCE, dst=nm, bytes=0, l_cache=0, l_ram=0))
            if nm not in has_out:
                es.append(Edge(src=nm, dst=SINK, bytes=0, l_cache=0, l_ram=0))
        return cls(verts, es, time_unit_s=time_unit_s, name=name)

    # ------------------------------------------------------------------------------------------
    def is_dummy(self, v: int) -> bool:
        """Whether vertex ``v`` is the source or the sink."""
        return v == self.source or v == self.sink

    def is_intermediate(self, e: int) -> bool:
        """Whether edge ``e`` is an intermediate result (neither end a dummy vertex)."""
        return not (self.is_dummy(self.e_src[e]) or self.is_dummy(self.e_dst[e]))

    @property
    def ops(self) -> tuple[int, ...]:
        """Ids of the operations (every vertex but the dummies), in topological order."""
        return tuple(v for v in self.topo if not self.is_dummy(v))

    @property
    def num_ops(self) -> int:
        """Operations (vertices but the two dummies)."""
        return len(self.vertices) - 2

    @property
    def num_intermediates(self) -> int:
        """Intermediate results (edges with no dummy end)."""
        return sum(1 for e in range(len(self.edges)) if self.is_intermediate(e))

    @property
    def work(self) -> int:
        """Sum of the operations' execution times (ticks), one image."""
        return sum(self.times)

    def critical_path(self, latency: str = "cache") -> int:
        """Longest source-to-sink path in ticks.

        Args:
          latency: ``"cache"`` (``L_cache`` on every intermediate result) or ``"ram"``
            (``L_RAM``); edges of the dummies always count ``L_RAM``.

        Returns:
          Execution times plus latencies along the longest path (one image alone on enough PEs).
        """
        if latency not in ("cache", "ram"):
            raise ValueError(f"latency must be 'cache' or 'ram', got {latency!r}")
        lat = self.e_lram if latency == "ram" else self.e_lcache
        dist = [0] * len(self.vertices)
        for v in self.topo:
            for k in self.out_edges[v]:
                w = self.e_dst[k]
                l = lat[k] if self.is_intermediate(k) else self.e_lram[k]
                dist[w] = max(dist[w], dist[v] + self.times[v] + l)
        return dist[self.sink]

    def level_widths(self) -> list[int]:
        """Number of operations per topological level (level = edges on the longest path from
        the source); the widest level bounds how many PEs one image can keep busy."""
        lev = [0] * len(self.vertices)
        for v in self.topo:
            for k in self.out_edges[v]:
                lev[self.e_dst[k]] = max(lev[self.e_dst[k]], lev[v] + 1)
        counts: dict[int, int] = {}
        for v in self.ops:
            counts[lev[v]] = counts.get(lev[v], 0) + 1
        return [counts[k] for k in sorted(counts)]

    def summary(self) -> dict[str, Any]:
        """Sizes and totals of the graph (for reports)."""
        inter = [e for e in range(len(self.edges)) if self.is_intermediate(e)]
        return {
            "name": self.name, "ops": self.num_ops, "intermediates": len(inter),
            "work_s": self.work * self.time_unit_s,
            "critical_path_s": self.critical_path() * self.time_unit_s,
            "max_level_width": max(self.level_widths(), default=0),
            "intermediate_bytes": sum(self.e_bytes[e] for e in inter),
        }

    def __repr__(self) -> str:
        return (f"DataFlowGraph({self.name!r}, ops={self.num_ops}, intermediates={self.num_intermediates}, "
                f"time_unit_s={self.time_unit_s})")
