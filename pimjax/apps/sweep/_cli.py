"""``pimjax sweep``: accuracy of a float-trained network over a grid of hardware numerics and noise.

    pimjax sweep examples/sweep_digits.toml [--out results/sweep.csv] [--devices N]

reads a sweep config (TOML or JSON: ``name``, ``[model]``, ``[grid]``, ``[run]``; see
:class:`pimjax.apps.sweep.SweepSpec` and ``examples/sweep_digits.toml``), trains the network in
float32 on the digits (or loads its cached weights), and evaluates it, without retraining,
under every config of the grid: numeric settings (bit widths, fraction bits, rounding, noise)
vmapped in one compiled program per static setting (array shape, slices), sharded over the
devices. Results are appended to a tidy CSV (one row per config and metric); running the same
command again resumes an interrupted sweep. Prints the best and worst configs and writes a
plot next to the CSV.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from pimjax.apps.argtypes import description, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="accuracy over a grid of bit widths, rounding and noise (vmapped, resumable CSV)",
                       description=description(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="sweep config file (.toml or .json), e.g. examples/sweep_digits.toml")
    p.add_argument("--out", default=None, help="results CSV (default: the config's `out`, else results/<name>.csv)")
    p.add_argument("--devices", type=int, default=None,
                   help="devices to shard configs over (0: all) (default: the config's `devices`)")
    p.add_argument("--chunk", type=positive_int, default=None,
                   help="configs per compiled call (default: the config's `chunk`)")
    p.add_argument("--max-chunks", type=positive_int, default=None,
                   help="stop after this many chunks, rerun to resume (default: none, all of them)")
    p.add_argument("--cache", default=None, help="directory for the trained float weights (default: next to the CSV)")
    p.add_argument("--no-events", action="store_true", help="record accuracy and loss only (smaller program)")
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    from pimjax.apps import _distributed

    _distributed.add_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from pimjax.apps.sweep import load_spec, run_sweep, summarize
    from pimjax.apps import _distributed
    from pimjax.apps.sweep._run import check_devices

    try:
        _distributed.initialize_from_args(args)  # (pimjax's main already did, before building the parsers)
        spec = load_spec(args.config)
        changes = {}
        if args.devices is not None:
            changes["devices"] = args.devices
        if args.chunk is not None:
            changes["chunk"] = args.chunk
        if changes:
            spec = dataclasses.replace(spec, **changes)
        check_devices(spec.devices)
    except (FileNotFoundError, ValueError, TypeError) as e:
        print(f"pimjax sweep: {e}", file=sys.stderr)
        return 2
    from pimjax.apps._atomic import DamagedFileError, OutputError
    from pimjax.apps.sweep._fingerprint import FingerprintMismatch

    try:
        res = run_sweep(spec, out=args.out, cache_dir=args.cache, progress=not args.no_progress,
                        plot=not args.no_plot, max_chunks=args.max_chunks, events=not args.no_events)
    except (FingerprintMismatch, OutputError, DamagedFileError) as e:  # one line, before or instead of any row
        print(f"pimjax sweep: error: {e}", file=sys.stderr)
        return 2
    summary = {"csv": res.path, "plot": res.plot, "evaluated": res.evaluated, "skipped": res.skipped,
               "seconds": round(res.seconds, 3), **summarize(res.rows)}
    if args.json:
        from pimjax.apps._atomic import strict_dumps

        print(strict_dumps(json.loads(json.dumps(summary, default=str))))  # strict: NaN as null
        return 0
    print(f"pimjax sweep {spec.name}: {spec.model.name} on digits {spec.model.input_size}x{spec.model.input_size}, "
          f"{summary['configs']} configs in {os.path.relpath(res.path)} ({res.evaluated} evaluated now, "
          f"{res.skipped} already there) in {res.seconds:.1f} s")
    if summary["configs"]:
        for which in ("best", "worst"):
            d = summary[which]
            cfg = ", ".join(f"{k}={d[k]}" for k in ("act_bits", "act_frac", "weight_bits", "weight_scale", "out_bits",
                                                    "rounding", "noise_kind", "noise_level", "rows", "width",
                                                    "num_slices"))
            print(f"  {which:<5} accuracy {d['accuracy']:.4f}: {cfg}")
        print(f"  mean  accuracy {summary['mean']:.4f}")
    if res.plot:
        print(f"  plot  {os.path.relpath(res.plot)}")
    return 0
