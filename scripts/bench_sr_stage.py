"""Benchmark: the training step with NeuroTrainer's SR stage read two ways, side by side.

``--hw neurotrainer`` (the default: every BP/UP product rounded stochastically) and
``--hw neurotrainer_sr_out`` (the other reading: products and sums kept exact, SR once when the
accumulated result is written). One process, scripts/bench_train.py's ``make_step`` (compile
excluded) and ``interleaved_times`` (the presets' steps interleaved, order rotating each round,
so that a drifting load on a shared machine hits both alike); medians per preset and model, and
the machine's floor of each model's step (``floor_ms``, scripts/_floor.py; printed only).
``--write FILE`` appends them to a results JSON's ``step_runs`` (``step_ms``, ``step_ratio``,
``command``, ``load``: ``--load-note``).

    python scripts/bench_sr_stage.py --models translator,alexnet --repeats 15 \\
        --write pimjax/apps/fidelity/results/neurotrainer_sr_stage.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_train import interleaved_times, make_step, train_floor  # noqa: E402

from pimjax.apps._atomic import write_json  # noqa: E402
from pimjax.apps.train._config import TrainConfig  # noqa: E402

PRESETS = ("neurotrainer", "neurotrainer_sr_out")
MODELS = {  # model -> the TrainConfig fields of its setting
    "alexnet": {"input_size": 16, "model_width": 0.25, "batch_size": 32},  # bench_train.py's default
    "translator": {"model_width": 0.25, "batch_size": 32, "rows": 16},  # Fig. 10's runs
}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="alexnet,translator", help="comma-separated subset of " + ",".join(MODELS))
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--load-note", default="", help="a note on the machine's load, stored with the times")
    p.add_argument("--write", default=None, help="a results JSON to append the medians to (step_runs)")
    args = p.parse_args(argv)
    out = {}
    for model in [m for m in args.models.split(",") if m]:
        runs = {pr: make_step(TrainConfig(model=model, precision=pr, progress=False, **MODELS[model])) for pr in PRESETS}
        ms = {k: round(float(np.median(v)), 2) for k, v in interleaved_times(runs, args.repeats).items()}
        cfg = TrainConfig(model=model, precision=PRESETS[0], progress=False, **MODELS[model])
        out[model] = {"step_ms": ms, "ratio_sr_out_to_default": round(ms["neurotrainer_sr_out"] / ms["neurotrainer"], 3),
                      **train_floor(cfg)}  # the machine's floor (scripts/_floor.py), printed, not written
        print(f"{model}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in ms.items()), flush=True)
    if args.write:
        with open(args.write) as f:
            res = json.load(f)
        given = sys.argv[1:] if argv is None else argv
        drop = ("--write", "--load-note")
        keep = [a for i, a in enumerate(given) if a not in drop and (i == 0 or given[i - 1] not in drop)]
        res.setdefault("step_runs", []).append({
            "step_ms": {m: o["step_ms"] for m, o in out.items()},
            "step_ratio": {m: o["ratio_sr_out_to_default"] for m, o in out.items()},
            "command": (f"{shlex.join(['python', 'scripts/bench_sr_stage.py', *keep])} "
                        f"({datetime.date.today().isoformat()}, {args.repeats} interleaved steps per preset, "
                        f"medians; settings: {json.dumps(MODELS)})"),
            "load": args.load_note or "the machine's load not noted"})
        write_json(args.write, res, indent=1, ensure_ascii=False)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
