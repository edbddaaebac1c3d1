"""Benchmark: a 64-config accuracy sweep as one vmapped program vs a Python loop over configs.

The work: evaluate a small CNN (``cnn_d2_k3_c8``: two 3x3 conv layers of 8 channels and a dense
layer), trained in float32 on the 8x8 scikit-learn digits, on the digits test set (450 images)
on the emulated slice datapath (256 x 8 array, 32-bit accumulator) across 4 activation widths
(4, 6, 8, 12 bits) x 4 weight widths (2, 4, 6, 8 bits, per-layer scale) x 4 levels of fixed
Gaussian noise on every layer's output activations (0, 0.05, 0.1, 0.2): 64 configs.

Three ways, timed from a cold start (compiles included) in the same run:

* ``vmapped``: :class:`pimjax.apps.sweep.SweepEvaluator`: the 64 configs' numerics are traced
  and vmapped in one compiled program (one call per test batch);
* ``loop_per_config_compile``: the ordinary per-config way: put the model on the concrete
  hardware of the config (:func:`pimjax.nn.with_hardware`, static formats and noise, as
  ``pimjax train --hw ...`` does) and run a jitted evaluation step over the test batches. Bit
  widths and noise levels are static in that hardware, so every config compiles anew;
* ``loop_one_compile``: the traced program of one config (:meth:`SweepEvaluator.evaluate_one`),
  compiled once and reused for every config.

All three give the same number of correct predictions per config (checked). The headline
``ratio`` is ``loop_per_config_compile / vmapped``; ``ratio_vs_one_compile`` is reported too.
The last line printed is one JSON object.

    python scripts/bench_sweep.py [--loop-configs N] [--devices D] [--scaling 1,2,4,8]

``--scaling`` adds a table: configs/s of the warm vmapped sweep (events counted) over 1, 2, 4,
8 devices (fake CPU devices unless ``XLA_FLAGS`` says otherwise: the flag sets 8), each
checked identical to the 1-device results. ``floor_ms``: the exact integer GEMMs of the
sweep's work (every emulated layer of every config on every test batch), this machine's
floor (``scripts/_floor.py``).

The JSON is also written, atomically, to ``--out``/``bench_sweep.json``, with where it came from:
``command``, ``date`` (UTC), ``commit`` (``+dirty`` when tracked files differ from it), ``cpus``
and ``load_average`` (1-minute, at the start and at the end of the run).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time

if "--scaling" in sys.argv:  # fake CPU devices must be set before JAX starts
    os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax  # noqa: E402
import jax.numpy as jnp
import numpy as np
from flax import nnx

from pimjax.apps._atomic import atomic_write
from pimjax.apps.sweep import ModelSpec, SweepEvaluator, SweepGrid, training_hardware_for
from pimjax.apps.sweep.models import accuracy, load_data, trained_model
from pimjax.nn import with_hardware
import _floor  # noqa: E402  scripts/_floor.py, the machine's floor (scripts/ is on sys.path when a script runs)


def sweep_floor(ev: SweepEvaluator, hw, configs: int) -> dict:
    """The exact integer GEMMs of the sweep's emulated layers (traced from the model), at the
    swept hardware's widest codes, once per test batch and config."""
    xb = next(iter(ev.batches()))[0]
    shapes = _floor.traced_gemm_shapes(lambda x: nnx.merge(ev.graphdef, ev.state)(x, seed=jnp.uint32(0), train=False), xb)
    if not shapes:
        return {"floor_ms": None}
    f = _floor.floor_fields(shapes, a_bits=hw.max_act_bits, b_bits=hw.max_weight_bits, scale=ev.num_batches * configs)
    f.pop("floor_shapes")
    return {**f, "floor_gemms_per_batch": len(shapes)}


