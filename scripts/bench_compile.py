"""Benchmark: compile time, peak memory and program size of one training step, emulated vs native.

For each model (AlexNet and ResNet-18 at channel width x0.25 on the digits batch shape) and
each setting (``native`` float32, ``fixed16``, the default ``neurotrainer``), a fresh
subprocess (so that its peak RSS is its own; the persistent compilation cache off) builds the
training step and times its first call (trace + compile + one step) and a second call (one
step): compile time = first - second, in wall time and in the child's CPU time (user +
system; robust to a shared machine's load, and the ratios use it). Peak RSS is the child's ``ru_maxrss``, and the RSS
before the first step is reported too (model, data, JAX runtime).

It also prints the size of one emulated matmul per phase (FF, BP, UP; a 256 x 576 x 64
layer): StableHLO ops, compiled HLO kernels (fusions) and compile time.

The last line printed is one JSON object with ``compile_ratio`` (neurotrainer / native,
the first model) and ``memory_ratio`` (peak RSS, same), and every measurement.

    python scripts/bench_compile.py [--models alexnet,resnet18 --settings native,fixed16,neurotrainer]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import resource
import subprocess
import sys
import time


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(model: str, precision: str, batch: int) -> dict:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from pimjax.apps.train import TrainConfig, load_resident, make_steps, make_task
    from pimjax.apps.train._loop import _tx
    from pimjax.nn import training_hardware

    cfg = TrainConfig(model=model, precision=precision, input_size=16, model_width=0.25, batch_size=batch,
                      progress=False)
    hw = training_hardware(cfg.precision, rows=cfg.rows, width=cfg.width, num_slices=cfg.slices)
    task = make_task(cfg, hw)
    m = task.make_model(nnx.Rngs(0))
    load_resident(m, hw)
    opt = nnx.Optimizer(m, _tx(cfg, 0, hw), wrt=nnx.Param)
    train_step, _ = make_steps(task)
    data = task.train_batch(cfg.batch_size, seed=0, epoch=0, index=0)

    def run(i):
        loss, aux, costs = train_step(m, opt, data, jnp.uint32(i))
        jax.block_until_ready((loss, aux, costs.packed))

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    rss0 = _rss_mb()
    t0, c0 = time.perf_counter(), cpu()
    run(0)
    t1, c1 = time.perf_counter(), cpu()
    run(1)
    t2, c2 = time.perf_counter(), cpu()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"model": model, "precision": precision, "first_call_s": round(t1 - t0, 3), "step_s": round(t2 - t1, 3),
            "compile_s": round((t1 - t0) - (t2 - t1), 3),
            "compile_cpu_s": round((c1 - c0) - (c2 - c1), 3),
            "rss_before_mb": round(rss0, 1), "peak_rss_mb": round(peak, 1)}


def run_child(model: str, precision: str, batch: int) -> dict:
    env = dict(os.environ, PIMJAX_NO_COMPILE_CACHE="1", JAX_ENABLE_COMPILATION_CACHE="false")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    out = subprocess.run([sys.executable, __file__, "--child", model, precision, "--batch-size", str(batch)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def phase_sizes(settings: list[str], shape=(256, 576, 64)) -> list[dict]:
    """StableHLO ops, compiled kernels and compile time of one emulated matmul per phase."""
    import jax
    import jax.numpy as jnp

    from pimjax.nn import training_hardware
    from pimjax.nn._emulated import phase_matmul

    m, k, n = shape
    a, b = jnp.ones((m, k), jnp.float32), jnp.ones((k, n), jnp.float32)
    rows = []
    for name in settings:
        hw = training_hardware(name)
        for ph in ("ff", "bp", "up"):
            phase = hw.phase(ph)
            f = jax.jit(lambda a, b, phase=phase: phase_matmul(a, b, phase, key=jnp.uint32(3), mesh=hw.mesh))
            low = f.lower(a, b)
            n_ops = sum(1 for line in low.as_text().splitlines() if re.search(r"= (stablehlo|chlo)\.", line))
            t0 = time.perf_counter()
            comp = low.compile()
            ct = time.perf_counter() - t0
            rows.append({"setting": name, "phase": ph, "stablehlo_ops": n_ops,
                         "kernels": comp.as_text().count(" fusion("), "compile_s": round(ct, 3)})
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="alexnet,resnet18")
    p.add_argument("--settings", default="native,fixed16,neurotrainer")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--no-phases", action="store_true", help="skip the per-phase program sizes")
    p.add_argument("--child", nargs=2, metavar=("MODEL", "PRECISION"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        res = child(args.child[0], args.child[1], args.batch_size)
        print(json.dumps(res))
        return res
    models = args.models.split(",")
    settings = args.settings.split(",")
    steps = []
    for model in models:
        for s in settings:
            r = run_child(model, s, args.batch_size)
            steps.append(r)
            print(f"{model:9s} {s:13s} compile {r['compile_s']:7.2f} s wall, {r['compile_cpu_s']:7.2f} s CPU (first call {r['first_call_s']:.2f} s, "
                  f"step {r['step_s']:.3f} s), peak RSS {r['peak_rss_mb']:7.1f} MB (before the step "
                  f"{r['rss_before_mb']:.1f} MB)", flush=True)
    phases = [] if args.no_phases else phase_sizes([s for s in settings if s != "native"])
    for r in phases:
        print(f"  {r['setting']:13s} {r['phase']}: {r['stablehlo_ops']:5d} StableHLO ops, {r['kernels']:4d} kernels, "
              f"compile {r['compile_s']:.2f} s")
    out: dict = {"steps": steps, "phases": phases}
    first = models[0]
    by = {(r["model"], r["precision"]): r for r in steps}
    if (first, "native") in by and (first, "neurotrainer") in by:
        nat, emu = by[(first, "native")], by[(first, "neurotrainer")]
        out["compile_ratio"] = round(emu["compile_cpu_s"] / nat["compile_cpu_s"], 3)
        out["compile_ratio_wall"] = round(emu["compile_s"] / nat["compile_s"], 3)
        out["memory_ratio"] = round(emu["peak_rss_mb"] / nat["peak_rss_mb"], 3)
    for model in models:
        if (model, "native") in by and (model, "neurotrainer") in by:
            nat, emu = by[(model, "native")], by[(model, "neurotrainer")]
            out[f"{model}_compile_ratio"] = round(emu["compile_cpu_s"] / nat["compile_cpu_s"], 3)
            out[f"{model}_memory_ratio"] = round(emu["peak_rss_mb"] / nat["peak_rss_mb"], 3)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
