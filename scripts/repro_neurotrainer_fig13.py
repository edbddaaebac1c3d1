"""Reproduces NeuroTrainer Fig. 13 (AlexNet per-layer latency) and Memory Slices' LSTM1 throughput.

NeuroTrainer (seed 001) Sec. 5.1, Fig. 13: latency and throughput of every AlexNet layer on one
NeuroTrainer module (15 PEs of 32 MACs at 2.5 GHz, HMC 1.0; 4.8 TOPS in 16-bit FF, 2.4 TOPS in
32-bit SR BP/UP), minibatch 32: "For the one input image, inference took 0.31mS ... and training
took 1.97mS"; FF layers 4.2-4.7 TOPS; BP: FC3 1.61, C1 1.19 TOPS; UP: C1-C5 about 1.98, FC about
1.02 TOPS. Memory Slices (seed 003) Sec. 7.1: "LSTM1, which reaches 1.2 PFLOPs/Sec by using 512
slices of HMC2.0".

pimjax (:func:`pimjax.apps.model_costs.model_costs`, shapes only): AlexNet (torchvision
single-tower layout, 224 x 224, batch 32) with FF on ``neurotrainer_module_ff`` and BP/UP on
``neurotrainer_module_bp`` (15 slices = PEs, K split over them by ``Mapping.even``); per-layer
time per image = the layer's batch time / 32; inference = the FF total, training = FF + BP + UP.
Two numbers for each: the full cost model (``time_s``: compute, memory and ICN overlapped per
slice) and compute only (``time_compute_s``: the busiest PE's array cycles). LSTM1: pimjax's
stand-in (:func:`pimjax.apps.model_costs.memory_slices_lstm`: 512 units, 4 + 4 layers, batch
128, bucket (40, 50)) trained (FF + BP + UP) on ``slices_hmc2`` with 512 slices; throughput =
FLOPs / time, for its LSTM layers and for the whole translator.

Writes ``fig13_neurotrainer.csv`` and ``fig13_neurotrainer.png`` to ``--out``, prints the tables
and the comparison with the papers (with the reason for every difference), ends with one JSON line.

    python scripts/repro_neurotrainer_fig13.py [--out results/] [--small]
"""

from __future__ import annotations

import argparse
import csv
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pimjax.apps.model_costs import memory_slices_lstm, model_costs, phase_totals  # noqa: E402
from pimjax.nn import PHASES, TranslatorConfig  # noqa: E402

