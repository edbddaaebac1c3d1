"""Reproduces AMD multi-PIM Fig. 11: memory per PIM of an FC layer, data vs model parallelism.

Xu, Zhang, Jayasena, "Scaling Deep Learning on Multiple In-Memory Processors",
Sec. 6.4 / Fig. 11: an FC layer of size 4096 (4096 inputs, 4096 outputs, fp32), data and
model parallelism over 4 and 8 PIMs, batch 128, 256, 512, 1024. The model
(:mod:`pimjax.cost._multipim_memory`): data parallel holds ``ceil(B/N)`` inputs and outputs and the
full weights; model parallel holds ``B x K/N`` inputs, ``K/N x M`` weights, a ``B x M``
partial sum and the ``B x M`` result copied back.

Writes ``fig11_memory_per_pim.csv`` (tidy: one row per layer size, scheme, PIM count, batch
and metric) and ``fig11_memory_per_pim.png`` to ``--out``, prints a table and the comparison
with the paper's text, and ends with one line of JSON.

    python scripts/repro_amd_fig11.py [--out results/] [--batches 128 256 512 1024]
        [--layer 4096] [--layer-sizes 1024 2048 4096 8192] [--pims 4 8]
"""

from __future__ import annotations

import argparse
import csv
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pimjax import hw  # noqa: E402
from pimjax.cost import FCLayer, memory_per_pim  # noqa: E402

METRICS = ("inputs_bytes", "weights_bytes", "outputs_bytes", "partial_sums_bytes", "total_bytes")
MIB = 2**20


