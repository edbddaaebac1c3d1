"""Benchmark: the overhead of cost accounting in a training step (cost recording on vs off).

Times, in one process (medians over repeats, compile excluded), the jitted training step of the
CPU-sized AlexNet of ``scripts/bench_train.py`` (its ``make_step``: forward, backward, Adam
update and, when on, the per-layer FF/BP/UP cost records and their collection) with
``TrainingHardware.record_costs`` True and False (False keeps counting and reporting the numeric
events: overflow, NaN, Inf and random bits are never dropped), at precision ``"fixed16"`` (every
phase 16-bit nearest: the quickest emulated precision). The two settings' steps are interleaved
one by one, so that the shared machine's drifting load hits both alike. Prints as its last line
one JSON object with both times, their ratio and the median paired difference.

    python scripts/bench_cost.py [--precision fixed16 --input-size 16 --model-width 0.25 --repeats 21]
"""

from __future__ import annotations

import argparse
import json

import jax
import numpy as np

from pimjax.apps.train import TrainConfig
import bench_train  # noqa: E402  scripts/bench_train.py (scripts/ is on sys.path when a script runs)



def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="alexnet")
    p.add_argument("--precision", default="fixed16")
    p.add_argument("--input-size", type=int, default=16)
    p.add_argument("--model-width", type=float, default=0.25)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=21, help="timed steps of each setting (median)")
    args = p.parse_args(argv)
    cfg = TrainConfig(model=args.model, precision=args.precision, input_size=args.input_size,
                      model_width=args.model_width, batch_size=args.batch_size, progress=False)
    runs = {True: bench_train.make_step(cfg, True), False: bench_train.make_step(cfg, False)}
    times = bench_train.interleaved_times(runs, args.repeats)  # order alternating: drift hits both alike
    ons, offs = times[True], times[False]
    on, off = float(np.median(ons)), float(np.median(offs))
    paired = float(np.median(np.asarray(ons) - np.asarray(offs)))
    out = {"model": args.model, "precision": args.precision, "input_size": args.input_size,
           "model_width": args.model_width, "batch_size": args.batch_size, "repeats": args.repeats,
           "median_paired_difference_ms": round(paired, 3),
           "backend": jax.default_backend(), "cost_on_step_ms": round(on, 3), "cost_off_step_ms": round(off, 3),
           "ratio": round(on / off, 4)}
    print(f"{args.model} ({args.precision}): {on:.2f} ms/step with cost accounting, {off:.2f} ms without "
          f"(ratio {on / off:.3f}; medians of {args.repeats} interleaved steps each; "
          f"median paired difference {paired:.2f} ms)")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
