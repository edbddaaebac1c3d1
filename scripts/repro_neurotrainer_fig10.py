"""NeuroTrainer Fig. 10: training an RNN in float32, 32-bit fixed point without stochastic
rounding, with SR, and with SR LO.

NeuroTrainer Sec. 3.3.2: "even 32bit fixed point in backpropagation and parameter update may
result in inaccurate training in deeper network, in particular, the recurrent networks [...]
there is no accuracy degradation between SR and SR LO" (Fig. 10; after its reference [25], Na et al., IJCNN 2017).

The run: pimjax's GNMT-style LSTM translator (bidirectional encoder, Luong attention) on the
synthetic translation task, trained with Adam (cosine-decayed learning rate), every matmul of FF/BP/UP on an emulated
slice array, and the weights resident in memory as 16-bit fixed point with 8, 10 or 12 fraction
bits (Q4.12 is the format in which the forward pass reads them), updated there
(``W <- W - eta dW`` rounded into the weight format: :func:`pimjax.nn.resident_update`):

* ``float32``: ``--hw native`` (float32 matmuls and float32 weights);
* ``fixed32``: BP/UP 32-bit products and gradients rounded to nearest, update rounded to nearest;
* ``fixed32_sr``: the same with stochastic rounding (one random word per product and per weight);
* ``fixed32_sr_lo``: SR LO (one LFSR bit per clock into a 32-bit shift register, Fig. 11).

Writes ``results/fig10_neurotrainer.csv`` (one row per precision, weight format and epoch: train
loss, held-out greedy token accuracy) and ``results/fig10_neurotrainer.png``; the last line is a JSON summary.

    python scripts/repro_neurotrainer_fig10.py            # 10 runs, ~30 min on 2 CPU cores
    python scripts/repro_neurotrainer_fig10.py --epochs 1 --max-steps 20   # smoke test
"""

from __future__ import annotations

import argparse
import csv
import json
import os

CASES = {  # label -> TrainConfig.precision (Fig. 10's legend)
    "float32": "native",
    "fixed32": "fixed32_nearest",
    "fixed32_sr": "neurotrainer",
    "fixed32_sr_lo": "neurotrainer_sr_lo",
}


def run(epochs: int, lr: float, width: float, batch: int, max_steps: int | None, seed: int,
        cases: list[str], weight_bits: int = 16, weight_fracs: tuple[int, ...] = (12,),
        optimizer: str = "adam") -> list[dict]:
    from pimjax.apps.train import TrainConfig, train

    rows = []
    for label in cases:
        for frac in (weight_fracs if label != "float32" else (None,)):
            wkw = {} if frac is None else {"weight_bits": weight_bits, "weight_frac": frac}
            cfg = TrainConfig(model="translator", precision=CASES[label], weights="auto", optimizer=optimizer,
                              learning_rate=lr, epochs=epochs, batch_size=batch, model_width=width, rows=16,
                              seed=seed, max_steps=max_steps, progress=True, **wkw)
            out = train(cfg)
            wname = "float32" if frac is None else f"Q{weight_bits - frac}.{frac}"
            for rec in out["epochs"]:
                rows.append({"precision": label, "preset": CASES[label], "weights": wname,
                             "weight_frac": "" if frac is None else frac, "epoch": rec["epoch"],
                             "train_loss": rec["train_loss"], "token_accuracy": rec["test_token_accuracy"],
                             "update_saturations": out["update_events"].get("overflow", 0)})
            print(f"{label} ({wname} weights): token accuracy {out['final']['token_accuracy']:.4f}, "
                  f"update events {out['update_events']}")
    return rows


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    runs = dict.fromkeys((r["precision"], r["weights"]) for r in rows)
    for label, wname in runs:
        rs = [r for r in rows if r["precision"] == label and r["weights"] == wname]
        axes[0].plot([r["epoch"] for r in rs], [r["token_accuracy"] for r in rs], marker="o",
                     label=f"{label} ({wname})", ls="--" if label == "fixed32" else "-")
    axes[0].set(xlabel="epoch", ylabel="held-out token accuracy", ylim=(0, 1), title="LSTM translator training")
    axes[0].legend(fontsize=7)
    last = {}
    for r in rows:
        last[(r["precision"], r["weights"])] = r
    for label in dict.fromkeys(r["precision"] for r in rows):
        pts = sorted((r["weight_frac"], r["token_accuracy"]) for (p, _), r in last.items()
                     if p == label and r["weight_frac"] != "")
        if pts:
            axes[1].plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
        elif label == "float32":
            axes[1].axhline([r for (p, _), r in last.items() if p == label][0]["token_accuracy"], color="k",
                            ls=":", label="float32")
    axes[1].set(xlabel="fraction bits of the resident weights", ylabel="final token accuracy", ylim=(0, 1),
                title="NeuroTrainer Fig. 10: SR vs no SR")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=2e-3, help="learning rate, cosine-decayed (default %(default)s)")
    p.add_argument("--model-width", type=float, default=0.25, help="translator width (hidden = 128 x width)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--optimizer", default="adam", choices=("sgd", "momentum", "adam"))
    p.add_argument("--weight-bits", type=int, default=16, help="resident weight bits (default %(default)s)")
    p.add_argument("--weight-fracs", default="8,10,12",
                   help="comma-separated fraction bits of the resident weights (default %(default)s; 12: "
                   "Q4.12, the FF weight operand's format)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of " + ",".join(CASES))
    p.add_argument("--out", default="results")
    args = p.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    for c in cases:
        if c not in CASES:
            p.error(f"unknown case {c!r}; valid: {', '.join(CASES)}")
    rows = run(args.epochs, args.lr, args.model_width, args.batch_size, args.max_steps, args.seed, cases,
               args.weight_bits, tuple(int(f) for f in args.weight_fracs.split(",") if f), args.optimizer)
    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "fig10_neurotrainer.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    png = os.path.join(args.out, "fig10_neurotrainer.png")
    plot(rows, png)
    final = {}
    for r in rows:
        final[f"{r['precision']} {r['weights']}"] = round(r["token_accuracy"], 4)
    print(json.dumps({"csv": csv_path, "png": png, "final_token_accuracy": final}))


if __name__ == "__main__":
    main()
