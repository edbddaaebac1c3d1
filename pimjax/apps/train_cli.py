"""``pimjax train``: train a model on emulated slices and print accuracy and costs."""

from __future__ import annotations

import argparse
import dataclasses
import json

from pimjax.nn import PRECISIONS, WEIGHTS


def add_parser(sub: argparse._SubParsersAction) -> None:
    from pimjax.apps.train import OPTIMIZERS, TrainConfig

    d = TrainConfig()
    p = sub.add_parser("train", help="train a model on emulated slices; print accuracy and per-layer costs",
                       description="Train a model whose every matmul (FF, BP, UP) runs on emulated slices.")
    p.add_argument("--model", default=d.model, help="alexnet, vgg11, vgg16, resnet18, resnet50, translator, or a small "
                   "CNN cnn_d<depth>_k<kernel>_c<channels> (default %(default)s)")
    p.add_argument("--dataset", default=d.dataset, help="digits (bundled) or a path to your own .npz "
                   "(x_train, y_train, x_test, y_test) (default %(default)s)")
    p.add_argument("--hw", dest="precision", default=d.precision, choices=PRECISIONS,
                   help="per-phase precision preset (default %(default)s: NeuroTrainer Table 4)")
    p.add_argument("--weights", default=d.weights, choices=WEIGHTS,
                   help="resident: fixed-point weights updated in memory with the preset's rounding (SR for "
                   "neurotrainer); float: float32 master weights; auto (default): resident for fixed-point presets")
    p.add_argument("--weight-bits", type=int, default=d.weight_bits, help="resident weight bits (default %(default)s)")
    p.add_argument("--weight-frac", type=int, default=d.weight_frac,
                   help="resident weight fraction bits (default %(default)s: Q8.16)")
    p.add_argument("--slices", type=int, default=d.slices, help="memory slices per matmul (default %(default)s)")
    p.add_argument("--devices", type=int, default=d.devices, help="JAX devices the slices are sharded over")
    p.add_argument("--rows", type=int, default=d.rows, help="array rows R (default %(default)s)")
    p.add_argument("--width", type=int, default=d.width, help="multipliers per row W (default %(default)s)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", dest="learning_rate", type=float, default=d.learning_rate)
    p.add_argument("--optimizer", default=d.optimizer, choices=OPTIMIZERS)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--input-size", type=int, default=d.input_size, help="image side (digits are upsampled)")
    p.add_argument("--model-width", type=float, default=d.model_width, help="channel multiplier (1.0 = full)")
    p.add_argument("--out", dest="out_dir", default=None, help="directory for metrics, costs and checkpoints")
    p.add_argument("--checkpoint-every", type=int, default=0, help="steps between checkpoints (0: each epoch)")
    p.add_argument("--resume", action="store_true", help="resume from the latest checkpoint in --out")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps in total")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    p.add_argument("--json", action="store_true", help="print the final report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pimjax.apps.train import TrainConfig, train

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    out = train(cfg)
    final = out["final"]
    if args.json:
        print(json.dumps({"epochs": out["epochs"], "final": final, "steps": out["steps"],
                          "update_events": out["update_events"]}, indent=1))
        return 0
    print()
    print(out["cost_table"])
    print()
    if out["update_events"]:
        ev = out["update_events"]
        print(f"resident weight updates: {ev['overflow']} saturations, {ev['nan']} NaN, {ev['inf']} Inf, "
              f"{ev['random_bits']} random bits")
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in final.items())
    print(f"final test {metrics}  ({cfg.model}, precision {cfg.precision}, {cfg.slices} slices, "
          f"{out['steps']} steps)")
    return 0
