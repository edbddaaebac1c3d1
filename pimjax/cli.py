"""The ``pimjax`` command line.

Subcommands:

``pimjax demo`` (also what a plain ``pimjax`` runs)
    Runs one random float layer ``C = A @ B`` through the emulated multiplier array of a preset
    (:func:`pimjax.units.emulated_matmul`), compares it with float32 ``A @ B`` and prints the
    error and the numeric events (overflow, NaN, Inf, random bits); then does the same with the
    output format narrowed on purpose, so that overflow shows.

``pimjax presets``
    Lists the hardware presets by kind, each kind with the option that takes it: arrays
    (``demo --hw``), slice systems (``cost --hw``, ``schedule --hw``), training hardware
    (``train --hw``), and the AMD multi-PIM presets of the Python API.

The work of ``demo`` is :func:`run_demo`, which returns the report as a dict.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any, Sequence

from pimjax.apps.argtypes import add_usage_errors, deprecated_alias, int_in, positive_int

DEFAULT_PRESET = "memory_slices"
DEFAULT_SHAPE = (64, 256, 64)  # M, K, N
MAX_SEED = 2**63 - 1  # jax.random.key takes a seed up to int64

NARROW_FIXED = dict(bits=8, frac=7)
"""Narrow output for fixed-point presets: 8 bits, 7 fraction bits, range [-1, 1 - 2**-7].

