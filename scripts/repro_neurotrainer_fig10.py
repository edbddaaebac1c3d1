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
* ``fixed32_sr_lo``: SR LO (one LFSR bit per clock into a 32-bit shift register, Fig. 11);
* ``fixed32_sr_out``: the other reading of the SR stage (``--hw neurotrainer_sr_out``): products and
  sums kept exact, SR once when the accumulated result is written (updates SR as in ``fixed32_sr``).

``--seeds 0,1,2`` runs every case once per seed (``--seed S`` is ``--seeds S``).

Writes ``results/fig10_neurotrainer.csv`` (one row per seed, precision, weight format and epoch:
train loss, held-out greedy token accuracy), ``results/fig10_neurotrainer.png`` and
``results/fig10_neurotrainer_seeds.json`` (final token accuracy in percent per case and seed,
``{case: {seed: acc}}``, with the case names of ``pimjax/apps/fidelity/results/neurotrainer_fig10.json``,
and ``per_seed_saturations``: the weight memory's saturations at load and over all updates);
the last line is a JSON summary. ``--merge-into FILE`` adds the final accuracies to ``FILE``'s
``per_seed`` (``{case: {seed: acc}}``, with the commands that made them; the saturations to its
``per_seed_saturations``), ``--from-runs DIR,...``
merges the ``fig10_neurotrainer_seeds.json`` of earlier runs instead of training:

    python scripts/repro_neurotrainer_fig10.py --cases fixed32_sr_out --weight-fracs 8 --seeds 0,1,2 \
        --merge-into pimjax/apps/fidelity/results/neurotrainer_fig10.json

    python scripts/repro_neurotrainer_fig10.py            # 10 runs, ~30 min on 2 CPU cores
    python scripts/repro_neurotrainer_fig10.py --epochs 1 --max-steps 20   # smoke test
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import shlex
import sys

from pimjax.apps._atomic import write_json

CASES = {  # label -> TrainConfig.precision (Fig. 10's legend)
    "float32": "native",
    "fixed32": "fixed32_nearest",
    "fixed32_sr": "neurotrainer",
    "fixed32_sr_lo": "neurotrainer_sr_lo",
    "fixed32_sr_out": "neurotrainer_sr_out",
}
ROUNDING = {  # label -> how BP/UP and the update round (the case names of the results file)
    "fixed32": ("nearest", "rounded to nearest"),
    "fixed32_sr": ("SR", "SR"),
    "fixed32_sr_lo": ("SR LO", "SR LO"),
    "fixed32_sr_out": ("SR once at the output (the other reading of the SR stage)", "SR"),
}


def case_name(label: str, weights: str, weight_bits: int | None) -> str:
    """The case's name in ``neurotrainer_fig10.json`` (e.g. ``fixed32 BP/UP SR, Q8.8 resident weights
    (16-bit), updates SR``)."""
    if label == "float32":
        return "float32 (float32 weights)"
    bpup, upd = ROUNDING[label]
    return f"fixed32 BP/UP {bpup}, {weights} resident weights ({weight_bits}-bit), updates {upd}"


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
                rows.append({"seed": seed, "case": case_name(label, wname, None if frac is None else weight_bits),
                             "precision": label, "preset": CASES[label], "weights": wname,
                             "weight_frac": "" if frac is None else frac, "epoch": rec["epoch"],
                             "train_loss": rec["train_loss"], "token_accuracy": rec["test_token_accuracy"],
                             "update_saturations": out["update_events"].get("overflow", 0),
                             "load_saturations": out["load_events"].get("overflow", 0)})
            print(f"{label} ({wname} weights): token accuracy {out['final']['token_accuracy']:.4f}, "
                  f"update events {out['update_events']}")
    return rows


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    rows = [r for r in rows if r["seed"] == rows[0]["seed"]]  # the first seed's curves
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


def command_line(argv: list[str]) -> str:
    """This script's command line without its output options (``--out``, ``--merge-into``)."""
    keep, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--out", "--merge-into"):
            skip = True
        elif not a.startswith(("--out=", "--merge-into=")):
            keep.append(a)
    return shlex.join(["python", "scripts/repro_neurotrainer_fig10.py", *keep])


def merge(results_path: str, seeds_jsons: list[dict]) -> dict:
    """Add the per-seed final accuracies of ``seeds_jsons`` (this script's ``fig10_neurotrainer_seeds.json``)
    to ``results_path``'s ``per_seed`` and ``per_seed_commands``; its ``seeds``: every seed present."""
    with open(results_path) as f:
        res = json.load(f)
    per_seed = res.setdefault("per_seed", {})
    cmds = res.setdefault("per_seed_commands", [])
    for sj in seeds_jsons:
        for key in ("per_seed", "per_seed_saturations"):
            into = res.setdefault(key, {})
            for case, by_seed in sj.get(key, {}).items():
                into.setdefault(case, {}).update(by_seed)
                into[case] = dict(sorted(into[case].items(), key=lambda kv: int(kv[0])))
        cmd = f"{sj['command']} ({sj['date']})"
        if cmd not in cmds:
            cmds.append(cmd)
    res["seeds"] = sorted({int(s) for by_seed in per_seed.values() for s in by_seed})
    write_json(results_path, res, indent=1, ensure_ascii=False)
    return res


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
    p.add_argument("--seed", type=int, default=None, help="one seed (the same as --seeds S)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds, one run per case and seed (default 0)")
    p.add_argument("--cases", default="float32,fixed32,fixed32_sr,fixed32_sr_lo",
                   help="comma-separated subset of " + ",".join(CASES) + " (default %(default)s: Fig. 10's legend)")
    p.add_argument("--out", default="results")
    p.add_argument("--merge-into", default=None, help="a results JSON to add the per-seed accuracies to")
    p.add_argument("--from-runs", default=None, help="comma-separated --out folders of earlier runs: merge "
                   "their per-seed accuracies into --merge-into, no training")
    args = p.parse_args()
    if args.from_runs is not None:
        if not args.merge_into:
            p.error("--from-runs needs --merge-into")
        sjs = []
        for d in args.from_runs.split(","):
            with open(os.path.join(d, "fig10_neurotrainer_seeds.json")) as f:
                sjs.append(json.load(f))
        res = merge(args.merge_into, sjs)
        print(json.dumps({"merged_into": args.merge_into, "seeds": res["seeds"]}))
        return
    cases = [c for c in args.cases.split(",") if c]
    for c in cases:
        if c not in CASES:
            p.error(f"unknown case {c!r}; valid: {', '.join(CASES)}")
    if args.seed is not None and args.seeds is not None:
        p.error("give --seed or --seeds, not both")
    seeds = [args.seed] if args.seed is not None else [int(s) for s in (args.seeds or "0").split(",") if s]
    rows = []
    for seed in seeds:
        rows += run(args.epochs, args.lr, args.model_width, args.batch_size, args.max_steps, seed, cases,
                    args.weight_bits, tuple(int(f) for f in args.weight_fracs.split(",") if f), args.optimizer)
    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "fig10_neurotrainer.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    png = os.path.join(args.out, "fig10_neurotrainer.png")
    plot(rows, png)
    final, per_seed, saturations = {}, {}, {}
    for r in rows:  # the last epoch's row of each run wins
        final[f"{r['precision']} {r['weights']} seed {r['seed']}"] = round(r["token_accuracy"], 4)
        per_seed.setdefault(r["case"], {})[str(r["seed"])] = round(100 * r["token_accuracy"], 2)
        if r["weight_frac"] != "":  # the weight memory's saturations over the whole run (exact counts)
            saturations.setdefault(r["case"], {})[str(r["seed"])] = {"load": r["load_saturations"],
                                                                     "updates": r["update_saturations"]}
    seeds_path = os.path.join(args.out, "fig10_neurotrainer_seeds.json")
    write_json(seeds_path, {"per_seed": per_seed, "per_seed_saturations": saturations,
                            "command": command_line(sys.argv[1:]), "date": datetime.date.today().isoformat(),
                            "epochs": args.epochs, "model_width": args.model_width, "batch_size": args.batch_size,
                            "lr": args.lr, "optimizer": args.optimizer, "max_steps": args.max_steps}, indent=1)
    if args.merge_into:
        with open(seeds_path) as f:
            merge(args.merge_into, [json.load(f)])
    print(json.dumps({"csv": csv_path, "png": png, "seeds_json": seeds_path, "final_token_accuracy": final}))


if __name__ == "__main__":
    main()
