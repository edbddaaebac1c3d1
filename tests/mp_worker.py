"""One process of the multi-process tests (tests/test_multiprocess.py): computes a system
matmul, a small sweep and a 3-step training run on the global mesh and, on process 0, saves
the bits in ``OUT/<name>.npz``.

    python tests/mp_worker.py OUT TASKS [--coordinator H:P --num-processes N --process-id I]
        [--devices D]

``TASKS``: comma-separated ``matmul``, ``sweep``, ``train``. ``--devices D`` uses the first D
global devices (single process only; default all). The launcher sets ``XLA_FLAGS`` for the
number of fake CPU devices per process.
"""

from __future__ import annotations

import argparse
import os
import sys


def main() -> int:
    import faulthandler

    if os.environ.get("PIMJAX_MP_DUMP_AFTER"):  # debugging a hang: every thread's stack, then exit
        faulthandler.dump_traceback_later(float(os.environ["PIMJAX_MP_DUMP_AFTER"]), exit=True)
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("tasks")
    p.add_argument("--devices", type=int, default=0)
    p.add_argument("--one-device", action="store_true", help="also matmul and sweep on 1 device (prefix one_)")
    p.add_argument("--resume-from", default=None, help="a run dir of another layout: resume its step-2 checkpoint")
    from pimjax.apps import _distributed as dist

    dist.add_args(p)
    args = p.parse_args()
    dist.initialize_from_args(args)
    import jax

    if os.environ.get("PIMJAX_TEST_COMPILE_CACHE"):  # the test session's cache: a rerun loads, not compiles
        jax.config.update("jax_compilation_cache_dir", os.environ["PIMJAX_TEST_COMPILE_CACHE"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

    n = args.devices or len(jax.devices())
    res: dict = {}
    for t in args.tasks.split(","):
        res.update(globals()[f"task_{t}"](n, args.out))
        if args.one_device and t in ("matmul", "sweep"):
            res.update({f"one_{k}": v for k, v in globals()[f"task_{t}"](1, args.out).items()})
    if args.resume_from:
        res.update(task_resume(n, args.out, args.resume_from))
    if dist.is_writer():
        import numpy as np

        os.makedirs(args.out, exist_ok=True)
        np.savez(os.path.join(args.out, "bits.npz"), **res)
    dist.sync("mp_worker done")
    print(f"process {jax.process_index()}/{jax.process_count()}: {n} devices, done", file=sys.stderr)
    return 0


def task_matmul(n: int, out: str) -> dict:
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    from pimjax import hw
    from pimjax.apps._distributed import global_array
    from pimjax.numerics import FixedFormat
    from pimjax.system import system_matmul

    fx = lambda b, f: FixedFormat(bits=b, frac=f)  # noqa: E731
    arr = hw.presets.get("memory_slices").replace(rows=4, width=4)
    res = {}
    for name, sysc in (
        # ordered: packets round 16 -> 8 fraction bits, the aggregation saturates (all_to_all)
        ("ordered", hw.SystemConfig(array=arr, num_slices=8, aggregation=hw.AggregationConfig(
            packet_format=fx(16, 8), accumulator_format=fx(16, 8), output_format=fx(12, 6)))),
        # fast: exact partial GEMMs, one psum across the processes
        ("fast", hw.SystemConfig(array=arr.replace(a_format=fx(8, 4), b_format=fx(8, 4),
                                                   accumulator_format=fx(32, 8), output_format=fx(8, 4)),
                                 num_slices=8, aggregation=hw.AggregationConfig(
                                     packet_format=None, accumulator_format=fx(32, 8), output_format=fx(8, 4)))),
    ):
        rng = np.random.default_rng(3)
        fa, fb = sysc.array.a_format, sysc.array.b_format
        a = rng.integers(fa.min_code, fa.max_code + 1, (5, 37)).astype(np.int32)
        b = rng.integers(fb.min_code, fb.max_code + 1, (37, 6)).astype(np.int32)
        mesh = Mesh(np.array(jax.devices()[:n]), ("slices",))
        rep = NamedSharding(mesh, P())
        fn = jax.jit(lambda a, b: system_matmul(a, b, sysc, mesh=mesh, key=jax.random.key(5)))
        r = fn(global_array(a, rep), global_array(b, rep))
        res[f"matmul_{name}_out"] = _host(r.out)
        for f, v in zip(r.events._fields, r.events):
            res[f"matmul_{name}_{f}"] = _host(v)
    return res


def _host(x):
    """A replicated (or process-local) array's value on this host."""
    import numpy as np

    if getattr(x, "is_fully_replicated", True) or getattr(x, "is_fully_addressable", True):
        return np.asarray(x)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def task_sweep(n: int, out: str) -> dict:
    import jax

    from pimjax.apps.data import load_digits_dataset
    from pimjax.apps.sweep import ModelSpec, NumericPoint, SweepEvaluator, SweepHardware
    from pimjax.apps.sweep.models import make_model

    digits = load_digits_dataset(input_size=8)
    x, y = digits.x_test[:24], digits.y_test[:24]
    model = make_model(ModelSpec(name="cnn_d2_k3_c4", input_size=8, seed=1))
    mk = NumericPoint.make
    points = [
        mk(act_bits=8, act_frac=4, weight_bits=4, noise_kind="fixed", noise_level=0.1),
        mk(act_bits=6, act_frac=3, weight_bits=8, rounding="floor", out_bits=8, out_frac=3),
        mk(act_bits=4, act_frac=2, weight_bits=3, weight_scale="fixed", weight_frac=3, rounding="nearest_away",
           noise_kind="rescaled", noise_level=0.05),
        mk(act_bits=8, act_frac=5, weight_bits=2, rounding="toward_zero", out_bits=6, out_frac=2),
        mk(act_bits=7, act_frac=6, weight_bits=5, out_bits=12, out_frac=8),
    ]
    hw = SweepHardware(max_act_bits=8, max_weight_bits=8, num_slices=2, rows=8, width=4)
    devices = None if n == len(jax.devices()) else n
    ev = SweepEvaluator(model, hw, x, y, batch_size=12, devices=devices)
    # chunk 8 over the devices: 5 configs padded to 8; a 2nd chunk of the same program
    metrics, logits = ev.evaluate(points + points[:3], chunk=8, return_logits=True)
    res = {f"sweep_{k}": v for k, v in metrics.items()}  # the loss too: computed on the host
    res["sweep_logits"] = logits
    return res


def _tiny_digits(out: str) -> str:
    """32 training and 8 test digits (8 x 8) as an .npz: 3 steps and one short evaluation."""
    import numpy as np

    from pimjax.apps.data import load_digits_dataset

    path = os.path.join(out, "tiny_digits.npz")
    if not os.path.exists(path):
        d = load_digits_dataset(input_size=8)
        os.makedirs(out, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.npz"
        np.savez(tmp, x_train=d.x_train[:32], y_train=d.y_train[:32], x_test=d.x_test[:8], y_test=d.y_test[:8])
        os.replace(tmp, path)
    return path


def _train_config(n: int, out_dir: str, data_dir: str | None = None, **kw):
    from pimjax.apps.train import TrainConfig

    data = _tiny_digits(data_dir or os.path.dirname(out_dir))
    return TrainConfig(model="cnn_d2_k3_c4", dataset=data, input_size=8,
                       batch_size=8, slices=8, devices=n, rows=8, width=4, epochs=1, max_steps=3, progress=False,
                       out_dir=out_dir, checkpoint_every=2, **kw)


def _state_bits(r: dict, prefix: str) -> dict:
    import numpy as np
    from flax import nnx

    res = {f"{prefix}{'/'.join(map(str, k))}": np.asarray(v) for k, v in nnx.to_flat_state(nnx.state(r["model"]))}
    for f, v in r["events"].items():
        res[f"{prefix}events_{f}"] = np.asarray(v)
    return res


def task_resume(n: int, out: str, other_run: str) -> dict:
    """Resumes another layout's run (other process and device counts) from its step-2 checkpoint."""
    import shutil

    from pimjax.apps import _distributed as dist
    from pimjax.apps.train import train

    run = os.path.join(out, "resumed")
    if dist.is_writer():
        shutil.rmtree(run, ignore_errors=True)
        shutil.copytree(other_run, run)
        for name in os.listdir(os.path.join(run, "checkpoints")):
            if name.startswith("step_00000003"):
                p = os.path.join(run, "checkpoints", name)
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    dist.sync("resume copy")
    # the same run (its dataset path included), another process and device layout
    r = train(_train_config(n, run, data_dir=os.path.dirname(os.path.abspath(other_run)), resume=True))
    assert r["steps"] == 3
    return _state_bits(r, "resume_train_")


def task_train(n: int, out: str) -> dict:
    from pimjax.apps.train import train

    r = train(_train_config(n, os.path.join(out, "run")))
    return _state_bits(r, "train_")


if __name__ == "__main__":
    sys.exit(main())
