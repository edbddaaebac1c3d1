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


def median_ms(fn, *args, repeats: int) -> float:
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
    if batch == 1:
        a, b = a[0], b[0]
    a, b = jax.device_put(a), jax.device_put(b)  # on the device: no transfer in the timing
    one = lambda x, y: exact_matmul(x, y, a_bits=a_bits, b_bits=b_bits)  # noqa: E731
    fn = jax.jit(jax.vmap(one) if batch > 1 else one)
    jax.block_until_ready(fn(a, b))
    return median_ms(fn, a, b, repeats=repeats)


def floor_fields(shapes: Iterable[tuple[int, int, int]], *, a_bits: int = 16, b_bits: int = 16,
                 repeats: int = 5, scale: float = 1.0) -> dict:
    """``{"floor_ms", "floor_method", "floor_shapes"}``: the summed exact-GEMM time of ``shapes``
    (times ``scale``, e.g. the number of GEMMs per timed unit of work)."""
    shapes = [tuple(int(v) for v in s) for s in shapes]
    total = sum(exact_gemm_ms(*s, a_bits=a_bits, b_bits=b_bits, repeats=repeats) for s in shapes) * scale
    return {"floor_ms": round(total, 3), "floor_method": resolve_method("auto"),
            "floor_shapes": [list(s) for s in shapes]}


def traced_gemm_shapes(fn, *args) -> list[tuple[int, int, int]]:
    """``(M, K, N)`` of every 2-D ``dot_general`` in the jaxpr of ``fn(*args)`` (sub-jaxprs too)."""
    shapes: list[tuple[int, int, int]] = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                la, ra = eqn.invars[0].aval.shape, eqn.invars[1].aval.shape
                (lc, rc), (lb, _) = eqn.params["dimension_numbers"]
                if len(la) == 2 and len(ra) == 2 and not lb and len(lc) == 1:
                    shapes.append((la[1 - lc[0]], la[lc[0]], ra[1 - rc[0]]))
            for v in eqn.params.values():
                for sub in (v if isinstance(v, (list, tuple)) else [v]):
                    inner = getattr(sub, "jaxpr", None)
                    if inner is not None:
                        walk(getattr(inner, "jaxpr", inner))

    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return shapes


def load(path_of_caller: str):
    """This module, loaded by file path from the scripts directory of ``path_of_caller``."""
    import importlib.util
    import os
    import sys

    name = "pimjax_bench_floor"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(os.path.abspath(path_of_caller)),
                                                                     "_floor.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


__all__ = ["exact_gemm_ms", "floor_fields", "traced_gemm_shapes"]
