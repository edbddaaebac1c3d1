"""Reproduces Memolution's Tables 1-3 on the pimjax models (32, 64, 128 PEs) and prints the fidelity rows.

Wang, Zhang, Yang, "Towards Memory-Efficient Processing-in-Memory Architecture for CNNs"
(LCTES 2017, doi:10.1145/3078633.3081032), Sec. 4.2: total execution time of list scheduling (LS) and Memolution
(Table 1), intermediate results kept in the PEs' shared buffer (Table 2) and retiming
operations (Table 3) on 32, 64 and 128 processing engines. The paper's graphs come from ten
Caffe applications that are not available; pimjax uses its own CNNs (AlexNet, VGG11, VGG16,
ResNet18, ResNet50 at CIFAR size, input 32 x 32, channel width x0.25), each operation split
into 4 output-channel groups (44-280 operations, 124-976 intermediate results). A PE is one
Memory Slices slice; an operation computes from the PE's global and weight buffers (Sec. 2.2),
an intermediate result costs L_RAM = write + read through one HMC 2.0 vault (10 GB/s) in eDRAM
and L_cache = L_RAM / 2 in the 128 KiB shared buffer (Sec. 3.2, 2.4); 1024 images. See
``docs/scheduling.md`` and ``pimjax/apps/fidelity/_memolution.py`` (the assumptions).

Baselines: ``LS`` is the paper's LS (iterations of one image per Memolution PE group, no overlap
between iterations: its time halves with the PEs, as Table 1's does); ``LS/img`` (one image at
a time, pimjax's earlier baseline) and ``LS-pipe`` (a sliding window of 4 N_g images) are
labelled variants; ``SPARTA`` is the paper's second baseline (throughput-aware allocation of the
tasks by their modelled cost plus simple retiming, ``pimjax/apps/schedule/_sparta.py``). The model is measured twice: as above, and with L_cache = 0 (the Sec. 3.1
reading "no time delay", a labelled variant).

Writes ``memolution_tables.csv`` (one row per model and PE count), ``memolution_tables.png``
and ``memolution_gantt.png`` to ``--out``; prints the tables, the fidelity rows (markdown; with
``--update-docs`` also into the ``<!-- fidelity:begin memolution -->`` block of
``docs/scheduling.md``) and one line of JSON.

    python scripts/repro_memolution_tables.py [--out results/] [--models alexnet vgg11 ...]
        [--pes 32 64 128] [--buffer 128KiB] [--images 1024] [--no-validate] [--update-docs]

Every schedule is checked with the independent validator ``tests/sched_validator.py`` (data
dependences and latencies, PE exclusivity, buffer capacity, Theorem 3.1) unless
``--no-validate``.

Takes a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

from pimjax.apps.fidelity._memolution import FULL_MODELS, GRAPH, markdown, measure, paper_summary, rows_from
from pimjax.apps.schedule import (Latencies, format_tables, model_graph, parse_bytes, plot_schedules, plot_tables,
                                  write_csv)

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "scheduling.md")
BEGIN, END = "<!-- fidelity:begin memolution -->", "<!-- fidelity:end -->"


def update_docs(text: str, path: str = DOCS) -> None:
    """Replaces the text between the fidelity markers of ``docs/scheduling.md``."""
    with open(path) as f:
        doc = f.read()
    i, j = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    with open(path, "w") as f:
        f.write(doc[:i] + "\n" + text + "\n" + doc[j:])


def _validator():
    """``validate`` of the independent checker in ``tests/sched_validator.py``, or None without it."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests")
    if not os.path.exists(os.path.join(here, "sched_validator.py")):
        print("tests/sched_validator.py not found: the schedules are not validated")
        return None
    sys.path.insert(0, here)
    from sched_validator import validate

    return validate


