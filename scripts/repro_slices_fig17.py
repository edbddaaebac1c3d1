"""Reproduces Memory Slices Fig. 17: speedup of training LSTM translators from 2 to 256 slices.

Memory Slices (seed 003) Sec. 7.2 and Fig. 17: training speedup of its LSTM translators as the
number of slices grows from 2 to 256, relative to 2 slices, against linear; the paper reports a
*superlinear* speedup because with few slices a slice holds several partitions of a weight matrix
and reloads them into its array iteratively, an overhead that shrinks as slices are added
(Table 4: weight matrix dimensions and the partitions needed with an 8-wide array).

pimjax model (:func:`pimjax.apps.model_costs.model_costs`, no FLOPs run): one training batch
(FF, BP, UP of every emulated GEMM) on ``slices_hmc2`` slices (256 x 8 array at 2 GHz, HMC 2.0
vault) with ``num_slices`` = 2, 4, ..., 256, K split over the slices by
:meth:`pimjax.system.Mapping.even`. Speedup = time(2 slices) / time(S slices), with

* the full model's time (``time_s``: max over slices of compute, memory and ICN, plus the tail);
* compute only (``time_compute_s``: the busiest slice's array cycles), which isolates the
  array schedule: per tile pass ``R'`` preload + ``M`` stream + ``R' - 1 + L`` fill/drain cycles.

The LSTMs (:func:`pimjax.apps.model_costs.memory_slices_lstm`; Table 3 of the paper is not in our
copy; only "LSTM0 has parameters similar to Google NMT" and "LSTM0 and 2, those with largest
weight matrices" are stated), all batch 128 (the
paper's CNN batch; no LSTM batch is given) and bucket (40, 50) (the largest of the paper's
buckets; the speedup of the LSTM layers does not depend on it: every time step is the same GEMM):

* ``lstm0``: GNMT-like (:func:`pimjax.nn.gnmt_config`): 1024 units, 1024-wide embeddings,
  8 encoder layers (the first bidirectional) and 8 decoder layers, 32K vocabulary; gate
  matrices (I + H) x 4H = 2048 x 4096 (3072 x 4096 for enc1 and dec0), 256 (384) K-chunks;
* ``lstm1``: half of it: 512 units, 4 + 4 layers (1024 x 2048 gate matrices, 128 K-chunks);
* ``lstm2``: a quarter: 256 units, 2 + 2 layers (512 x 1024, 64 K-chunks).

They span weight matrices with more K-chunks than slices (lstm0 at every S <= 256) to fewer
(lstm2 beyond 64 slices), which is what decides the scaling in this model. The main curves use
the LSTM layers (the gate GEMMs, what Table 4 partitions); the full translator (plus attention
and the 32K-word output projection) is in the CSV too.

Writes ``fig17_slices_speedup.csv`` and ``fig17_slices_speedup.png`` to ``--out``, prints a
table, the Table 4 analogue and the verdict, and ends with one line of JSON.

    python scripts/repro_slices_fig17.py [--out results/] [--small]
"""

from __future__ import annotations

import argparse
import csv
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pimjax.apps.model_costs import (gemm_costs, memory_slices_lstm, model_gemms, phase_hardware,  # noqa: E402
                                     phase_totals)
from pimjax.nn import TranslatorConfig  # noqa: E402
from pimjax.system import Mapping  # noqa: E402
from pimjax.units._array_counts import array_counts  # noqa: E402

SYSTEM = "slices_hmc2"
PHASE_SHAPES = {"ff": lambda m, k, n: (m, k, n), "bp": lambda m, k, n: (m, n, k), "up": lambda m, k, n: (k, m, n)}


def lstm_configs(small: bool) -> dict[str, TranslatorConfig]:
    if small:
        return {
            "lstm_a": TranslatorConfig(src_vocab=64, tgt_vocab=64, embed_dim=64, hidden=64, enc_layers=2,
                                       dec_layers=2, bidirectional=True),
            "lstm_b": TranslatorConfig(src_vocab=64, tgt_vocab=64, embed_dim=32, hidden=32, enc_layers=1,
                                       dec_layers=1),
        }
    return {name: memory_slices_lstm(name) for name in ("lstm0", "lstm1", "lstm2")}


