"""Benchmark: bit-exact 16-bit fixed-point slice matmul vs native float32 ``jnp.dot``.

Times, in one process (medians over repeats, warm-up excluded):
  * the Memory Slices array (256 x 8, Q8.8 operands, exact 32-bit accumulation, Q8.8 output,
    nearest-even) on M x K x N codes drawn from N(0, 1) data, vs ``jnp.dot`` of the same
    shapes in float32;
  * stochastic rounding vs round-to-nearest-even of a 4M-element int64 array (32 -> 16 bits);
  * the quantize API (``pimjax.numerics.quantize``: codes and event counts) of 4M float32
    values to Q7.8 (``Fx(16, 8)``), nearest-even and stochastic, vs a native
    ``clip(round(x * 256))`` in float32, interleaved in one loop (medians).

The last line printed is one JSON object with the numbers and ratios (emulated / native).

    python scripts/bench_matmul.py [--m 1024 --k 1024 --n 1024 --repeats 15]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from pimjax import hw
from pimjax.numerics import FixedFormat, quantize, requantize_exact
from pimjax.units import systolic_matmul
import _floor  # noqa: E402  scripts/_floor.py, the machine's floor (scripts/ is on sys.path when a script runs)





def floor(args) -> dict:
    """The machine's floor: the exact 16 x 16-bit integer GEMM of the same shape."""
    return _floor.floor_fields([(args.m, args.k, args.n)], a_bits=16, b_bits=16,
                                        repeats=max(3, args.repeats // 3))


def interleaved_ms(fns: dict, repeats: int) -> dict:
    """Median ms of each ``name: (fn, args)``, the calls interleaved (robust to machine drift)."""
    for fn, a in fns.values():
        jax.block_until_ready(fn(*a))
        jax.block_until_ready(fn(*a))
    ts = {k: [] for k in fns}
    for _ in range(repeats):
        for k, (fn, a) in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*a))
            ts[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v) * 1e3) for k, v in ts.items()}


def quantize_bench(elems: int, repeats: int) -> dict:
    """The quantize API vs a native round + clip (module docstring)."""
    fmt = FixedFormat(bits=16, frac=8)
    x = jnp.asarray(np.random.default_rng(1).standard_normal(elems) * 4, jnp.float32)
    key = jax.random.key(0)
    ms = interleaved_ms({
        "native": (jax.jit(lambda v: jnp.clip(jnp.round(v * 256.0), -32768.0, 32767.0)), (x,)),
        "nearest": (jax.jit(lambda v: quantize(v, fmt, "nearest_even")), (x,)),
        "stochastic": (jax.jit(lambda v, k: quantize(v, fmt, "stochastic", key=k)), (x, key)),
    }, repeats)
    return {
        "quantize_elems": elems,
        "quantize_native_ms": round(ms["native"], 3),
        "quantize_nearest_ms": round(ms["nearest"], 3),
        "quantize_stochastic_ms": round(ms["stochastic"], 3),
        "quantize_nearest_ratio": round(ms["nearest"] / ms["native"], 3),
        "quantize_stochastic_ratio": round(ms["stochastic"] / ms["native"], 3),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--m", type=int, default=1024)
    p.add_argument("--k", type=int, default=1024)
    p.add_argument("--n", type=int, default=1024)
    p.add_argument("--round-elems", type=int, default=4 * 1024 * 1024)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--method", default="auto", choices=["auto", "f64", "int8"])
    args = p.parse_args(argv)

    cfg = hw.presets.get("memory_slices")
    rng = np.random.default_rng(0)
    af = jnp.asarray(rng.standard_normal((args.m, args.k)), jnp.float32)
    bf = jnp.asarray(rng.standard_normal((args.k, args.n)), jnp.float32)
    qa = quantize(af, cfg.a_format)[0].astype(jnp.int16)
    qb = quantize(bf, cfg.b_format)[0].astype(jnp.int16)

    native = jax.jit(lambda x, y: jnp.dot(x, y))
    emulated = jax.jit(lambda x, y: systolic_matmul(x, y, cfg, method=args.method))
    res = emulated(qa, qb)
    native_ms = _floor.median_ms(native, af, bf, repeats=args.repeats)
    emu_ms = _floor.median_ms(emulated, qa, qb, repeats=args.repeats)

    with jax.enable_x64(True):
        codes = jnp.asarray(rng.integers(-(2**31), 2**31, args.round_elems), jnp.int64)
    dst = FixedFormat(bits=16, frac=0)
    nearest = jax.jit(lambda c: requantize_exact(c, 16, dst, "nearest_even")[0])
    stoch = jax.jit(lambda c, k: requantize_exact(c, 16, dst, "stochastic", key=k)[0])
    key = jax.random.key(0)
    near_ms = _floor.median_ms(nearest, codes, repeats=args.repeats)
    sr_ms = _floor.median_ms(stoch, codes, key, repeats=args.repeats)

    out = {
        "m": args.m,
        "k": args.k,
        "n": args.n,
        "backend": jax.default_backend(),
        "path": "ordered" if bool(res.ordered) else "fast",
        "native_f32_ms": round(native_ms, 3),
        "emulated_ms": round(emu_ms, 3),
        "ratio": round(emu_ms / native_ms, 3),
        "round_elems": args.round_elems,
        "nearest_ms": round(near_ms, 3),
        "stochastic_ms": round(sr_ms, 3),
        "sr_ratio": round(sr_ms / near_ms, 3),
    }
    out.update(floor(args))
    out.update(quantize_bench(args.round_elems, args.repeats))
    print(f"native f32 dot {native_ms:.2f} ms, emulated slice matmul {emu_ms:.2f} ms ({out['path']} path)")
    print(f"round-to-nearest {near_ms:.2f} ms, stochastic {sr_ms:.2f} ms")
    print(f"quantize API to Q7.8 ({args.round_elems} float32): native round+clip {out['quantize_native_ms']:.2f} ms, "
          f"nearest {out['quantize_nearest_ms']:.2f} ms ({out['quantize_nearest_ratio']:.2f}x), "
          f"stochastic {out['quantize_stochastic_ms']:.2f} ms ({out['quantize_stochastic_ratio']:.2f}x)")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