def main() -> None:
    """Runs the reproduction (module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results")
    ap.add_argument("--models", nargs="+", default=list(FULL_MODELS), choices=FULL_MODELS)
    ap.add_argument("--pes", nargs="+", type=int, default=[32, 64, 128])
    ap.add_argument("--buffer", default="128KiB")
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--no-validate", action="store_true",
                    help="skip checking every schedule with tests/sched_validator.py")
    ap.add_argument("--update-docs", action="store_true", help="write the fidelity rows into docs/scheduling.md")
    a = ap.parse_args()
    buf = parse_bytes(a.buffer)
    os.makedirs(a.out, exist_ok=True)
    validate = None if a.no_validate else _validator()
    rows, sec31 = [], []
    t0 = time.time()
    gantt = []
    for i, m in enumerate(a.models):
        g = model_graph(m, **GRAPH)

        def check(p, sch, first=i == 0, g=g):
            if validate is not None:
                for s in sch.values():
                    validate(s, check_theorem_3_1=s.scheduler == "memolution")
            if first and not gantt:
                gantt.append(plot_schedules([sch["ls"], sch["ls_per_image"], sch["memolution"]],
                                            os.path.join(a.out, "memolution_gantt.png"),
                                            title=f"{g.name}, buffer {buf} B, {p} PEs"))

        rows += measure(g, a.pes, buffer_bytes=buf, images=a.images, variants=True, on_schedules=check)
        g31 = model_graph(m, latencies=Latencies(cache_speedup=math.inf), **GRAPH)
        sec31 += measure(g31, a.pes, buffer_bytes=buf, images=a.images, counterfactuals=True,
                         on_schedules=lambda p, sch: [validate(s, check_theorem_3_1=s.scheduler == "memolution")
                                                      for s in sch.values()] if validate else None)
        s = g.summary()
        print(f"{g.name}: {s['ops']} operations, {s['intermediates']} intermediate results, work "
              f"{s['work_s'] * 1e6:.1f} us, critical path {s['critical_path_s'] * 1e6:.1f} us "
              f"({time.time() - t0:.1f} s)", flush=True)
    csv_path = os.path.join(a.out, "memolution_tables.csv")
    write_csv(rows, csv_path)
    png = plot_tables(rows, os.path.join(a.out, "memolution_tables.png"),
                      title=f"Memolution Tables 1-3 on pimjax models ({a.images} images, buffer {buf} B)")
    print()
    print(format_tables(rows))
    print()
    print("With L_cache = 0 (Sec. 3.1 reading, labelled variant):")
    print(format_tables(sec31))
    print()
    for p in a.pes:
        rr = [r for r in rows if r["pes"] == p]
        r3 = [r for r in sec31 if r["pes"] == p]
        print(f"{p:>4} PEs: time cut vs LS {100 * np.mean([r['reduction_vs_ls'] for r in rr]):+.2f}% "
              f"(L_cache = 0: {100 * np.mean([r['reduction_vs_ls'] for r in r3]):+.2f}%), "
              f"vs LS/img {100 * np.mean([r['reduction_vs_ls_per_image'] for r in rr]):+.2f}%, "
              f"vs LS-pipe {100 * np.mean([r['reduction_vs_ls_pipelined'] for r in rr]):+.2f}%, "
              f"vs SPARTA {100 * np.mean([r['reduction_vs_sparta'] for r in rr]):+.2f}%; "
              f"utilization LS {100 * np.mean([r['ls_utilization'] for r in rr]):.1f}% "
              f"(zero latencies {100 * np.mean([r['ls_zero_latency_utilization'] for r in rr]):.1f}%), "
              f"SPARTA {100 * np.mean([r['sparta_utilization'] for r in rr]):.1f}%, "
              f"Memolution {100 * np.mean([r['memolution_utilization'] for r in rr]):.1f}% "
              f"(its iteration {100 * np.mean([r['memolution_iteration_utilization'] for r in rr]):.1f}%); "
              f"buffer ratio vs LS {np.mean([r['buffer_ratio_vs_ls'] for r in rr]):.2f}x; "
              f"buffer ratio vs SPARTA {np.mean([r['buffer_ratio_vs_sparta'] for r in rr]):.2f}x; "
              f"retimings per group {np.mean([r['memolution_retimings_per_group'] for r in rr]):.1f}; per image "
              f"Memolution {np.mean([r['memolution_retimings_per_image'] for r in rr]):.2f}, "
              f"SPARTA {np.mean([r['sparta_retimings_per_image'] for r in rr]):.1f}")
    ps = paper_summary()
    print(f"paper: {100 * ps['imp_vs_ls_all']:.2f}% vs LS, {ps['buffer_ratio_vs_ls']:.2f}x buffer")
    # diagnostic, not a fit: how large L_RAM must be next to the operations for the mechanism to pay
    m0 = a.models[0]
    for lam in (4, 16):
        lat = Latencies(cache_speedup=math.inf, ram_bandwidth_gbps=10.0 / lam)
        sr = measure(model_graph(m0, latencies=lat, **GRAPH), a.pes, buffer_bytes=buf, images=a.images,
                     counterfactuals=False)
        print(f"sensitivity ({m0}, L_cache = 0, L_RAM x{lam}, i.e. {10.0 / lam:g} GB/s): time cut vs LS "
              + ", ".join(f"{r['pes']} PEs {100 * r['reduction_vs_ls']:+.1f}%" for r in sr)
              + "; utilization LS " + ", ".join(f"{100 * r['ls_utilization']:.0f}%" for r in sr)
              + ", Memolution " + ", ".join(f"{100 * r['memolution_utilization']:.0f}%" for r in sr))
    fid = rows_from(rows, models=a.models, pes=a.pes, sec31=sec31)
    text = markdown(fid)
    print()
    print(text)
    if a.update_docs:
        update_docs(f"`python scripts/repro_memolution_tables.py --update-docs` ({', '.join(a.models)}; "
                    f"{', '.join(map(str, a.pes))} PEs; {a.images} images; buffer {buf} B):\n\n" + text)
        print(f"updated {DOCS}")
    print(f"wrote {csv_path}, {png}, {gantt[0] if gantt else None} ({time.time() - t0:.1f} s)")
    summary = {
        "reduction_vs_ls": float(np.mean([r["reduction_vs_ls"] for r in rows])),
        "reduction_vs_ls_sec31": float(np.mean([r["reduction_vs_ls"] for r in sec31])),
        "reduction_vs_ls_per_image": float(np.mean([r["reduction_vs_ls_per_image"] for r in rows])),
        "reduction_vs_ls_pipelined": float(np.mean([r["reduction_vs_ls_pipelined"] for r in rows])),
        "buffer_ratio_vs_ls": float(np.mean([r["buffer_ratio_vs_ls"] for r in rows])),
        "reduction_vs_sparta": float(np.mean([r["reduction_vs_sparta"] for r in rows])),
        "buffer_ratio_vs_sparta": float(np.mean([r["buffer_ratio_vs_sparta"] for r in rows])),
        "verdicts": {v: sum(r.verdict == v for r in fid) for v in ("within 25%", "trend holds", "misses")},
        "paper": {"reduction_vs_ls": ps["imp_vs_ls_all"], "buffer_ratio_vs_ls": ps["buffer_ratio_vs_ls"]},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