def is_lstm(layer: str) -> bool:
    return layer.startswith(("enc", "dec"))


def critical_split(gemms, cfg) -> dict[str, int]:
    """Preload / stream / fill cycles of the busiest slice (slice 0 of ``Mapping.even``), summed
    over the calls and phases: the critical path of the compute time."""
    out = {"preload": 0, "stream": 0, "fill": 0}
    arr = cfg.array
    cache: dict = {}
    for _, m, k, n in gemms:
        for shp in PHASE_SHAPES.values():
            pm, pk, pn = shp(m, k, n)
            key = (pm, pk, pn)
            if key not in cache:
                mp = Mapping.even(k=pk, n=pn, num_slices=cfg.num_slices, width=arr.width, rows=arr.rows)
                c = array_counts(pm, max(mp.k_sizes), pn, arr)
                cache[key] = (c.preload_cycles, c.stream_cycles, c.fill_drain_cycles)
            p, s, f = cache[key]
            out["preload"] += p
            out["stream"] += s
            out["fill"] += f
    return out


def table4(cfgs: dict[str, TranslatorConfig], batch: int, src: int, tgt: int, cfg) -> list[dict]:
    """Weight matrices of the LSTM layers and the array partitions they need (Table 4 analogue)."""
    rows = []
    seen = set()
    for name, tc in cfgs.items():
        for layer, m, k, n in model_gemms(tc, batch=batch, src_len=src, tgt_len=tgt):
            if not is_lstm(layer) or (name, k, n) in seen:
                continue
            seen.add((name, k, n))
            kc, nt = -(-k // cfg.array.width), -(-n // cfg.array.rows)
            rows.append({"lstm": name, "weight": f"{k}x{n}", "k_chunks": kc, "n_tiles": nt, "partitions": kc * nt})
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="results")
    p.add_argument("--small", action="store_true", help="tiny LSTMs, 2..16 slices (for tests)")
    p.add_argument("--batch", type=int, default=None, help="sentence pairs per batch (default 128; small: 8)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    batch = args.batch or (8 if args.small else 128)
    src, tgt = (5, 10) if args.small else (40, 50)
    slices = [2, 4, 8, 16] if args.small else [2, 4, 8, 16, 32, 64, 128, 256]
    cfgs = lstm_configs(args.small)

    rows = []
    res: dict[str, dict[int, dict]] = {}
    for name, tc in cfgs.items():
        gemms = model_gemms(tc, batch=batch, src_len=src, tgt_len=tgt)
        lstm_gemms = [g for g in gemms if is_lstm(g[0])]
        res[name] = {}
        for s in slices:
            hw = phase_hardware(SYSTEM, s)
            costs = gemm_costs(gemms, hw)
            lstm = phase_totals({k: v for k, v in costs.items() if is_lstm(k)})["all"].to_dict()
            full = phase_totals(costs)["all"].to_dict()
            crit = critical_split(lstm_gemms, hw.ff.system)
            res[name][s] = {"lstm": lstm, "full": full, "crit": crit}
    for name in cfgs:
        b = res[name][slices[0]]
        for s in slices:
            r = res[name][s]
            lin = s / slices[0]
            row = {"lstm": name, "slices": s, "linear": lin}
            for part in ("lstm", "full"):
                d, d0 = r[part], b[part]
                row[f"{part}_time_s"] = d["time_s"]
                row[f"{part}_time_compute_s"] = d["time_compute_s"]
                row[f"{part}_time_memory_s"] = d["time_memory_s"]
                row[f"{part}_time_icn_s"] = d["time_icn_s"]
                row[f"{part}_speedup"] = d0["time_s"] / d["time_s"]
                row[f"{part}_speedup_compute"] = d0["time_compute_s"] / d["time_compute_s"]
                row[f"{part}_flops"] = d["flops"]
            d = r["lstm"]
            row["lstm_cycles_preload_all_slices"] = d["cycles_preload"]
            row["lstm_preload_fraction_all_slices"] = d["cycles_preload"] / d["cycles"]
            c = r["crit"]
            tot = c["preload"] + c["stream"] + c["fill"]
            row["crit_slice_preload_cycles"] = c["preload"]
            row["crit_slice_stream_cycles"] = c["stream"]
            row["crit_slice_fill_cycles"] = c["fill"]
            row["crit_slice_preload_fraction"] = c["preload"] / tot
            rows.append(row)

    csv_path = os.path.join(args.out, "fig17_slices_speedup.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    # ---- table
    arr = phase_hardware(SYSTEM, 2).ff.system.array
    print(f"Memory Slices Fig. 17 (pimjax model): training speedup vs 2 slices, {SYSTEM} "
          f"({arr.rows}x{arr.width} array), batch {batch}, bucket ({src}, {tgt}); LSTM layers, FF+BP+UP")
    print(f"{'lstm':<7}{'S':>5}{'linear':>8}{'speedup':>9}{'compute':>9}{'full tr.':>9}"
          f"{'time ms':>11}{'Tc ms':>9}{'Tm ms':>11}{'crit preload':>13}{'crit stream':>12}{'crit fill':>11}")
    for r in rows:
        print(f"{r['lstm']:<7}{r['slices']:>5}{r['linear']:>8.0f}{r['lstm_speedup']:>9.2f}"
              f"{r['lstm_speedup_compute']:>9.2f}{r['full_speedup']:>9.2f}{r['lstm_time_s'] * 1e3:>11.2f}"
              f"{r['lstm_time_compute_s'] * 1e3:>9.3f}{r['lstm_time_memory_s'] * 1e3:>11.2f}"
              f"{r['crit_slice_preload_cycles']:>13.3g}{r['crit_slice_stream_cycles']:>12.3g}"
              f"{r['crit_slice_fill_cycles']:>11.3g}")
    t4 = table4(cfgs, batch, src, tgt, phase_hardware(SYSTEM, 2).ff.system)
    print("\nTable 4 analogue: LSTM gate weight matrices (I+H) x 4H and the 8 x 256 array partitions they need")
    for r in t4:
        print(f"  {r['lstm']:<7}{r['weight']:>12}  K-chunks {r['k_chunks']:>4} x N-tiles {r['n_tiles']:>3} "
              f"= {r['partitions']:>5} partitions")

    # ---- verdict
    last = slices[-1]
    tol = 1.0 + 1e-9
    verdict = {}
    for name in cfgs:
        sel = [r for r in rows if r["lstm"] == name]
        verdict[name] = {
            "speedup_at_max": round(sel[-1]["lstm_speedup"], 3),
            "speedup_compute_at_max": round(sel[-1]["lstm_speedup_compute"], 3),
            "full_translator_speedup_at_max": round(sel[-1]["full_speedup"], 3),
            "linear_at_max": sel[-1]["linear"],
            "superlinear_any": any(r["lstm_speedup"] > r["linear"] * tol for r in sel[1:]),
            "superlinear_compute_any": any(r["lstm_speedup_compute"] > r["linear"] * tol for r in sel[1:]),
            "preload_fraction_all_slices": [round(r["lstm_preload_fraction_all_slices"], 4) for r in sel],
            "crit_slice_preload_cycles": [int(r["crit_slice_preload_cycles"]) for r in sel],
        }
    superlinear = any(v["superlinear_any"] or v["superlinear_compute_any"] for v in verdict.values())
    print(f"\nSuperlinear speedup in the pimjax model: {'YES' if superlinear else 'NO'} "
          f"(paper: superlinear, 'up to 2.4X' per doubling, LSTM0 and LSTM2 best)")
    for name, v in verdict.items():
        print(f"  {name}: {slices[0]} -> {last} slices: speedup {v['speedup_at_max']:.2f}x (compute only "
              f"{v['speedup_compute_at_max']:.2f}x, full translator {v['full_translator_speedup_at_max']:.2f}x) "
              f"vs linear {v['linear_at_max']:.0f}x; preload share of all slices' cycles "
              f"{min(v['preload_fraction_all_slices']):.3f}..{max(v['preload_fraction_all_slices']):.3f}")
    print("Why (preload/fill/stream split): a slice's compute is n_k_s x sum over N-tiles of (R' preload + M stream "
          "+ R'-1+L fill) cycles, n_k_s = its K-chunks. Doubling S halves n_k_s, so the busiest slice's preload, "
          "stream and fill all halve together (crit columns): the preload is a fixed share of the work, summed over "
          "the slices it is n_k x N cycles at every S. Weights are reloaded for every call (every time step), "
          "also when a slice's partition would fit its array, so no overhead vanishes with more slices: at best "
          "linear, then flat once S exceeds the K-chunks (UP's K is the batch: "
          f"{-(-batch // arr.width)} chunks; the smallest gate matrix here has {min(r['k_chunks'] for r in t4)}). "
          "The full model is worse than compute: K-chunk partial sums and the owners' aggregation go "
          "through each slice's DRAM (about 2 FLOP/byte), and an owner's aggregation traffic (M x 256 x (S - 1) "
          "partial sums) grows with S once S exceeds the N/256 output tiles.")

    # ---- plot
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, name in enumerate(cfgs):
        sel = [r for r in rows if r["lstm"] == name]
        c = colors[i % len(colors)]
        ax1.plot(slices, [r["lstm_speedup"] for r in sel], "-o", color=c, label=f"{name}: full cost model")
        ax1.plot(slices, [r["lstm_speedup_compute"] for r in sel], "--s", color=c, alpha=0.8,
                 label=f"{name}: compute only")
    ax1.plot(slices, [s / slices[0] for s in slices], "k-", lw=2, label="linear")
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log", base=2)
    ax1.set_xticks(slices, [str(s) for s in slices])
    ax1.set_xlabel("slices")
    ax1.set_ylabel(f"training speedup vs {slices[0]} slices")
    ax1.set_title("LSTM layers, FF+BP+UP (pimjax cost model)")
    ax1.grid(alpha=0.3, which="both")
    ax1.legend(fontsize=8)
    first = next(iter(cfgs))
    sel = [r for r in rows if r["lstm"] == first]
    comp = {"preload (R' per tile pass)": ("crit_slice_preload_cycles", "tab:red", "-o"),
            "stream (M per tile pass)": ("crit_slice_stream_cycles", "tab:blue", "-s"),
            "fill/drain (R'-1+L per pass)": ("crit_slice_fill_cycles", "tab:gray", "-^")}
    for label, (key, c, style) in comp.items():
        ax2.plot(slices, [r[key] for r in sel], style, color=c, label=label)
    p0 = sel[0]["crit_slice_preload_cycles"]
    ax2.plot(slices, [p0 * slices[0] / s for s in slices], "k:", label="preload x 1/S (linear)")
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xticks(slices, [str(s) for s in slices])
    ax2.set_xlabel("slices")
    ax2.set_ylabel("cycles of the busiest slice (one batch)")
    ax2.set_title(f"{first}: busiest slice's array cycles by component")
    ax2.grid(alpha=0.3, which="both")
    ax2.legend(fontsize=8)
    fig.suptitle(f"Memory Slices Fig. 17 (pimjax): speedup from {slices[0]} to {last} slices, {SYSTEM}, "
                 f"batch {batch}")
    fig.tight_layout()
    png_path = os.path.join(args.out, "fig17_slices_speedup.png")
    fig.savefig(png_path, dpi=120)
    plt.close(fig)

    summary = {"figure": "memory_slices_fig17", "csv": csv_path, "png": png_path, "system": SYSTEM, "batch": batch,
               "bucket": [src, tgt], "slices": slices, "superlinear": superlinear, "lstms": verdict,
               "paper": "superlinear from 2 to 256 slices (up to 2.4x per doubling)"}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
