"""The data-flow graph of a pimjax CNN's forward pass: operations, granularity, times, latencies.

:func:`model_graph` takes the operations of one image's forward pass from
:func:`~pimjax.apps.schedule.trace_ops` (convolutions, FC layers, max poolings, shortcut
additions; everything else folded into the edges) and builds the graph.

Granularity (Memolution Fig. 1-3 gives one vertex per filter / feature map): each operation is
split into ``split`` groups of output channels (fewer when it has fewer channels); a
convolution or FC group needs every group of its inputs (all input channels), a pooling or
addition group only the group with the same channels. An edge carries the producer group's
output (``H x W x channels x bytes`` of the output format).

Times, with the PE = one slice of a system preset (default ``slices_hmc2``: the Memory Slices
256 x 8 array at 2 GHz, Sec. 3.2, next to one HMC 2.0 vault of 10 GB/s). ``op_cost`` says what
an operation's own time includes:

* ``"paper"`` (default; Memolution Sec. 2.2-2.3): the PE computes from its buffers -- the global
  buffer / input FIFO holds its input feature maps, the weight buffer its weights ("a dedicated
  buffer is allocated for weights to minimize the overhead of accessing weights from the
  memory", Sec. 2.2) -- so ``c_i`` is the compute time alone: a GEMM group ``(M x K) @ (K x
  N_g)`` (``M`` = output pixels of one image) takes ``T_compute / compute_scale`` of
  :func:`pimjax.cost.array_cost`, a pooling or addition group ``input elements / clock``
  (pimjax's assumption: one comparison or addition per cycle). All eDRAM traffic of the graph is
  on its edges: an intermediate result costs ``L_cache`` in the shared buffer and ``L_RAM`` in
  eDRAM (Sec. 3.2), the dummy edges (the image, the outputs) ``L_RAM``;
* ``"streamed"`` (the earlier pimjax model, a labelled variant): each operation also streams its
  im2col input and weights from the slice's bank: ``max(T_compute / compute_scale, T_memory)``
  (output write left out), pooling / addition ``max(input bytes / bank bandwidth, input
  elements / clock)``. This makes the operations memory-bound (1-60 us) and an edge's eDRAM
  round trip (0.1-2 us) negligible next to them, which is not the paper's model;
* intermediate results: :class:`~pimjax.apps.schedule.Latencies` (``L_RAM`` = write + read
  through the bank, ``L_cache`` = half of it, Memolution Sec. 3.2).

>>> g = model_graph("alexnet", input_size=16, width=0.125, num_classes=10, split=2)
>>> g.num_ops, [g.names[v] for v in g.ops][:4]
(22, ['features.conv1[0]', 'features.conv1[1]', 'features.conv1.pool[0]', 'features.conv1.pool[1]'])
"""

from __future__ import annotations

import math
from typing import Any

from pimjax.apps.schedule._config import Latencies
from pimjax.apps.schedule._graph import SINK, SOURCE, DataFlowGraph, Edge, Vertex
from pimjax.apps.schedule._trace import SRC, trace_ops


#: What an operation's own time includes (:func:`model_graph`).
OP_COSTS: tuple[str, ...] = ("paper", "streamed")


