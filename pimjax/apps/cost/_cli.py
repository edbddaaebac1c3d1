"""``pimjax cost``: per-layer, per-phase training costs of a model on a slice system, from shapes.

    pimjax cost --model vgg16 --input-size 224 --batch-size 128 --hw slices_hmc2 --slices 256

prints, for every emulated layer and each phase (FF, BP, UP), the MACs, array cycles,
utilization, time, energy, DRAM bytes and interconnect bytes of one training batch, and the
per-phase and overall totals (:func:`pimjax.apps.cost._model_costs.model_costs`). Nothing is run:
CNN shapes come from tracing the forward pass with :func:`jax.eval_shape`, the translator's
analytically, and every record is a closed-form function of the shapes and the mapping.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from pimjax.apps._atomic import write_csv as atomic_csv
from pimjax.apps.argtypes import (add_usage_errors, deprecated_alias, deprecated_value, description,
                                  int_in, number_in, positive_int, usage_errors)
from pimjax.apps.cost._model_costs import DEFAULT_SRC_LEN, DEFAULT_TGT_LEN, MODEL_NAMES, TRANSLATOR_NAMES
from pimjax.hw import MAX_UNITS

PHASES = ("ff", "bp", "up")

_HDR = (f"{'layer':<28} {'phase':<5} {'GMACs':>10} {'Mcycles':>10} {'util':>6} {'time ms':>11} "
        f"{'energy mJ':>11} {'DRAM MB':>11} {'ICN MB':>10}")

MAX_SLICES = 1 << 16
"""The most slices a :class:`~pimjax.hw.SystemConfig` holds (``num_slices`` in 1..65536)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cost", help="per-layer, per-phase costs of training a model on a slice system (shapes only)",
                       description=description(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="vgg16", choices=MODEL_NAMES,
                   type=deprecated_value({"gnmt": "translator"}, "--model"),
                   help="model; translator: the GNMT-size LSTM translator (default %(default)s)")
    p.add_argument("--input-size", type=positive_int, default=224,
                   help="CNN input side in pixels (default %(default)s; each model has its own minimum)")
    batch = p.add_argument("--batch-size", type=positive_int, default=128,
                           help="examples (images, sentence pairs) per training batch (default %(default)s)")
    deprecated_alias(p, "--batch", batch)
    hw = p.add_argument("--hw", dest="system", metavar="PRESET", default="slices_hmc2",
                        help="system preset for all phases (default %(default)s; the systems of `pimjax presets`)")
    deprecated_alias(p, "--system", hw)
    p.add_argument("--slices", type=int_in(1, MAX_SLICES), default=None,
                   help=f"number of slices, 1..{MAX_SLICES} (default: the preset's num_slices)")
    p.add_argument("--modules", type=int_in(1, MAX_UNITS), default=1,
                   help=f"synchronous data-parallel modules, 1..{MAX_UNITS}, each a copy of the system with its "
                   "1/modules of the batch; UP adds the central unit's sum and copy-back of dW (NeuroTrainer "
                   "Sec. 5.3; default %(default)s)")
    p.add_argument("--model-width", type=number_in(0.0, lo_open=True), default=1.0,
                   help="CNN channel multiplier, > 0 (default %(default)s)")
    p.add_argument("--num-classes", type=positive_int, default=1000, help="CNN classes (default %(default)s)")
    p.add_argument("--src-len", type=positive_int, default=DEFAULT_SRC_LEN,
                   help="translator padded source length (default %(default)s)")
    p.add_argument("--tgt-len", type=positive_int, default=DEFAULT_TGT_LEN,
                   help="translator padded target length (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.add_argument("--csv", metavar="PATH", default=None,
                   help="also write the per-layer rows and totals to PATH (default: none)")
    p.set_defaults(func=run)
    add_usage_errors(p)


def cost_inputs(*, model: str, batch: int, input_size: int = 224, system: str = "slices_hmc2",
                slices: int | None = None, model_width: float = 1.0, num_classes: int = 1000,
                src_len: int = DEFAULT_SRC_LEN, tgt_len: int = DEFAULT_TGT_LEN, modules: int = 1) -> tuple[list, Any]:
    """The forward GEMMs of the model and the per-phase hardware of a :func:`cost_report`.

    Raises:
      ValueError: the model or the system rejects its arguments (e.g. an input too small for
        the model's pools, or more slices than a system holds), or ``batch`` is not divisible
        by ``modules``.
    """
    from pimjax.apps.cost._model_costs import check_batch_modules, model_gemms, phase_hardware

    hw = phase_hardware(system, slices, modules)
    check_batch_modules(batch, modules)
    gemms = model_gemms(model, batch=batch, input_size=input_size, width=model_width, num_classes=num_classes,
                        src_len=src_len, tgt_len=tgt_len)
    return gemms, hw


