"""Reproduces Yang & Sze's "Impact of Array Size on Utilization" with pimjax's cost model.

Yang & Sze, "Hardware Efficiency": PIM accelerators use large arrays (128 x 128 up
to 4096 x 4096, vs 16 x 16 .. 128 x 128 digital) to amortise their peripheral circuits; "the
number of MACs used in the array depends on filter size", "smaller filter means lower
utilization", and "shallower DNNs with larger layers may benefit more from the large array".

pimjax: the forward GEMMs ``(M, K, N)`` of every emulated layer (im2col convolutions and dense
layers, :func:`pimjax.nn.gemm_shapes`, one image) are costed on one ``S x S`` array
(``rows = width = S``: ``S`` multipliers per row along K, ``S`` rows along N, Memory Slices'
weight-stationary tiling) with :func:`pimjax.cost.array_cost`, for ``S`` = 8 .. 4096. Two
utilizations per layer and per model (model: MAC-weighted over its layers):

* ``utilization``: the cost model's MACs / (cycles x S x S) (preload and fill/drain included);
* ``mapped``: the fraction of the array's multipliers that hold a weight, over the tiles of
  the layer: ``K N / (ceil(K/S) S * ceil(N/S) S)`` (Yang & Sze's crossbar view).

Models: the small digits CNNs of the noise study (8x8, depth 2/4/6 with 3x3 filters, 2 layers
with 5x5 and 7x7 filters) and AlexNet, VGG16, ResNet-50 at 224 x 224.

Writes ``utilization.csv`` (per layer and model totals) and ``utilization.png`` to ``--out``;
the last line is one JSON summary.

    python scripts/repro_utilization.py [--out results/] [--small]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pimjax.apps.cost import model_gemms  # noqa: E402
from pimjax.apps.sweep import ModelSpec  # noqa: E402
from pimjax.apps.sweep.models import make_model  # noqa: E402
from pimjax.cost import array_cost  # noqa: E402
from pimjax.hw import ArrayConfig  # noqa: E402
from pimjax.nn import gemm_shapes  # noqa: E402
from pimjax.numerics import FixedFormat  # noqa: E402

SMALL = ("cnn_d2_k3_c16", "cnn_d4_k3_c16", "cnn_d6_k3_c16", "cnn_d2_k5_c10", "cnn_d2_k7_c7")
LARGE = ("alexnet", "vgg16", "resnet50")
SIZES = (8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def array(size: int) -> ArrayConfig:
    q = FixedFormat(bits=16, frac=8)
    return ArrayConfig(rows=size, width=size, a_format=q, b_format=q, accumulator_format=FixedFormat(bits=32, frac=16),
                       output_format=q, name=f"{size}x{size}")


def gemms(name: str, small: bool) -> list[tuple[str, int, int, int]]:
    if name.startswith("cnn_"):
        return gemm_shapes(make_model(ModelSpec(name=name, input_size=8)), 1)
    size = 64 if small else 224
    return model_gemms(name, batch=1, input_size=size, width=0.25 if small else 1.0)


def mapped(k: int, n: int, s: int) -> float:
    return k * n / ((-(-k // s)) * s * (-(-n // s)) * s)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results")
    ap.add_argument("--small", action="store_true", help="CI size: large models at 64x64, width 1/4")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rows, totals = [], {}
    for name in SMALL + LARGE:
        gs = gemms(name, args.small)
        for s in SIZES:
            cfg = array(s)
            macs = slots = mapped_w = 0.0
            for layer, m, k, n in gs:
                c = array_cost(m, k, n, cfg).to_dict()
                mp = mapped(k, n, s)
                rows.append({"model": name, "layer": layer, "array": s, "M": m, "K": k, "N": n, "macs": c["macs"],
                             "cycles": c["cycles"], "utilization": c["utilization"], "mapped": mp})
                macs += c["macs"]
                slots += c["slot_cycles"]
                mapped_w += mp * m * k * n
            u, mw = macs / slots, mapped_w / macs
            totals[(name, s)] = (u, mw)
            rows.append({"model": name, "layer": "TOTAL", "array": s, "M": "", "K": "", "N": "", "macs": macs,
                         "cycles": slots / (s * s), "utilization": u, "mapped": mw})
        print(f"{name:<14} " + " ".join(f"{s}:{totals[(name, s)][0]:.3f}" for s in SIZES), flush=True)

    path = os.path.join(args.out, "utilization.csv")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    fig, axs = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in SMALL + LARGE:
        ls = "--" if name in SMALL else "-"
        for ax, j in zip(axs, (0, 1)):
            ax.plot(SIZES, [totals[(name, s)][j] for s in SIZES], ls=ls, marker="o", ms=3, label=name)
    for ax, t in zip(axs, ("cost-model utilization (MACs / slot-cycles)", "mapped fraction of the array (weights)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("array size S (S x S multipliers)")
        ax.set_ylabel("utilization")
        ax.set_title(t, fontsize=9)
        ax.axvspan(16, 128, color="tab:blue", alpha=0.05)
        ax.axvspan(128, 4096, color="tab:red", alpha=0.05)
        ax.grid(alpha=0.3, which="both")
    axs[1].legend(fontsize=7)
    fig.suptitle("Yang & Sze: array utilization vs array size (batch 1 inference; shaded: digital 16-128, PIM 128-4096)",
                 fontsize=10)
    fig.tight_layout()
    png = os.path.join(args.out, "utilization.png")
    fig.savefig(png, dpi=120)
    summary = {"csv": path, "png": png,
               "utilization": {n: {str(s): round(totals[(n, s)][0], 4) for s in SIZES} for n in SMALL + LARGE},
               "mapped": {n: {str(s): round(totals[(n, s)][1], 4) for s in SIZES} for n in SMALL + LARGE}}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