NT_SYSTEM = {"ff": "neurotrainer_module_ff", "bp": "neurotrainer_module_bp", "up": "neurotrainer_module_bp"}
PAPER = {"inference_ms": 0.31, "training_ms": 1.97, "lstm1_pflops": 1.2,
         "ff_tops": (4.2, 4.7), "bp_tops": {"fc3": 1.61, "conv1": 1.19}, "up_tops": {"conv": 1.98, "fc": 1.02}}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="results")
    p.add_argument("--small", action="store_true", help="small AlexNet and LSTM, 16 slices (for tests)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.small:
        cnn = dict(batch=4, input_size=32, width=0.25)
        lstm_cfg = TranslatorConfig(src_vocab=64, tgt_vocab=64, embed_dim=32, hidden=32, enc_layers=1, dec_layers=1)
        lstm = dict(batch=8, src_len=5, tgt_len=10)
        lstm_slices = 16
    else:
        cnn = dict(batch=32, input_size=224, width=1.0)
        lstm_cfg = memory_slices_lstm("lstm1")
        lstm = dict(batch=128, src_len=40, tgt_len=50)
        lstm_slices = 512
    batch = cnn["batch"]

    # ---- AlexNet on one NeuroTrainer module
    costs = model_costs("alexnet", system=NT_SYSTEM, **cnn)
    rows = []
    for layer, phases in costs.items():
        for ph in PHASES:
            d = phases[ph].to_dict()
            rows.append({"part": "alexnet", "layer": layer, "phase": ph, "macs_per_image": d["macs"] / batch,
                         "latency_ms_per_image": d["time_s"] / batch * 1e3,
                         "compute_ms_per_image": d["time_compute_s"] / batch * 1e3,
                         "memory_ms_per_image": d["time_memory_s"] / batch * 1e3,
                         "tops": d["flops"] / d["time_s"] / 1e12,
                         "tops_compute": d["flops"] / d["time_compute_s"] / 1e12 if d["time_compute_s"] else 0.0,
                         "utilization": d["utilization"], "dram_mb_per_image": d["dram_bytes"] / batch / 1e6})
    tot = {ph: r.to_dict() for ph, r in phase_totals(costs).items()}
    inf_ms = tot["ff"]["time_s"] / batch * 1e3
    inf_c_ms = tot["ff"]["time_compute_s"] / batch * 1e3
    tr_ms = tot["all"]["time_s"] / batch * 1e3
    tr_c_ms = tot["all"]["time_compute_s"] / batch * 1e3
    for name, key in (("inference", "ff"), ("training", "all")):
        d = tot[key]
        rows.append({"part": "alexnet", "layer": f"TOTAL_{name}", "phase": key, "macs_per_image": d["macs"] / batch,
                     "latency_ms_per_image": d["time_s"] / batch * 1e3,
                     "compute_ms_per_image": d["time_compute_s"] / batch * 1e3,
                     "memory_ms_per_image": d["time_memory_s"] / batch * 1e3,
                     "tops": d["flops"] / d["time_s"] / 1e12, "tops_compute": d["flops"] / d["time_compute_s"] / 1e12,
                     "utilization": d["utilization"], "dram_mb_per_image": d["dram_bytes"] / batch / 1e6})

    # ---- LSTM1 on 512 HMC 2.0 slices
    lc = model_costs(lstm_cfg, system="slices_hmc2", slices=lstm_slices, **lstm)
    lstm_only = phase_totals({k: v for k, v in lc.items() if k.startswith(("enc", "dec"))})["all"].to_dict()
    full = phase_totals(lc)["all"].to_dict()
    lstm_res = {}
    for name, d in (("lstm_layers", lstm_only), ("full_translator", full)):
        lstm_res[name] = {"pflops": d["flops"] / d["time_s"] / 1e15,
                          "pflops_compute": d["flops"] / d["time_compute_s"] / 1e15,
                          "intensity": d["intensity"], "time_s": d["time_s"], "time_compute_s": d["time_compute_s"]}
        rows.append({"part": "lstm1", "layer": name, "phase": "all", "macs_per_image": d["macs"],
                     "latency_ms_per_image": d["time_s"] * 1e3, "compute_ms_per_image": d["time_compute_s"] * 1e3,
                     "memory_ms_per_image": d["time_memory_s"] * 1e3, "tops": d["flops"] / d["time_s"] / 1e12,
                     "tops_compute": d["flops"] / d["time_compute_s"] / 1e12, "utilization": d["utilization"],
                     "dram_mb_per_image": d["dram_bytes"] / 1e6})

    csv_path = os.path.join(args.out, "fig13_neurotrainer.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    # ---- tables
    shape = f"{cnn['input_size']}x{cnn['input_size']}, width {cnn['width']}, batch {batch}"
    print(f"NeuroTrainer Fig. 13 (pimjax model): AlexNet ({shape}) on one module; FF {NT_SYSTEM['ff']}, "
          f"BP/UP {NT_SYSTEM['bp']}; per image")
    print(f"{'layer':<18}{'phase':<6}{'MMACs':>9}{'latency ms':>12}{'compute ms':>12}{'TOPS':>8}{'TOPS cmp':>10}"
          f"{'util':>7}{'DRAM MB':>10}")
    for r in rows:
        if r["part"] != "alexnet":
            continue
        print(f"{r['layer']:<18}{r['phase']:<6}{r['macs_per_image'] / 1e6:>9.1f}{r['latency_ms_per_image']:>12.4f}"
              f"{r['compute_ms_per_image']:>12.4f}{r['tops']:>8.3f}{r['tops_compute']:>10.2f}{r['utilization']:>7.3f}"
              f"{r['dram_mb_per_image']:>10.2f}")
    def tops(layer_prefix, ph):
        v = [r["tops_compute"] for r in rows if r["part"] == "alexnet" and r["layer"].startswith(layer_prefix)
             and r["phase"] == ph]
        return (min(v), max(v)) if v else (0.0, 0.0)

    ff_conv, ff_fc = tops("features", "ff"), tops("classifier", "ff")
    bp_conv, bp_fc = tops("features", "bp"), tops("classifier", "bp")
    up_conv, up_fc = tops("features", "up"), tops("classifier", "up")
    print("\nComparison with NeuroTrainer Sec. 5.1 (per image):")
    print(f"  inference: paper {PAPER['inference_ms']} ms | pimjax full model {inf_ms:.3f} ms | compute only "
          f"{inf_c_ms:.3f} ms")
    print(f"  training:  paper {PAPER['training_ms']} ms | pimjax full model {tr_ms:.3f} ms | compute only "
          f"{tr_c_ms:.3f} ms")
    print(f"  FF TOPS:  paper 4.2-4.7 (all layers) | pimjax compute-only convs {ff_conv[0]:.2f}-{ff_conv[1]:.2f}, "
          f"FCs {ff_fc[0]:.2f}-{ff_fc[1]:.2f}")
    print(f"  BP TOPS:  paper C1 1.19, FC3 1.61, others up to 2.4 | pimjax compute-only convs "
          f"{bp_conv[0]:.2f}-{bp_conv[1]:.2f}, FCs {bp_fc[0]:.2f}-{bp_fc[1]:.2f}")
    print(f"  UP TOPS:  paper C1-C5 ~1.98, FC ~1.02 | pimjax compute-only convs {up_conv[0]:.2f}-{up_conv[1]:.2f}, "
          f"FCs {up_fc[0]:.2f}-{up_fc[1]:.2f}")
    reasons = {
        "full_model": "The full model is memory-bound: a PE's array reduces only W = 2 (FF) or 1 (BP/UP) K elements "
                      "per pass, and pimjax writes and reads the M x 32 partial sums of every K-chunk pass to the PE's "
                      "vault (8 GB/s), plus every owner PE's aggregation of the 15 PEs' partial sums; NeuroTrainer "
                      "keeps partial sums in each PE's SRAM (Sec. 3.3) and reaches 4.2-4.7 TOPS, so only the "
                      "compute-only number is comparable.",
        "inference": f"Compute only is close: AlexNet (torchvision, {tot['ff']['macs'] / batch / 1e9:.3f} GMAC per "
                     "image; the paper's C1 has 96 channels, the grouped original is about the same size) at "
                     f"{ff_conv[0]:.2f}-{ff_conv[1]:.2f} TOPS in the convolutions. It is above the paper because the "
                     f"FC layers stream only the {batch} images (M = {batch}) per pass against 32 preload + 32 "
                     f"fill/drain cycles ({ff_fc[1]:.2f} TOPS), where NeuroTrainer streams the weights and keeps the "
                     "batch (Fig. 7).",
        "training": "Compute only is below the paper: pimjax runs BP and UP at nearly the 2.4 TOPS peak in the "
                    "convolutions; the paper's 1.97 ms includes data preparation (Prep) and its slower C1 BP "
                    "(1.19 TOPS) and FC UP (1.02 TOPS: outer products without reuse), which the array model does "
                    "not have.",
    }
    for k, v in reasons.items():
        print(f"  reason ({k}): {v}")

    print(f"\nMemory Slices LSTM1 on {lstm_slices} slices of slices_hmc2 (pimjax stand-in: hidden {lstm_cfg.hidden}, "
          f"{lstm_cfg.enc_layers}+{lstm_cfg.dec_layers} layers, batch {lstm['batch']}, bucket "
          f"({lstm['src_len']}, {lstm['tgt_len']})), training FF+BP+UP:")
    for name, v in lstm_res.items():
        print(f"  {name:<16} full model {v['pflops'] * 1e3:9.3f} TFLOP/s | compute only {v['pflops_compute']:.4f} "
              f"PFLOP/s | intensity {v['intensity']:.2f} FLOP/B | paper {PAPER['lstm1_pflops']} PFLOP/s")
    h, e = lstm_cfg.hidden, lstm_cfg.embed_dim
    arr_w, arr_r = 8, 256  # slices_hmc2's array
    n_gate = 4 * h
    kc = sorted({-(-(e + h) // arr_w), -(-(e + 2 * h) // arr_w)})
    rp = min(arr_r, n_gate)
    util = lstm["batch"] / (lstm["batch"] + 2 * rp - 1 + 6)
    lstm_reason = ("Full model: memory-bound at about 2 FLOP/B (K-chunk partial sums, and each output tile's owner "
                   f"aggregating up to {lstm_slices} partial sums, through its 10 GB/s vault) against a balance "
                   "point of 819 FLOP/B; the paper places LSTM1 near the knee. Compute only: a time step's gate "
                   f"GEMM is ({lstm['batch']} x {e + h}) @ ({e + h} x {n_gate}) ({e + 2 * h} rows for dec0), so FF "
                   f"has {kc[0]}-{kc[-1]} K-chunks, BP {-(-n_gate // arr_w)} and UP {-(-lstm['batch'] // arr_w)} "
                   f"(K = batch): at most that many of the {lstm_slices} slices work, and every FF/BP tile pass "
                   f"streams {lstm['batch']} rows against {rp} preload and {rp - 1 + 6} fill/drain cycles "
                   f"({100 * util:.0f}% utilization). The paper also overlaps layers and time steps (a layer works "
                   "on the next element while the next layer works on this one), which summing the ops' times "
                   "does not.")
    print(f"  reason: {lstm_reason}")

    # ---- plot
    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    layers = [k for k in costs]
    short = [k.split(".")[-1] for k in layers]
    x = np.arange(len(layers))
    wdt = 0.26
    cols = {"ff": "tab:blue", "bp": "tab:orange", "up": "tab:green"}
    for ax, key, title in ((axes[0, 0], "latency_ms_per_image", "full cost model (compute, memory, ICN)"),
                           (axes[0, 1], "compute_ms_per_image", "compute only (array cycles of the busiest PE)")):
        for i, ph in enumerate(PHASES):
            vals = [next(r[key] for r in rows if r["part"] == "alexnet" and r["layer"] == lay and r["phase"] == ph)
                    for lay in layers]
            ax.bar(x + (i - 1) * wdt, vals, wdt, color=cols[ph], label=ph.upper())
        ax.set_xticks(x, short)
        ax.set_yscale("log")
        ax.set_ylabel("latency per image (ms)")
        ax.set_title(f"AlexNet per layer: {title}")
        ax.grid(alpha=0.3, axis="y", which="both")
        ax.legend(fontsize=8)
    ax = axes[1, 0]
    labels = ["inference", "training"]
    paper_v = [PAPER["inference_ms"], PAPER["training_ms"]]
    full_v = [inf_ms, tr_ms]
    comp_v = [inf_c_ms, tr_c_ms]
    xx = np.arange(2)
    ax.bar(xx - wdt, paper_v, wdt, color="k", label="NeuroTrainer paper")
    ax.bar(xx, full_v, wdt, color="tab:red", label="pimjax full model")
    ax.bar(xx + wdt, comp_v, wdt, color="tab:purple", label="pimjax compute only")
    for xi, vals in zip(xx, zip(paper_v, full_v, comp_v)):
        for off, v in zip((-wdt, 0, wdt), vals):
            ax.text(xi + off, v * 1.1, f"{v:.3g}", ha="center", fontsize=8)
    ax.set_xticks(xx, labels)
    ax.set_yscale("log")
    ax.set_ylabel("ms per image")
    ax.set_title(f"AlexNet per image, batch {batch}, one NeuroTrainer module")
    ax.grid(alpha=0.3, axis="y", which="both")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    names = ["paper LSTM1", "lstm layers\nfull model", "lstm layers\ncompute only", "translator\nfull model",
             "translator\ncompute only"]
    vals = [PAPER["lstm1_pflops"], lstm_res["lstm_layers"]["pflops"], lstm_res["lstm_layers"]["pflops_compute"],
            lstm_res["full_translator"]["pflops"], lstm_res["full_translator"]["pflops_compute"]]
    ax.bar(range(len(vals)), vals, color=["k", "tab:red", "tab:purple", "tab:red", "tab:purple"])
    for i, v in enumerate(vals):
        ax.text(i, v * 1.1, f"{v:.3g}", ha="center", fontsize=8)
    ax.set_xticks(range(len(vals)), names, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("PFLOP/s")
    ax.set_title(f"Memory Slices LSTM1 training on {lstm_slices} HMC 2.0 slices")
    ax.grid(alpha=0.3, axis="y", which="both")
    fig.suptitle("NeuroTrainer Fig. 13 and Memory Slices LSTM1 throughput (pimjax cost model)")
    fig.tight_layout()
    png_path = os.path.join(args.out, "fig13_neurotrainer.png")
    fig.savefig(png_path, dpi=120)
    plt.close(fig)

    summary = {
        "figure": "neurotrainer_fig13", "csv": csv_path, "png": png_path,
        "alexnet": {"batch": batch, "input_size": cnn["input_size"], "width": cnn["width"],
                    "inference_ms_per_image": round(inf_ms, 5), "inference_compute_ms_per_image": round(inf_c_ms, 5),
                    "training_ms_per_image": round(tr_ms, 5), "training_compute_ms_per_image": round(tr_c_ms, 5),
                    "paper_inference_ms": PAPER["inference_ms"], "paper_training_ms": PAPER["training_ms"]},
        "lstm1": {"slices": lstm_slices, "paper_pflops": PAPER["lstm1_pflops"],
                  **{f"{k}_{m}": round(v[m], 6) for k, v in lstm_res.items() for m in ("pflops", "pflops_compute")}},
        "reasons": {**reasons, "lstm1": lstm_reason},
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
