"""The accelerator's code paths (``PIMJAX_BACKEND_PATHS``, ``pimjax.units._backend``) give the
CPU paths' bits: the int8-limb exact GEMM picked by ``method="auto"``, and the ordered path's
chunk sums without a float64 GEMM (array and sweep datapath). CI also reruns the core bit-exact
test files with ``PIMJAX_BACKEND_PATHS=accelerator`` (``.ci/run``)."""

from __future__ import annotations

import os
import sys

import jax
import numpy as np
import pytest

from pimjax import hw
from pimjax.numerics import fx
from pimjax.units import exact_matmul, systolic_matmul
from pimjax.units._backend import ENV, accelerator_paths, backend_paths
from pimjax.units._exact_gemm import resolve_method

sys.path.insert(0, os.path.dirname(__file__))
import ref_array as ref  # noqa: E402


def test_switch(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert backend_paths() == ("cpu" if jax.default_backend() == "cpu" else "accelerator")
    monkeypatch.setenv(ENV, "accelerator")
    assert accelerator_paths() and resolve_method("auto") == "int8"
    monkeypatch.setenv(ENV, "cpu")
    assert not accelerator_paths() and resolve_method("auto") == "f64"
    monkeypatch.setenv(ENV, "gpu")
    with pytest.raises(ValueError, match=ENV):
        backend_paths()


def _run_both(monkeypatch, fn):
    """``fn()`` under the CPU paths and under the accelerator paths (traced anew each time)."""
    out = []
    for v in ("cpu", "accelerator"):
        monkeypatch.setenv(ENV, v)
        jax.clear_caches()
        out.append(jax.tree.map(np.asarray, fn()))
    jax.clear_caches()
    return out


@pytest.mark.parametrize("bits", [32])
def test_exact_gemm_auto_is_exact_either_way(monkeypatch, bits):
    rng = np.random.default_rng(bits)
    a = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (5, 33))
    b = rng.integers(-(2 ** 7), 2 ** 7, (33, 4))
    cpu, acc = _run_both(monkeypatch, lambda: exact_matmul(a, b, a_bits=bits, b_bits=8))
    want = np.array([[sum(int(x) * int(y) for x, y in zip(r, c)) for c in b.T] for r in a], dtype=object)
    np.testing.assert_array_equal(cpu, acc)
    assert (cpu.astype(object) == want).all()


def test_ordered_array_chunk_sums_without_float64(monkeypatch):
    # 16-bit operands, a saturating 16-bit accumulator: the ordered path, exact tree sums
    cfg = hw.presets.get("memory_slices").replace(rows=4, width=4, accumulator_format=fx(20, 16))
    rng = np.random.default_rng(0)
    a = rng.integers(-(2 ** 15), 2 ** 15, (3, 21))
    b = rng.integers(-(2 ** 15), 2 ** 15, (21, 5))
    cpu, acc = _run_both(monkeypatch, lambda: systolic_matmul(a, b, cfg))
    assert bool(acc.ordered)
    want = ref.matmul(a, b, cfg, None)
    for r in (cpu, acc):
        np.testing.assert_array_equal(np.asarray(r.out).astype(np.int64), want.out)
        assert int(r.events.overflow) == want.overflow


def test_sweep_ordered_datapath_without_float64(monkeypatch):
    from pimjax.apps.sweep import SweepHardware
    from pimjax.apps.sweep._datapath import _ordered

    hwc = SweepHardware(max_act_bits=8, max_weight_bits=8, num_slices=2, rows=8, width=4, accumulator_bits=12)
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, (4, 19))
    b = rng.integers(-128, 128, (19, 6))
    cpu, acc = _run_both(monkeypatch, lambda: _ordered(a, b, hwc))
    np.testing.assert_array_equal(cpu[0], acc[0])
    np.testing.assert_array_equal(cpu[1].overflow, acc[1].overflow)
    assert int(acc[1].overflow) > 0
