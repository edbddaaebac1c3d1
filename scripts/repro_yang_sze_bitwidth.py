"""Reproduces Yang & Sze's low-precision study: accuracy vs weight bit width for several networks.

Yang & Sze, "Low Precision Computation": "different DNNs have different
sensitivities to the bit width of weights" and the "rank of accuracy changes with different
bit widths of weights"; "shallower DNNs with larger filters (e.g., VGG) achieve the highest
accuracy at 4 bits". Weights are not retrained.

pimjax: the small CNNs of the noise study (:mod:`pimjax.apps.sweep.models`: depth 2/4/6 with
3x3 filters, and 2 layers with 3x3 / 5x5 / 7x7 filters of about equal size), trained in float32
on the 8x8 digits, evaluated on the emulated slice datapath with 16-bit activations (Q6.10), a
32-bit accumulator and weights of 2..8 and 16 bits, each layer's weights scaled by a power of
two so that its largest weight fills the range (``weight_scale="layer"``), nearest-even
rounding. All widths of a network run in one vmapped program. The ranking of the networks at
every width is compared with the ranking at 16 bits (Kendall's tau) and the best network at
each width is reported.

Writes ``yang_sze_bitwidth.csv`` and ``yang_sze_bitwidth.png`` to ``--out``; the last line is
one JSON summary.

    python scripts/repro_yang_sze_bitwidth.py [--out results/] [--small]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pimjax.apps.sweep import ModelSpec, SweepEvaluator, SweepGrid  # noqa: E402
from pimjax.apps.sweep.models import accuracy, load_data, parse_name, trained_model  # noqa: E402

NETWORKS = ("cnn_d2_k3_c16", "cnn_d4_k3_c16", "cnn_d6_k3_c16", "cnn_d2_k5_c10", "cnn_d2_k7_c7")
BITS = (2, 3, 4, 5, 6, 8, 16)


def kendall_tau(a, b) -> float:
    """Kendall's tau-a between two score vectors (ties count as discordant-free zeros)."""
    s = 0
    pairs = list(itertools.combinations(range(len(a)), 2))
    for i, j in pairs:
        s += np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
    return float(s / len(pairs))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--small", action="store_true", help="CI size: 2 epochs, 3 widths")
    ap.add_argument("--seed", type=int, default=0, help="training seed (the fidelity table uses 0, 1, 2)")
    args = ap.parse_args(argv)
    epochs = 2 if args.small else args.epochs
    bits = (2, 4, 16) if args.small else BITS
    os.makedirs(args.out, exist_ok=True)
    acc, rows, info = {}, [], {}
    for name in NETWORKS:
        spec = ModelSpec(name=name, input_size=8, epochs=epochs, learning_rate=3e-3, seed=args.seed)
        data = load_data(spec)
        model = trained_model(spec, cache_dir=os.path.join(args.out, "models"), data=data)
        d, k, c = parse_name(name)
        info[name] = {"depth": d, "kernel": k, "channels": c,
                      "float_accuracy": accuracy(model, data.x_test, data.y_test)}
        grid = SweepGrid(act_bits=[16], act_int_bits=[6], weight_bits=list(bits), weight_scale=["layer"])
        (hw, pts), = grid.groups().items()
        ev = SweepEvaluator(model, hw, data.x_test, data.y_test, batch_size=150, events=True)
        m = ev.evaluate(pts)
        acc[name] = m["accuracy"]
        for i, b in enumerate(bits):
            rows.append({"network": name, "depth": d, "kernel": k, "channels": c, "weight_bits": b,
                         "accuracy": float(m["accuracy"][i]), "overflow": int(m["overflow"][i]),
                         "float_accuracy": info[name]["float_accuracy"]})
        print(f"{name:<16} float {info[name]['float_accuracy']:.3f} | " +
              " ".join(f"{b}b:{a:.3f}" for b, a in zip(bits, m["accuracy"])), flush=True)

    path = os.path.join(args.out, "yang_sze_bitwidth.csv")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    ref = [acc[n][-1] for n in NETWORKS]
    ranking, taus, best = {}, {}, {}
    for i, b in enumerate(bits):
        v = [acc[n][i] for n in NETWORKS]
        ranking[b] = [NETWORKS[j] for j in np.argsort(v)[::-1]]
        taus[b] = kendall_tau(v, ref)
        best[b] = ranking[b][0]

    fig, axs = plt.subplots(1, 2, figsize=(11, 4.2))
    for n in NETWORKS:
        i = info[n]
        axs[0].plot(bits, acc[n], marker="o", ms=3, label=f"depth {i['depth']}, {i['kernel']}x{i['kernel']}, c{i['channels']}")
    axs[0].set_xscale("log", base=2)
    axs[0].set_xticks(bits, [str(b) for b in bits])
    axs[0].set_xlabel("weight bits (per-layer power-of-two scale)")
    axs[0].set_ylabel("test accuracy")
    axs[0].set_title("accuracy vs weight bit width (16-bit activations)", fontsize=9)
    axs[0].grid(alpha=0.3)
    axs[0].legend(fontsize=7)
    rank_mat = np.array([[ranking[b].index(n) + 1 for b in bits] for n in NETWORKS])
    for j, n in enumerate(NETWORKS):
        axs[1].plot(bits, rank_mat[j], marker="o", ms=3, label=n)
    axs[1].set_xscale("log", base=2)
    axs[1].set_xticks(bits, [str(b) for b in bits])
    axs[1].invert_yaxis()
    axs[1].set_yticks(range(1, len(NETWORKS) + 1))
    axs[1].set_xlabel("weight bits")
    axs[1].set_ylabel("rank (1 = most accurate)")
    axs[1].set_title("ranking of the networks", fontsize=9)
    axs[1].grid(alpha=0.3)
    axs[1].legend(fontsize=7)
    fig.suptitle("Yang & Sze low-precision weights on emulated slices (digits 8x8, weights not retrained)", fontsize=10)
    fig.tight_layout()
    png = os.path.join(args.out, "yang_sze_bitwidth.png")
    fig.savefig(png, dpi=120)
    summary = {"seed": args.seed, "epochs": epochs, "csv": path, "png": png, "networks": info,
               "accuracy": {n: dict(zip(map(str, bits), map(float, acc[n]))) for n in NETWORKS},
               "best_network": {str(b): best[b] for b in bits},
               "kendall_tau_vs_16bit": {str(b): taus[b] for b in bits},
               "ranking_changes": any(ranking[b] != ranking[bits[-1]] for b in bits)}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