def provenance(argv: list[str]) -> dict:
    """Where a run's numbers come from: the command, the UTC date and time, the commit, the CPUs."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*a: str) -> str:
        try:
            return subprocess.run(["git", "-C", root, *a], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if commit != "unknown" and git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    return {"command": shlex.join(["python", "scripts/bench_sweep.py", *argv]),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit, "cpus": os.cpu_count()}


def scaling_table(model, hw, x, y, points, counts) -> list[dict]:
    """Warm configs/s of the vmapped sweep (events counted) on each device count; the metrics of
    every count compared with 1 device's, config for config."""
    rows, ref = [], None
    for d in counts:
        if d > len(jax.devices()):
            continue
        ev = SweepEvaluator(model, hw, x, y, batch_size=150, devices=d, events=True)
        ev.evaluate(points, chunk=64)  # compile
        t0 = time.perf_counter()
        m = ev.evaluate(points, chunk=64)
        t = time.perf_counter() - t0
        ref = m if ref is None else ref
        same = all(np.array_equal(m[k], ref[k]) for k in m if k != "loss")
        rows.append({"devices": d, "warm_s": round(t, 3), "configs_per_s": round(len(points) / t, 2),
                     "identical_to_1_device": bool(same),
                     "loss_identical": bool(np.array_equal(m["loss"], ref["loss"]))})
        print(f"  {d} devices: {len(points) / t:7.2f} configs/s ({t:.2f} s warm), identical to 1 device: {same}",
              flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results", help="directory for the cached model and bench_sweep.json")
    ap.add_argument("--loop-configs", type=int, default=64,
                    help="configs the per-config-compile loop runs (the rest extrapolated; default all 64)")
    ap.add_argument("--devices", type=int, default=None, help="devices for the vmapped sweep (default all)")
    ap.add_argument("--scaling", default=None, help="comma-separated device counts for the scaling table (e.g. 1,2,4,8)")
    args = ap.parse_args(argv)
    source = provenance(sys.argv[1:] if argv is None else list(argv))
    load_start = round(os.getloadavg()[0], 1)

    spec = ModelSpec(name="cnn_d2_k3_c8", input_size=8, epochs=15)
    data = load_data(spec)
    model = trained_model(spec, cache_dir=os.path.join(args.out, "models"), data=data)
    float_acc = accuracy(model, data.x_test, data.y_test)
    grid = SweepGrid(act_bits=[4, 6, 8, 12], act_int_bits=[4], weight_bits=[2, 4, 6, 8], noise_kind=["fixed"],
                     noise_level=[0.0, 0.05, 0.1, 0.2])
    (hw, points), = grid.groups().items()
    assert len(points) == 64
    x, y = data.x_test, data.y_test
    n = len(x)
    print(f"{len(points)} configs, {n} test images, {hw}", flush=True)

    # 1. vmapped: one program
    t0 = time.perf_counter()
    ev = SweepEvaluator(model, hw, x, y, batch_size=150, devices=args.devices, events=False)
    m = ev.evaluate(points, chunk=64)
    t_vmapped = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev.evaluate(points, chunk=64)
    t_vmapped_warm = time.perf_counter() - t0
    correct_v = np.rint(m["accuracy"] * n).astype(int)
    print(f"vmapped: {t_vmapped:.2f} s cold (compile included), {t_vmapped_warm:.2f} s warm", flush=True)

    # 2. loop, one compile reused (traced numerics, one config per call)
    t0 = time.perf_counter()
    ev1 = SweepEvaluator(model, hw, x, y, batch_size=150, devices=1, events=False)
    correct_1 = [round(ev1.evaluate_one(p)["accuracy"] * n) for p in points]
    t_one = time.perf_counter() - t0
    print(f"loop, one compile reused: {t_one:.2f} s", flush=True)

    # 3. loop, per-config compile (static hardware per config: the ordinary emulation)
    @nnx.jit
    def eval_step(m, xb, yb, valid, seed):
        logits = m(xb, seed=seed, train=False)
        nnx.pop(m, nnx.Intermediate)  # events the layers sow: not kept across batches
        return jnp.sum((jnp.argmax(logits, -1) == yb) & valid, dtype=jnp.int32)

    k = max(1, min(args.loop_configs, len(points)))
    t0 = time.perf_counter()
    correct_l = []
    for p in points[:k]:
        mp = with_hardware(model, lambda layer, p=p: training_hardware_for(p, hw, layer.kernel[...]))
        correct_l.append(sum(int(eval_step(mp, xb, yb, v, s)) for xb, yb, v, s in ev.batches()))
    t_loop = time.perf_counter() - t0
    t_loop_full = t_loop * len(points) / k
    print(f"loop, per-config compile: {t_loop:.2f} s for {k} configs"
          + (f" (extrapolated to {len(points)}: {t_loop_full:.2f} s)" if k < len(points) else ""), flush=True)

    if list(correct_v) != correct_1 or list(correct_v[:k]) != correct_l:
        print("MISMATCH between the vmapped sweep and the loops", file=sys.stderr)
        return 1
    res = {
        "bench": "sweep", "configs": len(points), "test_images": n, "model": spec.name,
        "float_accuracy": round(float_acc, 4),
        "accuracy_min": round(float(m["accuracy"].min()), 4), "accuracy_max": round(float(m["accuracy"].max()), 4),
        "vmapped_s": round(t_vmapped, 3), "vmapped_warm_s": round(t_vmapped_warm, 3),
        "loop_per_config_compile_s": round(t_loop_full, 3), "loop_per_config_compile_measured": k,
        "loop_one_compile_s": round(t_one, 3),
        "ratio": round(t_loop_full / t_vmapped, 2), "ratio_vs_one_compile": round(t_one / t_vmapped, 2),
        "ratio_uses": "loop_per_config_compile_s / vmapped_s (both cold, compiles included)",
        "same_results": True, "devices": ev.num_devices, "backend": jax.default_backend(),
    }
    res.update(sweep_floor(ev, hw, len(points)))
    if args.scaling:
        print("scaling (warm, events counted):", flush=True)
        res["scaling"] = scaling_table(model, hw, x, y, points, [int(v) for v in args.scaling.split(",")])
    res.update(source, load_average={"start": load_start, "end": round(os.getloadavg()[0], 1)})
    atomic_write(os.path.join(args.out, "bench_sweep.json"), json.dumps(res, indent=1) + "\n")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
