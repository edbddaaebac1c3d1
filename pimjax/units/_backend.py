"""Which code paths the emulation takes: the CPU's or an accelerator's (GPU/TPU).

A few exact computations have two implementations that give the same bits, one fastest on a
CPU and one on an accelerator:

* the exact integer GEMM (:func:`pimjax.units.exact_matmul`, ``method="auto"``): one
  float32/float64 GEMM on a CPU, int8 limbs (int8 x int8 -> int32 GEMMs, the tensor cores'
  operation) on an accelerator;
* the ordered path's per-chunk tree sums (``units._systolic``, the sweep's ``_ordered``): a
  float64 chunk GEMM on a CPU, the int8-limb GEMM on an accelerator (no float64 matmul, which a
  GPU runs at a fraction of its integer rate).

By default the path follows ``jax.default_backend()``. The environment variable
``PIMJAX_BACKEND_PATHS`` forces one: ``accelerator`` makes a CPU take the accelerator's paths
(so CI tests the GPU code bit for bit against the same references), ``cpu`` the reverse;
``auto`` (or unset) follows the backend. It is read when a function is traced: set it before
the process starts (jit caches keep the paths they were traced with).
"""

from __future__ import annotations

import os

import jax

ENV = "PIMJAX_BACKEND_PATHS"
PATHS = ("auto", "cpu", "accelerator")


def backend_paths() -> str:
    """``"cpu"`` or ``"accelerator"``: the paths this process takes (module docstring)."""
    v = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if v not in PATHS:
        raise ValueError(f"{ENV} must be one of {PATHS}, got {v!r}")
    if v == "auto":
        return "cpu" if jax.default_backend() == "cpu" else "accelerator"
    return v


def accelerator_paths() -> bool:
    """True when the accelerator's code paths are taken (on an accelerator, or forced)."""
    return backend_paths() == "accelerator"


__all__ = ["ENV", "PATHS", "accelerator_paths", "backend_paths"]