The demo layer's outputs have a standard deviation of about 1, so about a third of them
leave this range and saturate (each one counted as an overflow event).
"""

NARROW_FLOAT = "fp8_e4m3"
"""Narrow output for float presets (3 mantissa bits; values this small do not overflow it)."""


def _events_dict(events: Any) -> dict[str, int]:
    return {f: int(getattr(events, f)) for f in ("overflow", "nan", "inf", "random_bits")}


def _errors(values: Any, ref: Any) -> dict[str, float]:
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    err = v - r
    return {
        "max_abs_error": float(np.max(np.abs(err))) if err.size else 0.0,
        "rms_error": float(np.sqrt(np.mean(err**2))) if err.size else 0.0,
    }


def narrow_variant(config: Any) -> Any:
    """``config`` with its output format narrowed on purpose (see ``NARROW_FIXED``)."""
    from pimjax.numerics import FixedFormat, FloatFormat

    if getattr(config, "is_float", False):
        fmt = FloatFormat(name=NARROW_FLOAT)
    else:
        fmt = FixedFormat(**NARROW_FIXED)
    return dataclasses.replace(config, output_format=fmt, name=f"{config.name or 'array'}_narrow_output")


def array_presets() -> list[str]:
    """Names of the presets that ``demo`` runs: the arrays (:class:`~pimjax.hw.ArrayConfig`)."""
    from pimjax.hw import ArrayConfig, presets

    return [n for n in presets.names() if isinstance(presets.get(n), ArrayConfig)]


def run_demo(
    m: int = DEFAULT_SHAPE[0],
    k: int = DEFAULT_SHAPE[1],
    n: int = DEFAULT_SHAPE[2],
    *,
    seed: int = 0,
    preset: str = DEFAULT_PRESET,
) -> dict[str, Any]:
    """Runs a random float layer on the emulated array of ``preset`` and compares with float32.

    ``A`` (``m x k``) has entries ~ N(0, 1) and ``B`` (``k x n``) ~ N(0, 1/k), drawn with NumPy
    from ``seed``, so the entries of ``A @ B`` have a standard deviation of about 1. The
    emulation gets ``jax.random.key(seed)`` for any stochastic rounding.

    Returns a dict with ``preset``, ``description``, ``shape`` ``(m, k, n)``, ``seed``,
    ``reference_rms`` (RMS of float32 ``A @ B``), and two results, ``"configured"`` (the preset
    as is) and ``"narrow"`` (output format narrowed, see :func:`narrow_variant`), each with
    ``output_format``, ``max_abs_error``, ``rms_error`` (against float32 ``A @ B``) and the
    event counts ``overflow``, ``nan``, ``inf``, ``random_bits``.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    from pimjax.hw import ArrayConfig, presets
    from pimjax.units import emulated_matmul

    for name, v in (("m", m), ("k", k), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in 0..{MAX_SEED}, got {seed!r}")
    config = presets.get(preset)
    if not isinstance(config, ArrayConfig):
        raise ValueError(f"preset {preset!r} is a {type(config).__name__}, not an array preset; "
                         f"array presets: {', '.join(array_presets())}")

    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
    ref = np.asarray(jnp.asarray(a) @ jnp.asarray(b), dtype=np.float32)

    report: dict[str, Any] = {
        "preset": preset,
        "description": presets.describe().get(preset, ""),
        "array": f"{config.rows} rows x {config.width} multipliers",
        "shape": (m, k, n),
        "seed": seed,
        "reference_rms": float(np.sqrt(np.mean(ref.astype(np.float64) ** 2))),
    }
    key = jax.random.key(seed)
    for label, cfg in (("configured", config), ("narrow", narrow_variant(config))):
        values, events = emulated_matmul(jnp.asarray(a), jnp.asarray(b), cfg, key=key)
        values = np.asarray(values)
        if values.shape != (m, n):
            raise RuntimeError(f"emulated_matmul returned shape {values.shape}, expected {(m, n)}")
        entry: dict[str, Any] = {"output_format": str(cfg.output_format) if cfg.output_format is not None else "exact"}
        entry.update(_errors(values, ref))
        entry.update(_events_dict(events))
        report[label] = entry
    return report


def format_report(r: dict[str, Any]) -> str:
    """The human-readable text of a :func:`run_demo` report."""
    m, k, n = r["shape"]
    lines = [
        "pimjax demo: C = A @ B on the emulated PIM multiplier array vs float32 A @ B",
        f"  preset   {r['preset']}: {r['description']}",
        f"  array    {r['array']}",
        f"  shape    M={m} K={k} N={n}   A ~ N(0,1), B ~ N(0,1/K), seed {r['seed']}   RMS(A @ B) = {r['reference_rms']:.4g}",
        "",
        f"  {'run':<12} {'output format':<22} {'max |err|':>10} {'RMS err':>10} {'overflow':>9} {'NaN':>5} {'Inf':>5} {'rand bits':>10}",
    ]
    for label in ("configured", "narrow"):
        e = r[label]
        lines.append(
            f"  {label:<12} {e['output_format']:<22} {e['max_abs_error']:>10.3g} {e['rms_error']:>10.3g} "
            f"{e['overflow']:>9d} {e['nan']:>5d} {e['inf']:>5d} {e['random_bits']:>10d}"
        )
    lines += [
        "",
        "  'narrow' is the same array with its output format narrowed on purpose: values outside",
        "  its range saturate, and every one of them is counted as an overflow event.",
    ]
    if r["narrow"]["output_format"] == NARROW_FLOAT:
        lines.append(f"  (Float preset: these values fit {NARROW_FLOAT}; its 3 mantissa bits show in the error.)")
    return "\n".join(lines)


def _cmd_demo(args: argparse.Namespace) -> int:
    report = run_demo(args.m, args.k, args.n, seed=args.seed, preset=args.preset)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0


TRAINING_HARDWARE = {
    "neurotrainer": "NeuroTrainer Table 4: FF 16-bit fixed point, nearest; BP/UP 32-bit, products rounded "
                    "stochastically; resident Q8.16 weights updated with SR",
    "neurotrainer_sr_lo": "as neurotrainer, with low-overhead SR from one LFSR (NeuroTrainer Fig. 11)",
    "neurotrainer_sr_out": "as neurotrainer, the other reading of its SR stage: BP/UP products and sums kept "
                           "at Q8.24, rounded stochastically once when the result is written",
    "fixed32_nearest": "as neurotrainer without SR: BP/UP 32-bit round-to-nearest (NeuroTrainer Fig. 10's failing case)",
    "fixed16": "every phase 16-bit fixed point, round-to-nearest",
    "bf16": "bf16 multipliers, fp32 adder tree and accumulation; float32 master weights",
    "fp32": "fp32 multipliers and adders; float32 master weights",
    "native": "plain float32 jnp.dot, nothing emulated: the float reference (no costs, no events)",
}
"""The training hardware presets of ``pimjax train --hw`` (:func:`pimjax.nn.training_hardware`)."""


def preset_kinds() -> list[tuple[str, str, dict[str, str]]]:
    """``(kind, the options that take it, {name: description})`` for every kind of preset."""
    from pimjax.hw import ArrayConfig, SystemConfig, presets
    from pimjax.nn import PRECISIONS

    desc = presets.describe()
    kinds: dict[str, dict[str, str]] = {"array": {}, "system": {}, "other": {}}
    for name in presets.names():
        cfg = presets.get(name)
        kind = "array" if isinstance(cfg, ArrayConfig) else "system" if isinstance(cfg, SystemConfig) else "other"
        kinds[kind][name] = desc.get(name, "")
    return [
        ("Arrays (one slice's multiplier array)", "pimjax demo --hw NAME", kinds["array"]),
        ("Slice systems (slices, memory, interconnect)", "pimjax cost --hw NAME, pimjax schedule --hw NAME",
         kinds["system"]),
        ("Training hardware (per-phase precisions on slice systems)", "pimjax train --hw NAME",
         {p: TRAINING_HARDWARE[p] for p in PRECISIONS}),
        ("AMD multi-PIM nodes and hosts (AMD Table 1)", "Python: pimjax.hw.presets.get(NAME)", kinds["other"]),
    ]


def _cmd_presets(args: argparse.Namespace) -> int:
    kinds = preset_kinds()
    width = max((len(n) for _, _, names in kinds for n in names), default=0)
    for i, (title, flag, names) in enumerate(kinds):
        if not names:
            continue
        print(("\n" if i else "") + f"{title}: {flag}")
        for name, d in names.items():
            print(f"  {name:<{width}}  {d}")
    print("\nYour own presets: docs/hardware.md (pimjax.hw.presets.register, and PIMJAX_PRESETS=module to use "
          "them from the command line).")
    return 0


def _add_demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--m", type=positive_int, default=DEFAULT_SHAPE[0], help="rows of A (default %(default)s)")
    p.add_argument("--k", type=positive_int, default=DEFAULT_SHAPE[1], help="inner dimension (default %(default)s)")
    p.add_argument("--n", type=positive_int, default=DEFAULT_SHAPE[2], help="columns of B (default %(default)s)")
    p.add_argument("--seed", type=int_in(0, MAX_SEED), default=0,
                   help="random seed for A, B and stochastic rounding, 0..2**63-1 (default %(default)s)")
    hw = p.add_argument("--hw", dest="preset", metavar="PRESET", default=DEFAULT_PRESET,
                        help="array preset (default %(default)s; the arrays of `pimjax presets`)")
    deprecated_alias(p, "--preset", hw)
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def build_parser() -> argparse.ArgumentParser:
    from pimjax import __version__

    parser = argparse.ArgumentParser(
        prog="pimjax",
        description="Bit-accurate emulation of processing-in-memory DNN accelerators in JAX. "
        "Without a subcommand, runs `demo` (demo options may follow: `pimjax --m 8`).",
    )
    parser.add_argument("--version", action="version", version=f"pimjax {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="run a random layer on an emulated array and report errors and overflow",
                          description="Run one random float layer C = A @ B through the emulated multiplier array of "
                          "an array preset, compare it with float32 A @ B and print the error and the numeric events "
                          "(overflow, NaN, Inf, random bits); then the same with the output format narrowed on "
                          "purpose, so that overflow shows.")
    _add_demo_args(demo)
    demo.set_defaults(func=_cmd_demo)
    add_usage_errors(demo)
    pre = sub.add_parser("presets", help="list the hardware presets, by kind, with the option that takes each",
                         description="List the hardware presets by kind (arrays, slice systems, training "
                         "hardware, AMD multi-PIM nodes), each kind with the option that takes it. Every hardware "
                         "number of a preset cites its paper (pimjax/hw/_presets.py, _system_presets.py, _pim.py).")
    pre.set_defaults(func=_cmd_presets)
    from pimjax.apps.train import _cli as train_cli

    train_cli.add_parser(sub)
    from pimjax.apps.cost import _cli as cost_cli

    cost_cli.add_parser(sub)
    from pimjax.apps.sweep import _cli as sweep_cli

    sweep_cli.add_parser(sub)
    from pimjax.apps.schedule import _cli as schedule_cli

    schedule_cli.add_parser(sub)
    from pimjax.apps.fidelity import _cli as fidelity_cli

    fidelity_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pimjax`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("train", "sweep"):  # before any parser touches the JAX devices
        from pimjax.apps._distributed import initialize_from_argv

        try:
            initialize_from_argv(argv[1:])
        except ValueError as e:
            print(f"pimjax {argv[0]}: {e}", file=sys.stderr)
            return 2
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["demo", *argv]  # a plain `pimjax [demo options]` runs the demo
    load_user_presets()
    args = parser.parse_args(argv)
    if args.command == "demo" and args.preset not in array_presets():
        args.usage_error(f"argument --hw: {args.preset!r} is not an array preset; array presets: "
                         f"{', '.join(array_presets())}")
    from pimjax._compile_cache import enable_compile_cache

    enable_compile_cache()  # a second run of the same program loads it (docs: README, "Compile cache")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"\npimjax {args.command}: interrupted" + (" (resume with --resume)" if getattr(args, "out_dir", None)
                                                         else ""), file=sys.stderr)
        return 130


PRESETS_ENV = "PIMJAX_PRESETS"
"""Environment variable: comma-separated modules that the command line imports before it
parses its arguments, so that the presets they register (:func:`pimjax.hw.presets.register`)
can be named on it (``PIMJAX_PRESETS=my_presets pimjax cost --hw my_system``)."""


def load_user_presets() -> list[str]:
    """Imports the modules named in ``$PIMJAX_PRESETS``; returns their names."""
    import importlib
    import os

    mods = [m.strip() for m in os.environ.get(PRESETS_ENV, "").split(",") if m.strip()]
    for m in mods:
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        importlib.import_module(m)
    return mods


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