def _split(n: int, k: int) -> list[int]:
    k = max(1, min(k, n))
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def model_graph(model: Any = "alexnet", *, input_size: int = 32, width: float = 1.0, num_classes: int = 10,
                split: int = 4, system: Any = "slices_hmc2", latencies: Latencies = Latencies(),
                op_cost: str = "paper", **model_kwargs: Any) -> DataFlowGraph:
    """The data-flow graph of one image through a pimjax CNN (module docstring).

    Args:
      model: ``"alexnet"``, ``"vgg11"``, ``"vgg16"``, ``"resnet18"``, ``"resnet50"`` (built with
        :func:`pimjax.nn.abstract_cnn`), or a pimjax CNN module.
      input_size, width, num_classes: the CNN's knobs (ignored for a module).
      split: output-channel groups per operation (the graph's granularity, >= 1).
      system: system preset name or :class:`pimjax.hw.SystemConfig`; a PE is one of its slices.
      latencies: how result sizes become ``L_cache`` / ``L_RAM``.
      op_cost: ``"paper"`` (compute from the PE's buffers, Memolution Sec. 2.2) or
        ``"streamed"`` (operands streamed from the bank); module docstring.
      **model_kwargs: passed to :func:`pimjax.nn.abstract_cnn` (e.g. ``depths`` for ResNet).

    Returns:
      The :class:`~pimjax.apps.schedule.DataFlowGraph` (ticks of ``latencies.time_unit_s``).

    Raises:
      ValueError: bad ``split``, ``system`` or ``op_cost``.
      TypeError: bad ``latencies`` or ``model``.
    """
    from pimjax.cost import array_cost
    from pimjax.hw import SystemConfig, presets

    if isinstance(split, bool) or not isinstance(split, int) or split < 1:
        raise ValueError(f"split must be a positive integer, got {split!r}")
    if op_cost not in OP_COSTS:
        raise ValueError(f"op_cost must be one of {OP_COSTS}, got {op_cost!r}")
    if not isinstance(latencies, Latencies):
        raise TypeError(f"latencies must be a Latencies, got {type(latencies).__name__}")
    cfg = presets.get(system) if isinstance(system, str) else system
    if not isinstance(cfg, SystemConfig):
        raise ValueError(f"system must be a SystemConfig preset, got {system!r}")
    arr = cfg.array
    bw = cfg.memory.bandwidth_gbps
    fmt = arr.output_format
    act_bytes = -(-(int(fmt.bits) if fmt is not None else 32) // 8)
    ops, outputs, in_shape = trace_ops(model, input_size=input_size, width=width, num_classes=num_classes,
                                       **model_kwargs)
    sec = latencies.ticks
    cost_cache: dict[tuple[int, int, int], float] = {}

    def gemm_time(m: int, k: int, n: int) -> int:
        if (m, k, n) not in cost_cache:
            rec = array_cost(m, k, n, arr, memory=cfg.memory, energy=cfg.energy, write_output=False)
            t_comp = float(rec.time_compute_s) / cfg.compute_scale
            cost_cache[(m, k, n)] = t_comp if op_cost == "paper" else max(t_comp, float(rec.time_memory_s))
        return max(1, sec(cost_cache[(m, k, n)]))

    groups: list[list[int]] = []  # channels per group
    vnames: list[list[str]] = []
    vout: list[list[int]] = []
    verts = [Vertex(name=SOURCE, time=0, kind="source")]
    for op in ops:
        ch = int(op["out_shape"][-1]) if op["out_shape"] else 1
        sizes = _split(ch, split)
        groups.append(sizes)
        pix = math.prod(op["out_shape"][:-1]) if op["out_shape"] else 1
        names, outs = [], []
        for gi, c in enumerate(sizes):
            nm = op["name"] if len(sizes) == 1 else f"{op['name']}[{gi}]"
            ob = pix * c * act_bytes
            if op["kind"] in ("conv", "fc"):
                m, k, _ = op["gemm"]
                t = gemm_time(m, k, c)
                macs = m * k * c
            else:
                elems = op["in_elems"] * c // ch
                t_comp = elems / (arr.clock_ghz * 1e9 * cfg.compute_scale)
                t = max(1, sec(t_comp if op_cost == "paper" else max(elems * act_bytes / (bw * 1e9), t_comp)))
                macs = 0
            verts.append(Vertex(name=nm, time=t, kind=op["kind"], layer=op["name"], macs=macs, out_bytes=ob))
            names.append(nm)
            outs.append(ob)
        vnames.append(names)
        vout.append(outs)
    verts.append(Vertex(name=SINK, time=0, kind="sink"))

    edges: list[Edge] = []

    def add_edge(a: str, b: str, nbytes: int) -> None:
        lc, lr = latencies.of(nbytes, bw)
        edges.append(Edge(src=a, dst=b, bytes=int(nbytes), l_cache=lc, l_ram=lr))

    image_bytes = math.prod(in_shape) * act_bytes
    consumed: set[int] = set()
    for oi, op in enumerate(ops):
        channelwise = op["kind"] in ("pool", "add")
        for p in sorted(op["preds"]):
            if p == SRC:
                for nm in vnames[oi]:
                    add_edge(SOURCE, nm, image_bytes)
                continue
            consumed.add(p)
            if channelwise and groups[p] == groups[oi]:
                for a, b, nb in zip(vnames[p], vnames[oi], vout[p]):
                    add_edge(a, b, nb)
            else:
                for b in vnames[oi]:
                    for a, nb in zip(vnames[p], vout[p]):
                        add_edge(a, b, nb)
    for oi in range(len(ops)):
        if oi in outputs or oi not in consumed:
            for a, nb in zip(vnames[oi], vout[oi]):
                add_edge(a, SINK, nb)
    label = model if isinstance(model, str) else type(model).__name__
    return DataFlowGraph(verts, edges, time_unit_s=latencies.time_unit_s,
                         name=f"{label}(input {input_size}, width {width}, split {split}"
                         + (")" if op_cost == "paper" else f", {op_cost})"))


def graph_table(graph: DataFlowGraph) -> list[dict[str, Any]]:
    """One row per operation of ``graph`` (for reports).

    Args:
      graph: a data-flow graph.

    Returns:
      Dicts with ``name``, ``kind``, ``time_us``, ``macs``, ``out_bytes``, ``inputs`` and
      ``outputs`` (numbers of edges), in topological order.
    """
    u = graph.time_unit_s * 1e6
    return [{"name": graph.names[v], "kind": graph.kinds[v], "time_us": graph.times[v] * u,
             "macs": graph.vertices[v].macs, "out_bytes": graph.vertices[v].out_bytes,
             "inputs": len(graph.in_edges[v]), "outputs": len(graph.out_edges[v])} for v in graph.ops]
