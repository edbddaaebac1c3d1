"""Benchmark: a training step of AlexNet (CPU-sized) on emulated slices vs plain float32.

Times, in one process (medians over repeats, compile excluded, the three settings' steps
interleaved so that the shared machine's load drifts over all alike), the jitted training step
(forward, backward, Adam update, cost collection) of the same AlexNet on the digits batch
shape with (a) the default emulated precision (NeuroTrainer Table 4: FF 16-bit nearest, BP/UP
32-bit with stochastic rounding of every product, weights resident in memory as Q8.16 codes
updated with stochastic rounding) and (b) precision "native": plain float32 Flax, the same
model with its convolutions as ``jax.lax.conv_general_dilated`` (what ``nnx.Conv`` computes)
and its dense layers as ``jnp.dot``, plus (c) the emulated step with cost recording off, and
prints as its last line one JSON object with the times and ratios.

    python scripts/bench_train.py [--precision neurotrainer --input-size 16 --model-width 0.25]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from pimjax.apps.train import make_task
from pimjax.apps.train._config import TrainConfig
from pimjax.apps.train._loop import _tx, load_resident, make_steps
from pimjax.nn import training_hardware
import _floor  # noqa: E402  scripts/_floor.py, the machine's floor (scripts/ is on sys.path when a script runs)


def _ready(out) -> None:
    loss, aux, costs = out
    jax.block_until_ready((loss, aux, costs.packed))


def make_step(cfg: TrainConfig, record_costs: bool = True):
    """A compiled (and warmed) training step of ``cfg``'s model: ``run(i)`` runs step ``i``."""
    hw = training_hardware(cfg.precision, rows=cfg.rows, width=cfg.width, num_slices=cfg.slices)
    hw = dataclasses.replace(hw, record_costs=record_costs)
    task = make_task(cfg, hw)
    model = task.make_model(nnx.Rngs(0))
    load_resident(model, hw)
    opt = nnx.Optimizer(model, _tx(cfg, 0, hw), wrt=nnx.Param)  # resident weights: SR update included
    train_step, _ = make_steps(task)
    batch = task.train_batch(cfg.batch_size, seed=0, epoch=0, index=0)

    def run(i: int) -> None:
        _ready(train_step(model, opt, batch, jnp.uint32(i)))

    run(0)  # compile
    run(1)
    return run


def interleaved_times(runs: dict, repeats: int) -> dict:
    """ms of each of ``repeats`` steps of every compiled step in ``runs``, the settings' steps
    interleaved (order rotating each round) so that a drifting load on the shared machine hits
    all alike."""
    names = list(runs)
    ts = {k: [] for k in names}
    for i in range(repeats):
        for k in names[i % len(names):] + names[:i % len(names)]:
            t0 = time.perf_counter()
            runs[k](2 + i)
            ts[k].append((time.perf_counter() - t0) * 1e3)
    return ts



def train_floor(cfg: TrainConfig, repeats: int = 5) -> dict:
    """The floor of one step: the exact integer GEMMs of its FF (16 x 16 bits), BP and UP (32 x
    32 bits, NeuroTrainer Table 4) at the model's shapes (``pimjax.nn.gemm_shapes``)."""
    from pimjax.nn import gemm_shapes

    hw = training_hardware("native")
    model = make_task(cfg, hw).make_model(nnx.Rngs(0))
    try:
        ff = [(m, k, n) for _, m, k, n in gemm_shapes(model, cfg.batch_size)]
    except Exception:  # noqa: BLE001 - a model gemm_shapes does not know: no floor
        return {"floor_ms": None}
    t = _floor.floor_fields(ff, a_bits=16, b_bits=16, repeats=repeats)
    back = _floor.floor_fields([(m, n, k) for m, k, n in ff] + [(k, m, n) for m, k, n in ff], a_bits=32, b_bits=32,
                           repeats=repeats)
    return {"floor_ms": round(t["floor_ms"] + back["floor_ms"], 3), "floor_method": t["floor_method"],
            "floor_gemms": 3 * len(ff)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="alexnet")
    p.add_argument("--precision", default="neurotrainer")
    p.add_argument("--input-size", type=int, default=16)
    p.add_argument("--model-width", type=float, default=0.25)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args(argv)
    base = TrainConfig(model=args.model, precision=args.precision, input_size=args.input_size,
                       model_width=args.model_width, batch_size=args.batch_size, progress=False)
    runs = {"emu": make_step(base), "emu_nocost": make_step(base, record_costs=False),
            "native": make_step(dataclasses.replace(base, precision="native"))}
    ms = {k: float(np.median(v)) for k, v in interleaved_times(runs, args.repeats).items()}
    emu, emu_nocost, native = ms["emu"], ms["emu_nocost"], ms["native"]
    out = {"model": args.model, "precision": args.precision, "input_size": args.input_size,
           "model_width": args.model_width, "batch_size": args.batch_size, "backend": jax.default_backend(),
           "emulated_step_ms": round(emu, 2), "emulated_no_cost_step_ms": round(emu_nocost, 2),
           "native_f32_step_ms": round(native, 2), "ratio": round(emu / native, 3),
           "cost_overhead_ratio": round(emu / emu_nocost, 3)}
    out.update(train_floor(base))
    print(f"{args.model}: emulated {emu:.1f} ms/step, without cost recording {emu_nocost:.1f} ms, "
          f"native float32 {native:.1f} ms")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