def cost_report(*, model: str, batch: int, input_size: int = 224, system: str = "slices_hmc2",
                slices: int | None = None, model_width: float = 1.0, num_classes: int = 1000,
                src_len: int = DEFAULT_SRC_LEN, tgt_len: int = DEFAULT_TGT_LEN, modules: int = 1,
                inputs: tuple[list, Any] | None = None) -> dict[str, Any]:
    """The report of ``pimjax cost`` as a dict (``rows``: per layer and phase; ``totals``).

    ``inputs``: what :func:`cost_inputs` returns for these arguments (computed when ``None``).
    """
    from pimjax.apps.cost._model_costs import cost_rows, gemm_costs, phase_totals
    from pimjax.cost import peak_bandwidth, peak_flops

    if inputs is None:
        inputs = cost_inputs(model=model, batch=batch, input_size=input_size, system=system, slices=slices,
                             model_width=model_width, num_classes=num_classes, src_len=src_len, tgt_len=tgt_len,
                             modules=modules)
    gemms, hw = inputs
    costs = gemm_costs(gemms, hw)
    cfg = hw.ff.system
    totals = {p: r.to_dict() for p, r in phase_totals(costs).items()}
    t = totals["all"]
    return {
        "model": model, "batch": batch,
        "input_size": input_size if model not in TRANSLATOR_NAMES else None,
        "src_len": src_len if model in TRANSLATOR_NAMES else None,
        "tgt_len": tgt_len if model in TRANSLATOR_NAMES else None,
        "system": system, "slices": cfg.num_slices, "modules": hw.modules,
        "array": f"{cfg.array.rows}x{cfg.array.width} @ {cfg.array.clock_ghz} GHz x {cfg.compute_scale}",
        "peak_flops": peak_flops(cfg), "peak_bandwidth": peak_bandwidth(cfg),
        "achieved_flops": t["flops"] / t["time_s"] if t["time_s"] > 0 else 0.0,
        "rows": cost_rows(costs, with_totals=False), "totals": totals,
    }


def _line(layer: str, phase: str, d: dict[str, float]) -> str:
    return (f"{layer[-28:]:<28} {phase:<5} {d['macs'] / 1e9:10.4f} {d['cycles'] / 1e6:10.3f} "
            f"{d['utilization']:6.3f} {d['time_s'] * 1e3:11.4f} {d['energy_pj'] / 1e9:11.4f} "
            f"{d['dram_bytes'] / 1e6:11.3f} {d['icn_bytes'] / 1e6:10.3f}")


def format_report(r: dict[str, Any]) -> str:
    """The table of ``pimjax cost``."""
    shape = (f"{r['input_size']}x{r['input_size']}" if r["input_size"] is not None
             else f"src/tgt {r['src_len']}/{r['tgt_len']}")
    mods = f"{r['modules']} modules of " if r.get("modules", 1) > 1 else ""
    slices = f"{r['slices']} slice{'s' if r['slices'] != 1 else ''}"
    lines = [f"pimjax cost: {r['model']} ({shape}, batch {r['batch']}), one training batch (FF, BP, UP) on "
             f"{mods}{r['system']} x {slices} ({r['array']}; peak {r['peak_flops'] / 1e12:.2f} TFLOP/s, "
             f"{r['peak_bandwidth'] / 1e9:.0f} GB/s{' per module' if mods else ''})",
             "cycles are summed over the slices; time = max over slices of max(compute, memory, ICN) + tail, "
             "summed over the ops",
             _HDR, "-" * len(_HDR)]
    for row in r["rows"]:
        lines.append(_line(row["layer"], row["phase"], row))
    lines.append("-" * len(_HDR))
    for p in (*PHASES, "all"):
        lines.append(_line("TOTAL", p, r["totals"][p]))
    t = r["totals"]["all"]
    lines.append(f"achieved {r['achieved_flops'] / 1e12:.4f} TFLOP/s ({t['flops'] / 1e12:.3f} TFLOP in "
                 f"{t['time_s'] * 1e3:.3f} ms; compute {t['time_compute_s'] * 1e3:.3f} ms, memory "
                 f"{t['time_memory_s'] * 1e3:.3f} ms, ICN {t['time_icn_s'] * 1e3:.3f} ms), "
                 f"intensity {t['intensity']:.3g} FLOP/B")
    return "\n".join(lines)


def write_csv(r: dict[str, Any], path: str) -> None:
    rows = list(r["rows"]) + [{"layer": "TOTAL", "phase": p, **d} for p, d in r["totals"].items()]
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    atomic_csv(path, rows, list(rows[0]))


def run(args: argparse.Namespace) -> int:
    from pimjax.apps.cost._model_costs import system_presets

    if args.system not in system_presets():
        args.usage_error(f"argument --hw: unknown system preset {args.system!r}; choose one of "
                         f"{', '.join(system_presets())}")
    kw = dict(model=args.model, batch=args.batch_size, input_size=args.input_size, system=args.system,
              slices=args.slices, model_width=args.model_width, num_classes=args.num_classes,
              src_len=args.src_len, tgt_len=args.tgt_len, modules=args.modules)
    with usage_errors(args):  # the model and the system check their arguments here
        inputs = cost_inputs(**kw)
    if args.csv:  # before the work: an unwritable path is one line, not a traceback after it
        from pimjax.apps._atomic import OutputError, preflight

        try:
            preflight(files=[args.csv], what="--csv", min_free=1 << 20)
        except OutputError as e:
            print(f"pimjax cost: error: {e}", file=sys.stderr)
            return 2
    r = cost_report(**kw, inputs=inputs)
    if args.csv:
        write_csv(r, args.csv)
    if args.json:
        print(json.dumps(r))
    else:
        print(format_report(r))
        if args.csv:
            print(f"wrote {args.csv}")
    return 0
