"""Benchmark: a 16-bit fixed-point system matmul over 8 slices, on 8 devices and on 1 device.

Times (medians, warm-up excluded), in one process with 8 fake CPU devices (or real ones):
  * ``system_matmul`` of (M x K) @ (K x N) Q8.8 codes over 8 Memory Slices arrays, sharded
    over 8 devices (psum of exact partials: the order-free fast path);
  * the same on 1 device;
  * the same with a saturating 16-bit aggregation accumulator (ordered: all_to_all + sum in
    slice order), on 8 devices;
  * native float32 ``jnp.dot`` of the same shapes on one device.
The last line is one JSON object with the times and the ratios to the native dot.

    python scripts/bench_slices.py [--m 1024 --k 4096 --n 1024 --repeats 7]
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from pimjax import hw  # noqa: E402
from pimjax.numerics import FixedFormat, quantize  # noqa: E402
from pimjax.system import default_mesh, system_matmul  # noqa: E402
import _floor  # noqa: E402  scripts/_floor.py, the machine's floor (scripts/ is on sys.path when a script runs)





def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--m", type=int, default=1024)
    p.add_argument("--k", type=int, default=4096)
    p.add_argument("--n", type=int, default=1024)
    p.add_argument("--slices", type=int, default=8)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args(argv)
    n_dev = min(len(jax.devices()), args.slices)

    arr = hw.presets.get("memory_slices")
    agg = hw.AggregationConfig(packet_format=FixedFormat(bits=32, frac=16),
                               accumulator_format=FixedFormat(bits=32, frac=16),
                               output_format=FixedFormat(bits=16, frac=8))
    cfg = hw.SystemConfig(array=arr, num_slices=args.slices, aggregation=agg)
    sat = cfg.replace(aggregation=hw.AggregationConfig(
        packet_format=FixedFormat(bits=16, frac=8), accumulator_format=FixedFormat(bits=16, frac=8),
        output_format=FixedFormat(bits=16, frac=8)))

    rng = np.random.default_rng(0)
    af = jnp.asarray(rng.standard_normal((args.m, args.k)), jnp.float32)
    bf = jnp.asarray(rng.standard_normal((args.k, args.n)) / np.sqrt(args.k), jnp.float32)
    qa = quantize(af, arr.a_format)[0].astype(jnp.int16)
    qb = quantize(bf * 16, arr.b_format)[0].astype(jnp.int16)

    mesh_n, mesh_1 = default_mesh(devices=n_dev), default_mesh(devices=1)
    f_n = jax.jit(lambda x, y: system_matmul(x, y, cfg, mesh=mesh_n).out)
    f_1 = jax.jit(lambda x, y: system_matmul(x, y, cfg, mesh=mesh_1).out)
    f_sat = jax.jit(lambda x, y: system_matmul(x, y, sat, mesh=mesh_n).out)
    native = jax.jit(lambda x, y: jnp.dot(x, y))
    same = bool(np.array_equal(f_n(qa, qb), f_1(qa, qb)))
    path = "ordered" if bool(system_matmul(qa, qb, cfg, mesh=mesh_n).ordered) else "fast"

    t_native = _floor.median_ms(native, af, bf, repeats=args.repeats)
    t_n = _floor.median_ms(f_n, qa, qb, repeats=args.repeats)
    t_1 = _floor.median_ms(f_1, qa, qb, repeats=args.repeats)
    t_sat = _floor.median_ms(f_sat, qa, qb, repeats=args.repeats)
    out = {
        "m": args.m, "k": args.k, "n": args.n, "slices": args.slices, "devices": n_dev,
        "backend": jax.default_backend(), "path": path, "identical_1_vs_n": same,
        "native_f32_1dev_ms": round(t_native, 2),
        "system_ndev_ms": round(t_n, 2), "system_1dev_ms": round(t_1, 2),
        "system_ordered_ndev_ms": round(t_sat, 2),
        "ratio_ndev": round(t_n / t_native, 3), "ratio_1dev": round(t_1 / t_native, 3),
        "ratio_ordered_ndev": round(t_sat / t_native, 3),
    }
    # floor: the exact 16 x 16-bit GEMM of the whole product on one device
    out.update(_floor.floor_fields([(args.m, args.k, args.n)], repeats=max(3, args.repeats // 2)))
    print(f"native f32 {t_native:.1f} ms | {args.slices} slices on {n_dev} devices {t_n:.1f} ms "
          f"| on 1 device {t_1:.1f} ms | ordered on {n_dev} devices {t_sat:.1f} ms")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
