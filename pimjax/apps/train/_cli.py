"""``pimjax train``: train a model on emulated slices and print accuracy and costs."""

from __future__ import annotations

import argparse
import dataclasses
import json

from pimjax.apps.argtypes import add_usage_errors, usage_errors
from pimjax.nn import PRECISIONS, WEIGHTS


def add_parser(sub: argparse._SubParsersAction) -> None:
    from pimjax.apps.train._loop import OPTIMIZERS, TrainConfig

    d = TrainConfig()
    p = sub.add_parser("train", help="train a model on emulated slices; print accuracy and per-layer costs",
                       description="Train a model whose every matmul (FF, BP, UP) runs on emulated slices. "
                       "The progress bar and the per-epoch lines go to stderr, the report to stdout.")
    p.add_argument("--model", default=d.model, help="alexnet, vgg11, vgg16, resnet18, resnet50, translator, transformer "
                   "(a stock Flax NNX decoder-only transformer, emulated through pimjax.emulate; d_model from "
                   "--model-width), or a small CNN cnn_d<depth>_k<kernel>_c<channels> (default %(default)s)")
    p.add_argument("--dataset", default=d.dataset, help="digits (bundled) or a path to your own .npz "
                   "(x_train, y_train, x_test, y_test); the transformer: sort (digits means sort) or reverse "
                   "(default %(default)s)")
    p.add_argument("--hw", dest="precision", default=d.precision, choices=PRECISIONS,
                   help="per-phase precision preset (default %(default)s: NeuroTrainer Table 4)")
    p.add_argument("--weights", default=d.weights, choices=WEIGHTS,
                   help="resident: fixed-point weights updated in memory with the preset's rounding (SR for "
                   "neurotrainer); float: float32 master weights; auto (default): resident for fixed-point presets")
    p.add_argument("--weight-bits", type=int, default=d.weight_bits, help="resident weight bits (default %(default)s)")
    p.add_argument("--weight-frac", type=int, default=d.weight_frac,
                   help="resident weight fraction bits (default %(default)s: Q8.16)")
    p.add_argument("--slices", type=int, default=d.slices, help="memory slices per matmul (default %(default)s)")
    p.add_argument("--modules", type=int, default=d.modules,
                   help="modules training synchronously, 1..1024 (NeuroTrainer Sec. 5.3): each holds the model and "
                   "its 1/modules of every batch (--batch-size must be divisible by it); a central unit sums their "
                   "weight gradients (default %(default)s)")
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
    p.add_argument("--checkpoint-every", type=int, default=0,
                   help="steps between checkpoints, besides the one at each epoch's end and at the last step "
                   "(0: only those; needs --out)")
    p.add_argument("--resume", action="store_true",
                   help="resume from the latest checkpoint in --out (needs --out). The run's options (all but "
                   "--out, --devices, --checkpoint-every, --max-steps, --no-progress) must be the checkpoint's, "
                   "--epochs included, else a usage error. No checkpoint there: a notice on stderr and a start "
                   "from step 0, so the same command both starts and continues a run")
    p.add_argument("--overwrite", action="store_true",
                   help="start from step 0 even if --out holds an earlier run's checkpoints, deleting them "
                   "(without it, or --resume, that is a usage error)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop after this many steps in total (an epoch cut short is marked partial in the metrics)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    p.add_argument("--json", action="store_true", help="print the final report as JSON (the only stdout output)")
    p.set_defaults(func=run)
    add_usage_errors(p)


def _events_line(what: str, ev: dict, overflow: str = "overflows", random_bits: bool = False) -> str:
    line = f"{what}: {ev['overflow']} {overflow}, {ev['nan']} NaN, {ev['inf']} Inf"
    return line + (f", {ev['random_bits']} random bits" if random_bits else "")


def run(args: argparse.Namespace) -> int:
    from pimjax.apps.train._loop import TrainConfig, hardware_label, prepare

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    # bad options, data or checkpoint (a missing --dataset file too): a usage error; errors
    # while training stay tracebacks
    with usage_errors(args, (ValueError, TypeError, FileNotFoundError)):
        cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
        prepared = prepare(cfg)
    out = prepared.run()
    final = out["final"]
    if args.json:
        print(json.dumps({k: out[k] for k in ("epochs", "final", "steps", "events", "update_events", "load_events")},
                         indent=1))
        return 0
    print()
    print(out["cost_table"])
    print()
    print(_events_line(f"emulated matmul events over the run's epochs ({out['steps']} steps)", out["events"],
                       random_bits=True))
    if out["load_events"]:
        print(_events_line("resident weights at load", out["load_events"], "saturations"))
    if out["update_events"]:
        print(_events_line("resident weight updates", out["update_events"], "saturations", random_bits=True))
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in final.items())
    print(f"final test {metrics}  ({cfg.model}, precision {cfg.precision}, {hardware_label(cfg)}, "
          f"{out['steps']} steps)")
    return 0
