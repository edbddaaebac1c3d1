"""Memolution's Tables 1-3 for one graph: list scheduling vs Memolution on several PE counts.

For every PE count ``P`` the same graph, buffer and images are scheduled by

* ``ls``: list scheduling, one image at a time (the paper's baseline, Sec. 4.2);
* ``memolution``: :func:`memolution_schedule`;
* ``ls_pipelined`` (optional, not in the paper): list scheduling with as many images in flight
  as Memolution keeps in its PE groups (``4 N_g``), to tell how much of Memolution's gain comes
  from processing several images at once;

and the rows hold the quantities of the paper's tables: Table 1 total time (us) and the
reduction ``1 - T_memolution / T_ls``; Table 2 the intermediate results per image kept in the
shared buffer and the ratio Memolution / LS; Table 3 the number of retimings.

The paper's averages (:data:`PAPER`): Memolution cut total time by 55.72 % vs LS and 25.35 % vs
SPARTA (Table 1, 32-128 PEs), kept 2.76x (vs LS) and 3.64x (vs SPARTA) more intermediate results
in the buffer (Table 2), and needed 61.17 % / 80.52 % fewer retimings than SPARTA on 64 / 128
PEs (Table 3).
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from pimjax.apps._atomic import write_csv as atomic_csv
from pimjax.apps.schedule._config import MemolutionOptions, ScheduleConfig
from pimjax.apps.schedule._graph import DataFlowGraph
from pimjax.apps.schedule._list import list_schedule
from pimjax.apps.schedule._memolution import memolution_schedule
from pimjax.apps.schedule._result import Schedule

#: Averages reported by the paper (Memolution Tables 1-3).
PAPER = {
    "table1_reduction_vs_ls": 0.5572, "table1_reduction_vs_sparta": 0.2535,
    "table2_ratio_vs_ls": 2.76, "table2_ratio_vs_sparta": 3.64,
    "table3_retiming_reduction_vs_sparta_64": 0.6117, "table3_retiming_reduction_vs_sparta_128": 0.8052,
}


def compare(graph: DataFlowGraph, pes: Sequence[int], *, buffer_bytes: int, images: int,
            pipelined_ls: bool = True, options: MemolutionOptions = MemolutionOptions(),
            keep: bool = False) -> list[dict[str, Any]]:
    """One row per PE count with the numbers of the paper's Tables 1-3 (module docstring).

    Args:
      graph: the data-flow graph of one image.
      pes: the PE counts.
      buffer_bytes, images: as in :class:`~pimjax.apps.schedule.ScheduleConfig`.
      pipelined_ls: add the ``ls_pipelined`` baseline.
      options: Memolution's options.
      keep: also keep the :class:`Schedule` objects in each row under ``"schedules"``.

    Returns:
      Dicts with ``{ls,ls_pipelined,memolution}_{time_us,buffer_results,edram_results,
      pe_results,retimings,utilization,peak_buffer}``, ``reduction_vs_ls``,
      ``buffer_ratio_vs_ls`` (and ``..._vs_ls_pipelined``) and Memolution's period, prologue,
      ``R_max``, group size, groups, rounds, stagger, Alg. 3.1 case, merged ops, escalations.
    """
    if not pes:
        raise ValueError("pes must name at least one PE count")
    rows = []
    u = graph.time_unit_s * 1e6
    for p in pes:
        cfg = ScheduleConfig(num_pes=int(p), buffer_bytes=int(buffer_bytes), images=int(images))
        ls = list_schedule(graph, cfg)
        mem = memolution_schedule(graph, cfg, options)
        scheds: dict[str, Schedule] = {"ls": ls, "memolution": mem}
        if pipelined_ls:
            scheds["ls_pipelined"] = list_schedule(graph, cfg, in_flight=min(images, 4 * int(mem.info["groups"])))
        row: dict[str, Any] = {"graph": graph.name, "pes": int(p), "buffer_bytes": int(buffer_bytes),
                               "images": int(images)}
        for name, s in scheds.items():
            pc = s.place_counts()
            row[f"{name}_time_us"] = s.total_time * u
            row[f"{name}_buffer_results"] = pc["buffer"]
            row[f"{name}_edram_results"] = pc["edram"]
            row[f"{name}_pe_results"] = pc["pe"]
            row[f"{name}_retimings"] = s.retimings
            row[f"{name}_utilization"] = s.utilization
            row[f"{name}_peak_buffer"] = s.peak_buffer
        row["memolution_r_max"] = mem.r_max
        row["memolution_prologue_us"] = mem.prologue * u
        row["memolution_period_us"] = mem.period * u
        for k in ("group_size", "groups", "rounds", "stagger", "alg31_case", "merged_ops", "escalations"):
            row[f"memolution_{k}"] = mem.info[k]
        row["memolution_stagger_us"] = mem.info["stagger"] * u
        row["reduction_vs_ls"] = 1.0 - mem.total_time / ls.total_time
        row["buffer_ratio_vs_ls"] = (mem.place_counts()["buffer"] / ls.place_counts()["buffer"]
                                     if ls.place_counts()["buffer"] else float("inf"))
        if pipelined_ls:
            lp = scheds["ls_pipelined"]
            row["reduction_vs_ls_pipelined"] = 1.0 - mem.total_time / lp.total_time
            b = lp.place_counts()["buffer"]
            row["buffer_ratio_vs_ls_pipelined"] = mem.place_counts()["buffer"] / b if b else float("inf")
        if keep:
            row["schedules"] = scheds
        rows.append(row)
    return rows


def format_tables(rows: Sequence[dict[str, Any]]) -> str:
    """The three tables as text (one line per graph and PE count).

    Args:
      rows: rows of :func:`compare` (of one or several graphs).

    Returns:
      Tables 1-3, one after the other.
    """
    piped = all("ls_pipelined_time_us" in r for r in rows)
    lines = []
    h1 = f"{'graph':<40} {'PEs':>4} {'LS us':>12} " + (f"{'LS-pipe us':>12} " if piped else "") + \
         f"{'Memolution us':>14} {'IMP vs LS':>10}" + (f" {'vs LS-pipe':>10}" if piped else "")
    lines += ["Table 1. Total execution time of list scheduling (LS) and Memolution", h1, "-" * len(h1)]
    for r in rows:
        lines.append(f"{r['graph'][:40]:<40} {r['pes']:>4} {r['ls_time_us']:>12.1f} "
                     + (f"{r['ls_pipelined_time_us']:>12.1f} " if piped else "")
                     + f"{r['memolution_time_us']:>14.1f} {100 * r['reduction_vs_ls']:>9.2f}%"
                     + (f" {100 * r['reduction_vs_ls_pipelined']:>9.2f}%" if piped else ""))
    h2 = f"{'graph':<40} {'PEs':>4} {'LS':>8} " + (f"{'LS-pipe':>8} " if piped else "") + \
         f"{'Memolution':>10} {'(on PE)':>8} {'ratio':>7}" + (f" {'vs pipe':>8}" if piped else "")
    lines += ["", "Table 2. Intermediate results per image allocated to the shared buffer", h2, "-" * len(h2)]
    for r in rows:
        lines.append(f"{r['graph'][:40]:<40} {r['pes']:>4} {r['ls_buffer_results']:>8.1f} "
                     + (f"{r['ls_pipelined_buffer_results']:>8.1f} " if piped else "")
                     + f"{r['memolution_buffer_results']:>10.1f} {r['memolution_pe_results']:>8.1f} "
                     + f"{r['buffer_ratio_vs_ls']:>6.2f}x"
                     + (f" {r['buffer_ratio_vs_ls_pipelined']:>7.2f}x" if piped else ""))
    h3 = f"{'graph':<40} {'PEs':>4} {'LS':>6} {'Memolution':>10} {'R_max':>6} {'prologue us':>12} {'groups':>7} {'q':>4}"
    lines += ["", "Table 3. Number of retiming operations (LS never retimes)", h3, "-" * len(h3)]
    for r in rows:
        lines.append(f"{r['graph'][:40]:<40} {r['pes']:>4} {r['ls_retimings']:>6d} {r['memolution_retimings']:>10d} "
                     f"{r['memolution_r_max']:>6d} {r['memolution_prologue_us']:>12.1f} {r['memolution_groups']:>7d} "
                     f"{r['memolution_group_size']:>4d}")
    return "\n".join(lines)


def write_csv(rows: Sequence[dict[str, Any]], path: str) -> None:
    """Writes the rows (without schedule objects) as CSV, creating the folder.

    Args:
      rows: rows of :func:`compare`.
      path: the CSV file.
    """
    clean = [{k: v for k, v in r.items() if k != "schedules"} for r in rows]
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    keys: list[str] = []
    for r in clean:
        keys += [k for k in r if k not in keys]
    atomic_csv(path, clean, keys)
