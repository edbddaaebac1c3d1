"""Data vs model parallelism of an FC layer on 4 and 8 emulated slice systems (AMD Sec. 5-6).

An FC layer ``Y = X @ W`` (X: batch x in, W: in x out; default 4096 -> 4096 at batch 128, 256,
512 and 1024: the AMD paper's Fig. 10 layer and batches) on a node of 4 or 8 units, each a ``slices_hmc2`` system
(Memory Slices baseline on HMC 2.0, 512 slices: ``pimjax.hw.presets``), under the AMD Table 1
host of the 4PIM / 8PIM node (:func:`pimjax.hw.amd_node`):

* costs (:func:`pimjax.cost.parallel_cost`, formulas in ``docs/cost_model.md``): per batch,
  scheme and node size, time (slowest unit + host sync), the sync's reduction and copy-back,
  DRAM bytes, energy and the weight bytes each unit holds (AMD Fig. 11: data parallelism
  replicates W, model parallelism splits it). The model-parallel host writes its result in the unit's 16-bit output
  words (Q8.8, Memory Slices Table 1) from a 32-bit accumulator.
* numerics of model parallelism (:func:`pimjax.system.parallel_matmul`, bit-exact emulation
  on random data, at a smaller size and with ``--slices`` slices per unit so that it runs on a
  CPU): the host adds the units' Q8.8 partials in a saturating 16-bit (Q8.8) or a 32-bit
  (Q24.8) accumulator and writes the sum as is; max abs error against the exact product, and
  the overflow counts of the units and of the host.

Writes ``parallel_schemes.csv`` (costs: one row per scheme and node), ``parallel_numerics.csv``
(one row per node and host accumulator), ``parallel_schemes.json`` (both) and
``parallel_schemes.png`` (time vs batch, and weight bytes per unit) to ``--out``.

    python scripts/parallel_schemes.py [--out results/] [--batches 128,256,512,1024] [--in-features 4096]
        [--out-features 4096] [--numerics-batch 32] [--numerics-in 1024] [--numerics-out 64]
        [--slices 8] [--scale 2.0] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import json
import os

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pimjax import cost, hw  # noqa: E402
from pimjax.numerics import fx  # noqa: E402
from pimjax.system import parallel_matmul  # noqa: E402
from pimjax.system._parallel import k_splits  # noqa: E402

UNITS = (4, 8)
SCHEMES = ("data", "model")
UNIT_PRESET = "slices_hmc2"
COST_FIELDS = ("batch", "scheme", "units", "time_s", "kernel_s", "sync_s", "reduction_s", "copy_back_s", "dram_bytes",
               "energy_pj", "macs", "weight_bytes_per_unit")
NUMERICS_FIELDS = ("units", "host_accumulator_bits", "max_abs_error", "unit_overflow", "host_overflow", "elements")


def node(units: int, scheme: str, *, host_bits: int = 32, exact_output: bool = False,
         slices: int | None = None) -> hw.ParallelConfig:
    unit = hw.presets.get(UNIT_PRESET)
    if slices is not None:
        unit = unit.replace(num_slices=slices)
    host = None
    if scheme == "model":
        # the unit's partials are Q8.8 (its aggregation output format); the host keeps 8 fraction bits
        host = hw.AggregationConfig(packet_format=None, accumulator_format=fx(host_bits, 8),
                                    output_format=None if exact_output else fx(16, 8))
    return hw.ParallelConfig(unit=unit, num_units=units, scheme=scheme, host=host,
                             name=f"{units}x{UNIT_PRESET}_{scheme}")


def costs(batches: list[int], k: int, n: int) -> list[dict]:
    rows = []
    for batch in batches:
        for units in UNITS:
            for scheme in SCHEMES:
                cfg = node(units, scheme)
                rec = cost.parallel_cost(batch, k, n, cfg).to_dict()
                s = cost.host_sync(batch, k, n, cfg)
                e_w = -(-cfg.unit.array.b_format.bits // 8)  # bytes of one weight code (the unit array's B format)
                # the largest unit's rows of W (model: whole array-width chunks, as parallel_matmul deals them)
                share = k if scheme == "data" else max(hi - lo for lo, hi in k_splits(k, n, cfg))
                rows.append(dict(batch=batch, scheme=scheme, units=units, time_s=rec["time_s"],
                                 kernel_s=rec["time_s"] - s.sync_s, sync_s=s.sync_s, reduction_s=s.reduction_s,
                                 copy_back_s=s.copy_back_s, dram_bytes=rec["dram_bytes"],
                                 energy_pj=rec["energy_pj"], macs=rec["macs"],
                                 weight_bytes_per_unit=share * n * e_w))
    return rows


def plot(rows: list[dict], path: str, title: str) -> None:
    """Time vs batch per scheme and node (kernel and sync), and weight bytes per unit."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
    for units in UNITS:
        for scheme, style in zip(SCHEMES, ("-o", "--s")):
            r = [x for x in rows if x["units"] == units and x["scheme"] == scheme]
            b = [x["batch"] for x in r]
            ax.plot(b, [x["time_s"] * 1e6 for x in r], style, label=f"{units} units, {scheme}")
            if scheme == "model":
                ax.plot(b, [x["sync_s"] * 1e6 for x in r], ":", color=ax.lines[-1].get_color(),
                        label=f"{units} units, model: host sync")
            bx.bar(f"{units}\n{scheme}", r[0]["weight_bytes_per_unit"] / 2**20)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch")
    ax.set_ylabel("time (us)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    bx.set_ylabel("weight MiB per unit")
    bx.set_title("weights held by each unit (AMD Fig. 11)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def numerics(batch: int, k: int, n: int, *, slices: int, scale: float, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    lim = int(scale * 256)  # Q8.8 codes of values in [-scale, scale]
    a = rng.integers(-lim, lim, size=(batch, k), endpoint=True).astype(np.int16)
    b = rng.integers(-lim, lim, size=(k, n), endpoint=True).astype(np.int16)
    exact = (a.astype(np.int64) @ b.astype(np.int64)) / 2.0**16  # operands carry 8 + 8 fraction bits
    rows = []
    for units in UNITS:
        for bits in (16, 32):
            cfg = node(units, "model", host_bits=bits, exact_output=True, slices=slices)
            res = jax.jit(lambda a, b, cfg=cfg: parallel_matmul(a, b, cfg))(a, b)
            got = np.asarray(res.out).astype(np.float64) / 2.0**8
            rows.append(dict(units=units, host_accumulator_bits=bits,
                             max_abs_error=float(np.max(np.abs(got - exact))),
                             unit_overflow=int(np.sum(np.asarray(res.unit_events.overflow))),
                             host_overflow=int(res.host_events.overflow), elements=batch * n))
    return rows


def _write_csv(path: str, fields, rows) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="results", help="output directory")
    p.add_argument("--batches", default="128,256,512,1024", help="comma-separated rows of X (cost model)")
    p.add_argument("--in-features", type=int, default=4096, help="K (cost model)")
    p.add_argument("--out-features", type=int, default=4096, help="columns of W (cost model)")
    p.add_argument("--numerics-batch", type=int, default=32, help="rows of X (emulation)")
    p.add_argument("--numerics-in", type=int, default=1024, help="K (emulation)")
    p.add_argument("--numerics-out", type=int, default=64, help="columns of W (emulation)")
    p.add_argument("--slices", type=int, default=8, help="slices per unit in the emulation")
    p.add_argument("--scale", type=float, default=2.0, help="operand values uniform in [-scale, scale]")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        batches = [int(x) for x in args.batches.split(",")]
    except ValueError:
        p.error(f"--batches must be comma-separated integers, got {args.batches!r}")
    if not batches or min(batches) < 1:
        p.error("--batches must be integers >= 1")
    for name in ("in_features", "out_features", "numerics_batch", "numerics_in", "numerics_out", "slices"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 0 < args.scale < 128:
        p.error("--scale must be in (0, 128) (Q8.8 operands)")
    os.makedirs(args.out, exist_ok=True)

    cost_rows = costs(batches, args.in_features, args.out_features)
    print(f"FC {args.in_features} -> {args.out_features} on {UNIT_PRESET} units (costs)")
    print(f"{'batch':>5} {'scheme':>6} {'units':>5} {'time_us':>10} {'sync_us':>9} {'DRAM_MB':>9} "
          f"{'energy_uJ':>10} {'W_MiB/unit':>10}")
    for r in cost_rows:
        print(f"{r['batch']:>5} {r['scheme']:>6} {r['units']:>5} {r['time_s'] * 1e6:>10.2f} "
              f"{r['sync_s'] * 1e6:>9.2f} {r['dram_bytes'] / 1e6:>9.2f} {r['energy_pj'] / 1e6:>10.2f} "
              f"{r['weight_bytes_per_unit'] / 2**20:>10.2f}")
    num_rows = numerics(args.numerics_batch, args.numerics_in, args.numerics_out, slices=args.slices,
                        scale=args.scale, seed=args.seed)
    print(f"\nmodel parallelism, {args.numerics_batch} x {args.numerics_in} -> {args.numerics_out}, "
          f"{args.slices} slices per unit, values in [-{args.scale}, {args.scale}] (emulated)")
    print(f"{'units':>5} {'host_acc':>8} {'max_abs_err':>12} {'unit_ovf':>9} {'host_ovf':>9}")
    for r in num_rows:
        print(f"{r['units']:>5} {r['host_accumulator_bits']:>8} {r['max_abs_error']:>12.6g} "
              f"{r['unit_overflow']:>9} {r['host_overflow']:>9}")

    _write_csv(os.path.join(args.out, "parallel_schemes.csv"), COST_FIELDS, cost_rows)
    _write_csv(os.path.join(args.out, "parallel_numerics.csv"), NUMERICS_FIELDS, num_rows)
    plot(cost_rows, os.path.join(args.out, "parallel_schemes.png"),
         f"FC {args.in_features} -> {args.out_features} on {UNIT_PRESET} units")
    summary = {"layer": dict(batches=batches, in_features=args.in_features, out_features=args.out_features),
               "unit": UNIT_PRESET, "costs": cost_rows, "numerics": num_rows}
    with open(os.path.join(args.out, "parallel_schemes.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


if __name__ == "__main__":
    main()
