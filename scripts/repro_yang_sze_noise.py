"""Reproduces Yang & Sze's noise-resilience study: accuracy vs fixed and vs rescaled noise.

Yang & Sze, "Noise Resilience": zero-mean Gaussian noise is injected into the output
activations of every layer (weights not retrained); "fixed" noise has a fixed standard
deviation, "rescaled" noise a standard deviation proportional to the maximum magnitude of the
layer's activations. They report that "as the depth increases ... the accuracy decreases
faster with increasing noise" and that "as the filter size increases, accuracy decreases
slower" ("larger filters have more redundancy"), the same for both kinds of noise.

pimjax: small CNNs of :mod:`pimjax.apps.sweep.models` trained in float32 on the 8x8 digits,

* depth family: ``cnn_d2_k3_c16``, ``cnn_d4_k3_c16``, ``cnn_d6_k3_c16`` (3x3 filters);
* filter family (2 conv layers, about the same number of weights per layer, 16 x 9 x 16 =
  2304 vs 10 x 25 x 10 = 2500 vs 7 x 49 x 7 = 2401): ``cnn_d2_k3_c16``, ``cnn_d2_k5_c10``,
  ``cnn_d2_k7_c7``;

evaluated on the emulated slice datapath (16-bit activations Q6.10, 16-bit weights with a
per-layer scale, 32-bit accumulator, 256 x 8 array) with noise on every emulated layer's output
(:class:`pimjax.hw.NoiseConfig`), every noise level of a network in one vmapped program, the
accuracy averaged over ``--seeds`` noise draws (one compiled program per network and kind, reseeded
for each draw: :meth:`pimjax.apps.sweep.SweepEvaluator.reseeded`). ``sigma50`` is the noise level at which the
accuracy has lost half of its margin over chance (10 %), interpolated linearly: a network whose
``sigma50`` is smaller degrades faster. ``max_abs_activation_per_layer`` (mean over examples of
each layer's largest output magnitude) shows how large the activations that fixed noise is
compared with are.

Writes ``yang_sze_noise.csv`` (tidy: network, kind, level, accuracy per seed and mean) and
``yang_sze_noise.png`` to ``--out``; the last line printed is one JSON summary.

    python scripts/repro_yang_sze_noise.py [--out results/] [--seeds 3] [--small]
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
import numpy as np  # noqa: E402

from pimjax.apps.sweep import ModelSpec, SweepEvaluator, SweepGrid  # noqa: E402
from pimjax.apps.sweep.models import accuracy, load_data, parse_name, trained_model  # noqa: E402

DEPTH = ("cnn_d2_k3_c16", "cnn_d4_k3_c16", "cnn_d6_k3_c16")
FILTER = ("cnn_d2_k3_c16", "cnn_d2_k5_c10", "cnn_d2_k7_c7")
LEVELS = {"fixed": (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0),
          "rescaled": (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8)}


def sigma50(levels, acc, chance: float = 0.1) -> float:
    """Noise level where accuracy falls to (clean + chance) / 2 (linear interpolation; inf if never)."""
    target = (acc[0] + chance) / 2
    for i in range(1, len(levels)):
        if acc[i] <= target:
            a0, a1 = acc[i - 1], acc[i]
            return float(levels[i - 1] + (levels[i] - levels[i - 1]) * (a0 - target) / max(a0 - a1, 1e-12))
    return float("inf")


def n_params(model) -> int:
    import jax
    from flax import nnx

    return int(sum(np.size(v) for v in jax.tree.leaves(nnx.state(model, nnx.Param))))


def activation_scale(model, x) -> list[float]:
    """Per emulated layer: the mean over examples of max |layer output| (float32 forward pass)."""
    import jax.numpy as jnp

    from pimjax.nn._noise import override_forward

    rec = []

    def fwd(xa, w, hw, seed):
        y = jnp.dot(xa, w)
        rec.append(float(jnp.mean(jnp.max(jnp.abs(y).reshape(y.shape[0], -1), axis=1))))
        return y, jnp.zeros(4, jnp.float32)

    with override_forward(fwd):
        model(jnp.asarray(x), seed=jnp.uint32(0), train=False)
    return rec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results")
    ap.add_argument("--seeds", type=int, default=3, help="noise draws averaged per point")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--small", action="store_true", help="CI size: 2 epochs, 1 seed, 4 levels")
    ap.add_argument("--train-seed", type=int, default=0, help="training seed of the networks (fidelity: 0, 1, 2)")
    args = ap.parse_args(argv)
    epochs, seeds = (2, 1) if args.small else (args.epochs, args.seeds)
    levels = {k: (v[::2] if args.small else v) for k, v in LEVELS.items()}
    os.makedirs(args.out, exist_ok=True)
    rows, curves, info = [], {}, {}
    for name in dict.fromkeys(DEPTH + FILTER):
        spec = ModelSpec(name=name, input_size=8, epochs=epochs, learning_rate=3e-3, seed=args.train_seed)
        data = load_data(spec)
        model = trained_model(spec, cache_dir=os.path.join(args.out, "models"), data=data)
        d, k, c = parse_name(name)
        info[name] = {"depth": d, "kernel": k, "channels": c, "params": n_params(model),
                      "float_accuracy": accuracy(model, data.x_test, data.y_test),
                      "max_abs_activation_per_layer": [round(v, 2) for v in activation_scale(model, data.x_test)]}
        for kind, lv in levels.items():
            grid = SweepGrid(act_bits=[16], act_int_bits=[6], weight_bits=[16], noise_kind=[kind], noise_level=list(lv))
            (hw, pts), = grid.groups().items()
            accs = []
            ev = SweepEvaluator(model, hw, data.x_test, data.y_test, batch_size=150, seed=0, events=False)
            for s in range(seeds):  # one compile per network and kind: the noise draws only reseed it
                accs.append(ev.reseeded(s).evaluate(pts)["accuracy"])
            accs = np.asarray(accs)
            mean = accs.mean(axis=0)
            curves[(name, kind)] = (np.asarray(lv), mean)
            for i, l in enumerate(lv):
                rows.append({"network": name, **{f: info[name][f] for f in ("depth", "kernel", "channels", "params")},
                             "noise_kind": kind, "noise_level": l, "accuracy": float(mean[i]),
                             **{f"accuracy_seed{s}": float(accs[s, i]) for s in range(seeds)}})
            print(f"{name:<16} {kind:<9} " + " ".join(f"{l:g}:{a:.3f}" for l, a in zip(lv, mean)), flush=True)

    path = os.path.join(args.out, "yang_sze_noise.csv")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    s50 = {kind: {n: sigma50(*curves[(n, kind)]) for n in info} for kind in levels}
    fig, axs = plt.subplots(2, 2, figsize=(10, 7.5))
    for col, kind in enumerate(levels):
        for row, (fam, label) in enumerate(((DEPTH, "depth (3x3 filters)"), (FILTER, "filter size (2 layers)"))):
            ax = axs[row, col]
            for n in fam:
                lv, acc = curves[(n, kind)]
                i = info[n]
                ax.plot(lv, acc, marker="o", ms=3,
                        label=f"depth {i['depth']}, {i['kernel']}x{i['kernel']}, c{i['channels']} "
                              f"(clean {acc[0]:.3f}, s50 {s50[kind][n]:.2g})")
            ax.axhline(0.1, color="grey", lw=0.5, ls=":")
            ax.set_xlabel(f"{kind} noise std" + (" / max|activation|" if kind == "rescaled" else ""))
            ax.set_ylabel("test accuracy")
            ax.set_title(f"{kind} noise: {label}", fontsize=9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle("Yang & Sze noise resilience on emulated 16-bit slices (digits 8x8, weights not retrained)",
                 fontsize=10)
    fig.tight_layout()
    png = os.path.join(args.out, "yang_sze_noise.png")
    fig.savefig(png, dpi=120)

    def monotone(fam, kind, decreasing):
        v = [s50[kind][n] for n in fam]
        return all((a > b) if decreasing else (a < b) for a, b in zip(v, v[1:]))

    summary = {
        "train_seed": args.train_seed, "csv": path, "png": png, "networks": info, "sigma50": s50,
        "deeper_degrades_faster": {k: monotone(DEPTH, k, True) for k in levels},
        "larger_filters_more_robust": {k: monotone(FILTER, k, False) for k in levels},
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