def crossover_batch(layer: int, n: int, limit: int = 1 << 22) -> int | None:
    """Smallest batch at which model-parallel memory per PIM reaches data-parallel's."""
    lo, hi = 1, limit

    def model_ge_data(b: int) -> bool:
        fc = FCLayer(batch=b, in_features=layer, out_features=layer)
        return memory_per_pim(fc, n, "model").total_bytes >= memory_per_pim(fc, n, "data").total_bytes

    if not model_ge_data(hi):
        return None
    while lo < hi:  # model - data grows with the batch: bisect
        mid = (lo + hi) // 2
        if model_ge_data(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="results")
    p.add_argument("--batches", type=int, nargs="+", default=[128, 256, 512, 1024])
    p.add_argument("--layer", type=int, default=4096, help="FC layer size of the main panel (paper: 4096)")
    p.add_argument("--layer-sizes", type=int, nargs="+", default=[1024, 2048, 4096, 8192],
                   help="layer sizes of the second panel (memory vs model size)")
    p.add_argument("--pims", type=int, nargs="+", default=[4, 8])
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    layers = sorted(set(args.layer_sizes) | {args.layer})
    capacity = hw.presets.get("4PIM").pim.capacity_bytes  # AMD Sec. 3: 4 GB per stack

    mem: dict[tuple[int, str, int, int], dict[str, int]] = {}
    rows = []
    for layer in layers:
        for scheme in ("data", "model"):
            for n in args.pims:
                for b in args.batches:
                    m = memory_per_pim(FCLayer(batch=b, in_features=layer, out_features=layer), n, scheme).as_dict()
                    mem[(layer, scheme, n, b)] = m
                    for metric in METRICS:
                        rows.append(dict(figure="fig11", layer=layer, scheme=scheme, num_pims=n, batch=b,
                                         metric=metric, value=m[metric], unit="bytes"))
    csv_path = os.path.join(args.out, "fig11_memory_per_pim.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    # Table: the main layer size.
    L = args.layer
    print(f"Fig. 11: memory per PIM (MiB) of an FC layer {L} x {L}, fp32; stack capacity "
          f"{capacity / MIB:.0f} MiB")
    print(f"{'scheme':<7}{'PIMs':>5}" + "".join(f"{'B=' + str(b):>11}" for b in args.batches))
    for scheme in ("data", "model"):
        for n in args.pims:
            print(f"{scheme:<7}{n:>5}" + "".join(
                f"{mem[(L, scheme, n, b)]['total_bytes'] / MIB:>11.2f}" for b in args.batches))

    # Plot: (left) vs batch at the main layer size; (right) vs layer size, one line per batch.
    colors = {4: "tab:red", 8: "tab:green"}
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    for scheme, ls in (("data", "-"), ("model", "--")):
        for n in args.pims:
            c = colors.get(n)
            ax1.plot(args.batches, [mem[(L, scheme, n, b)]["total_bytes"] / MIB for b in args.batches],
                     ls=ls, marker="o", color=c, label=f"{n}PIM_{scheme}")
            for i, b in enumerate(args.batches):
                ax2.plot(layers, [mem[(ly, scheme, n, b)]["total_bytes"] / MIB for ly in layers],
                         ls=ls, marker=markers[i % len(markers)], color=c, alpha=0.85,
                         label=f"{n}PIM_{scheme} B={b}")
    ax1.set_xscale("log", base=2)
    ax1.set_xticks(args.batches, [str(b) for b in args.batches])
    ax1.set_xlabel("batch size")
    ax1.set_ylabel("memory per PIM (MiB)")
    ax1.set_ylim(bottom=0)
    ax1.set_title(f"FC layer {L}: memory per PIM vs batch")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=9)
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xticks(layers, [str(x) for x in layers])
    ax2.set_xlabel("FC layer size (inputs = outputs)")
    ax2.set_ylabel("memory per PIM (MiB)")
    ax2.set_title("vs layer size (solid: data, dashed: model; red 4PIM, green 8PIM)")
    ax2.grid(alpha=0.3, which="both")
    ax2.legend(fontsize=6, ncol=2)
    fig.suptitle("AMD multi-PIM Fig. 11 (pimjax model): memory per PIM, data vs model parallelism")
    fig.tight_layout()
    png_path = os.path.join(args.out, "fig11_memory_per_pim.png")
    fig.savefig(png_path, dpi=120)
    plt.close(fig)

    # Comparison with the paper's text (Sec. 6.4).
    tot = {k: v["total_bytes"] for k, v in mem.items()}
    data_vals = [tot[(L, "data", n, b)] for n in args.pims for b in args.batches]
    ratios = [tot[(L, "data", n, b)] / tot[(L, "model", n, b)] for n in args.pims for b in args.batches]
    spread = max(data_vals) / min(data_vals)
    shrink = all(tot[(L, "model", n1, b)] > tot[(L, "model", n2, b)]
                 for b in args.batches for n1, n2 in zip(sorted(args.pims), sorted(args.pims)[1:]))
    grows = all(tot[(L, "model", n, b1)] < tot[(L, "model", n, b2)]
                for n in args.pims for b1, b2 in zip(args.batches, args.batches[1:]))
    cross = {n: crossover_batch(L, n) for n in args.pims}
    claims = {
        "data_uses_more_memory": min(ratios) > 1.0,
        "data_memory_nearly_constant": spread < 1.25,
        "model_memory_shrinks_with_pims": shrink,
        "model_memory_grows_with_batch": grows,
    }
    print("\nComparison with the paper (Sec. 6.4 text; Fig. 11's values are not in the text):")
    print(f"  paper: data parallelism 'consumes substantially more memory per PIM' -> pimjax: data / model = "
          f"{min(ratios):.2f}x .. {max(ratios):.2f}x  [{'agrees' if claims['data_uses_more_memory'] else 'differs'}]")
    print(f"  paper: data-parallel memory barely changes with #PIMs or batch (replicated weights dominate) -> "
          f"pimjax: max/min = {spread:.3f}  [{'agrees' if claims['data_memory_nearly_constant'] else 'differs'}]")
    print(f"  paper: with model parallelism, more PIMs reduce memory per PIM -> pimjax: "
          + ", ".join(f"B={b}: " + " > ".join(f"{tot[(L, 'model', n, b)] / MIB:.1f}" for n in sorted(args.pims))
                      + " MiB" for b in args.batches[:2])
          + f"  [{'agrees' if shrink else 'differs'}]")
    print(f"  paper: model-parallel memory grows moderately with batch -> pimjax: "
          + ", ".join(f"{n}PIM {tot[(L, 'model', n, args.batches[0])] / MIB:.1f}->"
                      f"{tot[(L, 'model', n, args.batches[-1])] / MIB:.1f} MiB" for n in args.pims)
          + f"  [{'agrees' if grows else 'differs'}]")
    print("  paper: 'if the batch size is large enough, model parallelism can consume similar amount of "
          "memory as data parallelism' -> pimjax: equal at batch "
          + ", ".join(f"{c} ({n} PIMs)" for n, c in cross.items()))

    summary = {
        "figure": "amd_fig11",
        "csv": csv_path,
        "png": png_path,
        "rows": len(rows),
        "layer": L,
        "mib_per_pim": {f"{n}PIM_{s}": {str(b): round(tot[(L, s, n, b)] / MIB, 3) for b in args.batches}
                        for s in ("data", "model") for n in args.pims},
        "memory_crossover_batch": {str(n): c for n, c in cross.items()},
        "claims": claims,
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
