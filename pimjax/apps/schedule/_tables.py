"""Memolution's Tables 1-3 for one graph: list scheduling vs Memolution on several PE counts.

For every PE count ``P`` the same graph, buffer and images are scheduled by

* ``ls``: the paper's list scheduling (Sec. 4.2), :func:`list_schedule` with ``batch = N_g``:
  every LS iteration list-schedules one image per PE group of Memolution (``N_g`` images, the
  same input graph, not interleaved: interleaving "two processing procedures" is what Sec. 4.2
  credits Memolution's gain to) on all PEs, and iterations run one after the other ("The LS
  scheme does not introduce inter-iteration data dependencies, so some PEs have to wait for the
  intermediate processing results", Sec. 4.2 item 2). Its time halves when the PEs double, as
  the LS column of the paper's Table 1 does;
* ``memolution``: :func:`memolution_schedule`;
* ``sparta``: the paper's second baseline, :func:`sparta_schedule` with the LS iteration's ``N_g``
  images per iteration (throughput-aware allocation by modelled task cost plus simple retiming,
  the design and its assumptions in :mod:`pimjax.apps.schedule._sparta`);
* ``ls_per_image`` (optional, pimjax's earlier baseline, a labelled variant): one image at a
  time (flat in the PE count);
* ``ls_pipelined`` (optional, not in the paper): a sliding window of ``4 N_g`` images in
  flight (Memolution's images per period), i.e. LS *with* overlap between iterations;

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
from pimjax.apps.schedule._sparta import sparta_schedule

#: Averages reported by the paper (Memolution Tables 1-3).
PAPER = {
    "table1_reduction_vs_ls": 0.5572, "table1_reduction_vs_sparta": 0.2535,
    "table2_ratio_vs_ls": 2.76, "table2_ratio_vs_sparta": 3.64,
    "table3_retiming_reduction_vs_sparta_64": 0.6117, "table3_retiming_reduction_vs_sparta_128": 0.8052,
}


def compare(graph: DataFlowGraph, pes: Sequence[int], *, buffer_bytes: int, images: int,
            pipelined_ls: bool = True, per_image_ls: bool = True,
            options: MemolutionOptions = MemolutionOptions(), keep: bool = False) -> list[dict[str, Any]]:
    """One row per PE count with the numbers of the paper's Tables 1-3 (module docstring).

    Args:
      graph: the data-flow graph of one image.
      pes: the PE counts.
      buffer_bytes, images: as in :class:`~pimjax.apps.schedule.ScheduleConfig`.
      pipelined_ls: add the ``ls_pipelined`` baseline (simulates every image: the slow one).
      per_image_ls: add the ``ls_per_image`` baseline.
      options: Memolution's options.
      keep: also keep the :class:`Schedule` objects in each row under ``"schedules"``.

    Returns:
      Dicts with ``{ls,ls_per_image,ls_pipelined,memolution}_{time_us,buffer_results,
      edram_results,pe_results,retimings,utilization,peak_buffer}``, ``ls_batch``,
      ``reduction_vs_ls``, ``buffer_ratio_vs_ls`` (and ``..._vs_ls_per_image``,
      ``..._vs_ls_pipelined``) and Memolution's period, prologue, ``R_max``, group size, groups,
      rounds, stagger, Alg. 3.1 case (with ``C_max``, ``C_min`` and the peak requirement of all
      groups aligned / staggered, Fig. 8), merged ops, escalations and
      ``memolution_retimings_per_group`` (retimings / ``N_g``); SPARTA's ``sparta_*`` columns,
      ``reduction_vs_sparta``, ``buffer_ratio_vs_sparta`` and the retimings per image of one
      iteration, ``{memolution,sparta}_retimings_per_image`` (Memolution: ``4 N_g`` images).
    """
    if not pes:
        raise ValueError("pes must name at least one PE count")
    rows = []
    u = graph.time_unit_s * 1e6
    for p in pes:
        cfg = ScheduleConfig(num_pes=int(p), buffer_bytes=int(buffer_bytes), images=int(images))
        mem = memolution_schedule(graph, cfg, options)
        ng = int(mem.info["groups"])
        ls = list_schedule(graph, cfg, batch=min(int(images), ng))
        k = min(int(images), 4 * ng)
        sp = sparta_schedule(graph, cfg, batch=min(int(images), ng))
        scheds: dict[str, Schedule] = {"ls": ls, "memolution": mem, "sparta": sp}
        if per_image_ls:
            scheds["ls_per_image"] = list_schedule(graph, cfg)
        if pipelined_ls:
            scheds["ls_pipelined"] = list_schedule(graph, cfg, in_flight=k)
        row: dict[str, Any] = {"graph": graph.name, "pes": int(p), "buffer_bytes": int(buffer_bytes),
                               "images": int(images), "ls_batch": min(int(images), ng)}
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
        for key in ("group_size", "groups", "rounds", "stagger", "alg31_case", "merged_ops", "escalations",
                    "c_max", "c_min", "peak_aligned", "peak_staggered"):
            row[f"memolution_{key}"] = mem.info.get(key, -1)
        row["memolution_stagger_us"] = mem.info["stagger"] * u
        row["memolution_retimings_per_group"] = mem.retimings / max(1, int(mem.info["groups"]))
        row["memolution_retimings_per_image"] = mem.retimings / max(1, 4 * int(mem.info["groups"]))
        row["sparta_retimings_per_image"] = float(sp.info["retimings_per_image"])
        row["sparta_r_max"] = sp.r_max
        row["sparta_period_utilization"] = float(sp.info["period_utilization"])
        row["reduction_vs_ls"] = 1.0 - mem.total_time / ls.total_time
        mb = mem.place_counts()["buffer"]
        row["buffer_ratio_vs_ls"] = mb / ls.place_counts()["buffer"] if ls.place_counts()["buffer"] else float("inf")
        for name in ("ls_per_image", "ls_pipelined", "sparta"):
            if name in scheds:
                other = scheds[name]
                row[f"reduction_vs_{name}"] = 1.0 - mem.total_time / other.total_time
                b = other.place_counts()["buffer"]
                row[f"buffer_ratio_vs_{name}"] = mb / b if b else float("inf")
        if keep:
            row["schedules"] = scheds
        rows.append(row)
    return rows


def format_tables(rows: Sequence[dict[str, Any]]) -> str:
    """The three tables as text (one line per graph and PE count).

    Args:
      rows: rows of :func:`compare` (of one or several graphs).

    Returns:
      Tables 1-3, one after the other. ``LS`` is the paper's LS (iterations of ``N_g``
      images), ``SPARTA`` the paper's second baseline; ``LS/img`` (one image at a time) and ``LS-pipe`` (sliding window) are shown when
      the rows have them.
    """
    extra = [(n, lab) for n, lab in (("sparta", "SPARTA"), ("ls_per_image", "LS/img"), ("ls_pipelined", "LS-pipe"))
             if all(f"{n}_time_us" in r for r in rows)]
    lines = []
    h1 = (f"{'graph':<40} {'PEs':>4} {'LS us':>12} " + "".join(f"{lab + ' us':>12} " for _, lab in extra)
          + f"{'Memolution us':>14} {'IMP vs LS':>10}" + "".join(f" {'vs ' + lab:>10}" for _, lab in extra))
    lines += ["Table 1. Total execution time of list scheduling (LS) and Memolution", h1, "-" * len(h1)]
    for r in rows:
        lines.append(f"{r['graph'][:40]:<40} {r['pes']:>4} {r['ls_time_us']:>12.1f} "
                     + "".join(f"{r[n + '_time_us']:>12.1f} " for n, _ in extra)
                     + f"{r['memolution_time_us']:>14.1f} {100 * r['reduction_vs_ls']:>9.2f}%"
                     + "".join(f" {100 * r['reduction_vs_' + n]:>9.2f}%" for n, _ in extra))
    h2 = (f"{'graph':<40} {'PEs':>4} {'LS':>8} " + "".join(f"{lab:>8} " for _, lab in extra)
          + f"{'Memolution':>10} {'(on PE)':>8} {'ratio':>7}" + "".join(f" {'vs ' + lab:>10}" for _, lab in extra))
    lines += ["", "Table 2. Intermediate results per image allocated to the shared buffer", h2, "-" * len(h2)]
    for r in rows:
        lines.append(f"{r['graph'][:40]:<40} {r['pes']:>4} {r['ls_buffer_results']:>8.1f} "
                     + "".join(f"{r[n + '_buffer_results']:>8.1f} " for n, _ in extra)
                     + f"{r['memolution_buffer_results']:>10.1f} {r['memolution_pe_results']:>8.1f} "
                     + f"{r['buffer_ratio_vs_ls']:>6.2f}x"
                     + "".join(f" {r['buffer_ratio_vs_' + n]:>9.2f}x" for n, _ in extra))
    h3 = (f"{'graph':<40} {'PEs':>4} {'LS':>6} {'SPARTA':>7} {'/image':>7} {'Memolution':>10} {'per group':>10} {'R_max':>6} "
          f"{'prologue us':>12} {'groups':>7} {'q':>4} {'util %':>7} {'LS util %':>9}")
    lines += ["", "Table 3. Number of retiming operations (LS never retimes); PE utilization (Fig. 10)", h3,
              "-" * len(h3)]
    for r in rows:
        lines.append(f"{r['graph'][:40]:<40} {r['pes']:>4} {r['ls_retimings']:>6d} {r.get('sparta_retimings', 0):>7d} "
                     f"{r.get('sparta_retimings_per_image', 0.0):>7.1f} {r['memolution_retimings']:>10d} "
                     f"{r['memolution_retimings_per_group']:>10.1f} {r['memolution_r_max']:>6d} "
                     f"{r['memolution_prologue_us']:>12.1f} {r['memolution_groups']:>7d} "
                     f"{r['memolution_group_size']:>4d} {100 * r['memolution_utilization']:>7.1f} "
                     f"{100 * r['ls_utilization']:>9.1f}")
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
