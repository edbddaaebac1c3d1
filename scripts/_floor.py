"""The machine's floor for a benchmark's work: the exact integer GEMM of the same shape.

Every bench's final JSON carries ``floor_ms``: the median time of
:func:`pimjax.units.exact_matmul` on random codes of the benchmark's GEMM shape(s), with the
method this machine's paths take (``float64``/``float32`` GEMM on a CPU, int8 limbs on an
accelerator or under ``PIMJAX_BACKEND_PATHS=accelerator``). A bit-exact emulation cannot beat
the exact product it must compute, so ``ms / floor_ms`` is the distance to the hardware limit.

Loaded by file path (``load_floor()``), so that the scripts need no package.
"""

from __future__ import annotations

import time
from typing import Iterable

import jax
import numpy as np

from pimjax.units import exact_matmul
from pimjax.units._exact_gemm import resolve_method


def _median_ms(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts) * 1e3)


def exact_gemm_ms(m: int, k: int, n: int, *, a_bits: int = 16, b_bits: int = 16, batch: int = 1,
                  repeats: int = 5, seed: int = 0) -> float:
    """Median ms of ``batch`` exact ``(m, k) @ (k, n)`` integer GEMMs of ``a_bits``/``b_bits`` codes."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-(1 << (a_bits - 1)), 1 << (a_bits - 1), (batch, m, k)).astype(np.int32)
    b = rng.integers(-(1 << (b_bits - 1)), 1 << (b_bits - 1), (batch, k, n)).astype(np.int32)
    one = lambda x, y: exact_matmul(x, y, a_bits=a_bits, b_bits=b_bits)  # noqa: E731
    fn = jax.jit(jax.vmap(one) if batch > 1 else lambda x, y: one(x[0], y[0]))
    return _median_ms(fn, a, b, repeats=repeats)


def floor_fields(shapes: Iterable[tuple[int, int, int]], *, a_bits: int = 16, b_bits: int = 16,
                 repeats: int = 5, scale: float = 1.0) -> dict:
    """``{"floor_ms", "floor_method", "floor_shapes"}``: the summed exact-GEMM time of ``shapes``
    (times ``scale``, e.g. the number of GEMMs per timed unit of work)."""
    shapes = [tuple(int(v) for v in s) for s in shapes]
    total = sum(exact_gemm_ms(*s, a_bits=a_bits, b_bits=b_bits, repeats=repeats) for s in shapes) * scale
    return {"floor_ms": round(total, 3), "floor_method": resolve_method("auto"),
            "floor_shapes": [list(s) for s in shapes]}


def load_floor():
    """This module, loaded from the scripts directory by path (scripts import it this way)."""
    return __import__(__name__)


__all__ = ["exact_gemm_ms", "floor_fields"]
