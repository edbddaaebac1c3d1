"""Scheduling CNN data-flow graphs on PIM processing engines: list scheduling, SPARTA and Memolution.

Memolution (Wang, Zhang, Yang, LCTES 2017, doi:10.1145/3078633.3081032) allocates the
convolutions of a CNN and their intermediate results to processing engines (PEs) and a shared
buffer. This package builds the data-flow graph of a pimjax model's forward pass
(:func:`model_graph`, execution times from :mod:`pimjax.cost`), schedules it with the paper's
baselines (:func:`list_schedule`, :func:`sparta_schedule`) and with Memolution
(:func:`memolution_schedule`), and
tabulates the paper's Tables 1-3 (:func:`compare`). ``docs/scheduling.md`` describes the model,
the algorithms and the deviations from the paper.

>>> from pimjax.apps.schedule import DataFlowGraph, ScheduleConfig, list_schedule, memolution_schedule
>>> g = DataFlowGraph.from_edges({"a": 1, "b": 1, "c": 1, "d": 1},
...     [("a", "b", 1, 0, 0), ("b", "c", 1, 0, 0), ("c", "d", 1, 0, 0)])
>>> cfg = ScheduleConfig(num_pes=4, buffer_bytes=64, images=16)
>>> list_schedule(g, cfg).total_time, memolution_schedule(g, cfg).total_time
(64, 16)
"""

from pimjax.apps.schedule._config import (
    DEFAULT_BUFFER_BYTES,
    DEFAULT_CACHE_SPEEDUP,
    DEFAULT_IMAGES,
    Latencies,
    MemolutionOptions,
    ScheduleConfig,
    parse_bytes,
)
from pimjax.apps.schedule._extract import graph_table, model_graph
from pimjax.apps.schedule._graph import SINK, SOURCE, DataFlowGraph, Edge, Vertex
from pimjax.apps.schedule._list import b_levels, list_schedule
from pimjax.apps.schedule._memolution import memolution_schedule
from pimjax.apps.schedule._merge import MergedGraph, merge_vertices
from pimjax.apps.schedule._plots import plot_schedules, plot_tables
from pimjax.apps.schedule._result import BUFFER, EDRAM, ON_PE, PLACES, Schedule, step_profile
from pimjax.apps.schedule._sparta import sparta_schedule
from pimjax.apps.schedule._tables import PAPER, compare, format_tables, write_csv
from pimjax.apps.schedule._trace import trace_ops

__all__ = [
    "BUFFER", "DEFAULT_BUFFER_BYTES", "DEFAULT_CACHE_SPEEDUP", "DEFAULT_IMAGES", "DataFlowGraph", "EDRAM", "Edge",
    "Latencies", "MemolutionOptions", "MergedGraph", "ON_PE", "PAPER", "PLACES", "SINK", "SOURCE", "Schedule",
    "ScheduleConfig", "Vertex", "b_levels", "compare", "format_tables", "graph_table", "list_schedule",
    "memolution_schedule", "merge_vertices", "model_graph", "parse_bytes", "plot_schedules", "plot_tables",
    "sparta_schedule", "step_profile", "trace_ops", "write_csv",
]
