"""``pimjax train``: train a model on emulated slices and print accuracy and costs."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from pimjax.apps.argtypes import add_usage_errors, deprecated_alias, usage_errors
from pimjax.nn import PRECISIONS, WEIGHTS


def add_parser(sub: argparse._SubParsersAction) -> None:
    from pimjax.apps.train._config import OPTIMIZERS, TrainConfig
    from pimjax.apps.train._nonfinite import NONFINITE_POLICIES

    d = TrainConfig()
    p = sub.add_parser("train", help="train a model on emulated slices; print accuracy and per-layer costs",
                       description="Train a model whose every matmul (FF, BP, UP) runs on emulated slices. "
                       "The progress bar and the per-epoch table go to stderr, the report to stdout.")
    p.add_argument("--model", default=d.model, help="alexnet, vgg11, vgg16, resnet18, resnet50, translator, transformer "
                   "(a stock Flax NNX decoder-only transformer, emulated through pimjax.emulate; d_model from "
                   "--model-width), or a small CNN cnn_d<depth>_k<kernel>_c<channels> (default %(default)s)")
    p.add_argument("--dataset", default=d.dataset, help="digits (bundled) or a path to your own .npz "
                   "(x_train, y_train, x_test, y_test); the transformer: sort (digits means sort) or reverse "
                   "(default %(default)s)")
    p.add_argument("--hw", dest="precision", default=d.precision, choices=PRECISIONS,
                   help="training hardware preset: the per-phase precisions (default %(default)s: NeuroTrainer "
                   "Table 4; `pimjax presets` lists them)")
    p.add_argument("--weights", default=d.weights, choices=WEIGHTS,
                   help="resident: fixed-point weights updated in memory with the preset's rounding (SR for "
                   "neurotrainer); float: float32 master weights; auto: resident for fixed-point presets "
                   "(default %(default)s)")
    p.add_argument("--weight-bits", type=int, default=d.weight_bits,
                   help="resident weight width in bits, 2..24 (default %(default)s)")
    p.add_argument("--weight-frac", type=int, default=d.weight_frac,
                   help="resident weight fraction bits, 0..30 (default %(default)s: Q8.16)")
    p.add_argument("--slices", type=int, default=d.slices, help="memory slices per matmul (default %(default)s)")
    p.add_argument("--modules", type=int, default=d.modules,
                   help="modules training synchronously, 1..1024 (NeuroTrainer Sec. 5.3): each holds the model and "
                   "its 1/modules of every batch (--batch-size must be divisible by it); a central unit sums their "
                   "weight gradients (default %(default)s)")
    p.add_argument("--devices", type=int, default=d.devices,
                   help="JAX devices the slices are sharded over; --slices must be a multiple (default %(default)s)")
    rows = p.add_argument("--array-rows", dest="rows", type=int, default=d.rows,
                          help="array rows R, output columns held at once (default %(default)s)")
    width = p.add_argument("--array-width", dest="width", type=int, default=d.width,
                           help="array width W, multipliers per row (default %(default)s)")
    deprecated_alias(p, "--rows", rows)
    deprecated_alias(p, "--width", width)
    p.add_argument("--epochs", type=int, default=d.epochs, help="passes over the training set (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="examples per training step, and per evaluation batch (default %(default)s)")
    p.add_argument("--lr", dest="learning_rate", type=float, default=d.learning_rate,
                   help="peak learning rate, in (0, 10), cosine-decayed to 0 over the run (default %(default)s)")
    p.add_argument("--optimizer", default=d.optimizer, choices=OPTIMIZERS,
                   help="optax optimizer (momentum: SGD with momentum 0.9) (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="seed of the initial weights, data order and stochastic rounding, 0..2**32-1 "
                   "(default %(default)s)")
    p.add_argument("--input-size", type=int, default=d.input_size,
                   help="image side in pixels, >= 4 (digits are upsampled) (default %(default)s)")
    p.add_argument("--model-width", type=float, default=d.model_width,
                   help="channel multiplier, in (0, 4] (1.0 = the paper's model) (default %(default)s)")
    p.add_argument("--out", dest="out_dir", default=None,
                   help="directory for metrics, costs and checkpoints (default: none, nothing written)")
    p.add_argument("--checkpoint-every", type=int, default=0,
                   help="steps between checkpoints, besides the one at each epoch's end and at the last step "
                   "(0: only those; needs --out) (default %(default)s)")
    p.add_argument("--resume", action="store_true",
                   help="resume from the latest checkpoint in --out (needs --out). The run's options (all but "
                   "--out, --devices, --checkpoint-every, --max-steps, --no-progress) must be the checkpoint's, "
                   "--epochs included, else a usage error. No checkpoint there: a notice on stderr and a start "
                   "from step 0, so the same command both starts and continues a run")
    p.add_argument("--overwrite", action="store_true",
                   help="start from step 0 even if --out holds an earlier run's checkpoints, deleting them and "
                   "its metrics (without it, or --resume, that is a usage error)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop after this many steps in total (an epoch cut short is marked partial in the metrics) "
                   "(default: none, every epoch)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    p.add_argument("--on-nonfinite", default=d.on_nonfinite, choices=NONFINITE_POLICIES,
                   help="when a NaN or Inf first appears (a non-finite loss, or NaN/Inf events of an emulated "
                   "matmul): stop (default: exit status 3, naming the step, phase and layer; the last checkpoint "
                   "keeps the weights before it), warn (say so once and train on) or continue")
    p.add_argument("--json", action="store_true", help="print the final report as JSON (the only stdout output; "
                   "strict JSON: a non-finite number is null)")
    from pimjax.apps import _distributed

    _distributed.add_args(p)
    p.set_defaults(func=run)
    add_usage_errors(p)


def _events_line(what: str, ev: dict, overflow: str = "overflows", random_bits: bool = False) -> str:
    line = f"{what}: {ev['overflow']} {overflow}, {ev['nan']} NaN, {ev['inf']} Inf"
    return line + (f", {ev['random_bits']} random bits" if random_bits else "")


def run(args: argparse.Namespace) -> int:
    from pimjax.apps._atomic import OutputError, flag_nonfinite, strict_dumps
    from pimjax.apps.train._checkpoint import CheckpointError
    from pimjax.apps.train._config import TrainConfig, hardware_label
    from pimjax.apps.train._loop import prepare
    from pimjax.apps.train._nonfinite import NonFiniteError
    from pimjax.apps.train._report import written_files

    from pimjax.apps import _distributed

    _distributed.initialize_from_args(args)  # (pimjax's main already did, before building the parsers)
    if _distributed.process_count() > 1 and args.devices == 1:  # several processes: every device of every one
        import jax

        args.devices = len(jax.devices())
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    # bad options, data or checkpoint (a missing --dataset file too): a usage error; an unwritable
    # --out or no intact checkpoint: one line, status 2; other errors while training stay tracebacks
    with usage_errors(args, (ValueError, TypeError, FileNotFoundError)):
        cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
        try:
            prepared = prepare(cfg)
        except (OutputError, CheckpointError) as e:
            print(f"pimjax train: error: {e}", file=sys.stderr)
            return 2
    try:
        out = prepared.run()
    except NonFiniteError as e:
        print(f"pimjax train: error: {e}", file=sys.stderr)
        return 3
    except CheckpointError as e:
        print(f"pimjax train: error: {e}", file=sys.stderr)
        return 1
    final = out["final"]
    if args.json:
        report = {k: out[k] for k in ("epochs", "final", "steps", "events", "update_events", "load_events")}
        report["epochs"] = [flag_nonfinite(r) for r in report["epochs"]]
        print(strict_dumps(report, indent=1))
        return 0
    print()
    if cfg.precision == "native":
        print("--hw native: plain float32 matmuls, nothing emulated: no hardware costs, no numeric events")
    else:
        print(out["cost_table"])
        print()
        print(_events_line(f"emulated matmul events over the run's epochs ({out['steps']} steps)", out["events"],
                           random_bits=True))
    if out["load_events"]:
        print(_events_line("resident weights at load", out["load_events"], "saturations"))
    if out["update_events"]:
        print(_events_line("resident weight updates", out["update_events"], "saturations", random_bits=True))
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in final.items())
    print(f"final test {metrics}  ({cfg.model}, --hw {cfg.precision}, {hardware_label(cfg)}, "
          f"{out['steps']} steps)")
    if cfg.out_dir:
        print("wrote " + ", ".join(written_files(cfg.out_dir)))
    return 0
