"""The float32 quantize path (every static rounding mode) against the exact float64 path,
the narrow code dtypes, and ``quantize_values`` against ``decode(quantize(...))``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from pimjax.numerics import FixedFormat, StochasticConfig, decode, quantize, quantize_values
from pimjax.numerics._quantize import _f32_fast_ok, _quantize_impl
from pimjax.numerics._formats import rounding_id
from budget import THOROUGH, quick_subset  # tests/budget.py: the default run and the thorough one

MODES = ("floor", "toward_zero", "nearest_even", "nearest_away", "stochastic", "sr_lo")


def _edges(frac: int) -> np.ndarray:
    rng = np.random.default_rng(frac + 100)
    s = np.float32(2.0 ** -frac)
    base = np.float32([0.0, -0.0, 0.5, -0.5, 1.5, -2.5, 0.25, -0.75, 1.0, -1.0, 2.0**-149, -(2.0**-149),
                       2.0**-126, -(2.0**-126), 2.0**-130, -(2.0**-130), 2.0**-64, -(2.0**-64), 2.0**-70,
                       -(2.0**-70), 2.0**-63 * 3, -(2.0**-63) * 3, np.inf, -np.inf, np.nan, 3.0e38, -3.0e38,
                       2.0**23 + 1, -(2.0**23) - 1, 2.0**24, -(2.0**24), 2.0**24 + 2, 2.0**31, -(2.0**31),
                       1 - 2.0**-24, -(1 - 2.0**-24), 2.0**-33, -(2.0**-33), 2.0**-32, -(2.0**-32)])
    with np.errstate(over="ignore", under="ignore"):
        rnd = (rng.standard_normal(600) * 2.0 ** rng.integers(-40, 30, 600)).astype(np.float32)
        out = np.concatenate([base, base * s, rnd, rnd * s, (rng.integers(-300, 300, 200) * 0.5).astype(np.float32) * s])
    return out.astype(np.float32)


FORMATS = [FixedFormat(bits=8, frac=4), FixedFormat(bits=16, frac=8), FixedFormat(bits=16, frac=8, overflow="wrap"),
           FixedFormat(bits=12, frac=-3, signed=False), FixedFormat(bits=24, frac=20, overflow="wrap"),
           FixedFormat(bits=9, frac=60), FixedFormat(bits=32, frac=16), FixedFormat(bits=28, frac=-2),
           FixedFormat(bits=32, frac=10, signed=False), FixedFormat(bits=1, frac=0)]


@pytest.mark.parametrize("fmt,dtype", quick_subset(
    [(f, "float32") for f in FORMATS] + [(FORMATS[1], "bfloat16"), (FORMATS[4], "float16"), (FORMATS[6], "bfloat16")],
    {(FORMATS[1], "float32"), (FORMATS[8], "float32")},
    ids=lambda v: f"{v[0]}-{v[1]}"))
def test_float32_path_equals_exact_path(fmt, dtype):
    """Codes and events of the float32 path equal the exact float64 path's (the same words)
    for every mode, tiny / subnormal / flushed / huge inputs, jitted and eager."""
    dt = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16, "float16": np.float16}[dtype]
    with np.errstate(over="ignore", under="ignore"):
        x = _edges(int(fmt.frac)).astype(dt)
    with jax.enable_x64(True):
        x64 = jnp.asarray(x.astype(np.float64))
    # the default run: floor, nearest even and the two stochastic modes with 7-bit words
    for mode in MODES if THOROUGH else ("floor", "nearest_even", "stochastic", "sr_lo"):
        for cfg in (StochasticConfig(), StochasticConfig(bits=7)):
            if mode in ("floor", "toward_zero", "nearest_even", "nearest_away") and cfg.bits != 32:
                continue
            if mode in ("stochastic", "sr_lo") and cfg.bits == 32 and not THOROUGH:
                continue
            assert _f32_fast_ok(jnp.asarray(x), fmt, rounding_id(mode))
            kw = dict(key=11, stochastic=cfg) if mode in ("stochastic", "sr_lo") else {}
            want, wev = _quantize_impl(x64, fmt, mode, **kw)
            for got, ev in (_quantize_impl(jnp.asarray(x), fmt, mode, **kw),
                            jax.jit(lambda v: quantize(v, fmt, mode, **kw))(jnp.asarray(x))):
                assert got.dtype == fmt.code_dtype
                np.testing.assert_array_equal(np.asarray(got).astype(np.int64), np.asarray(want).astype(np.int64),
                                              err_msg=f"{mode} {cfg.bits}")
                assert [int(a) for a in ev] == [int(a) for a in wev], (mode, cfg.bits)


@pytest.mark.parametrize("fmt", quick_subset([FORMATS[0], FORMATS[2], FORMATS[5], FORMATS[6], FORMATS[8]],
                                              {FORMATS[0], FORMATS[8]}, ids=str))
def test_quantize_values_is_decode_of_quantize(fmt):
    x = jnp.asarray(_edges(int(fmt.frac)))
    for mode in MODES:
        kw = dict(key=5) if mode in ("stochastic", "sr_lo") else {}
        codes, ev = quantize(x, fmt, mode, **kw)
        for dtype in ((jnp.float32, jnp.bfloat16) if mode == "floor" else (jnp.float32,)):
            v, vev = jax.jit(lambda a: quantize_values(a, fmt, mode, dtype=dtype, **kw))(x)
            want = decode(codes, fmt, dtype)
            assert v.dtype == want.dtype
            np.testing.assert_array_equal(np.asarray(v).view(np.uint16 if dtype == jnp.bfloat16 else np.uint32),
                                          np.asarray(want).view(np.uint16 if dtype == jnp.bfloat16 else np.uint32))
            assert [int(a) for a in vev] == [int(a) for a in ev]


def test_code_dtypes_are_narrow():
    x = jnp.asarray([0.3, -1000.0, 1000.0], jnp.float32)
    for bits, signed, dt in ((8, True, jnp.int8), (8, False, jnp.int16), (16, True, jnp.int16),
                             (17, True, jnp.int32), (32, True, jnp.int32), (32, False, jnp.int64)):
        fmt = FixedFormat(bits=bits, frac=2, signed=signed)
        for mode in ("nearest_even", "stochastic"):
            codes, _ = quantize(x, fmt, mode, key=1)
            assert codes.dtype == dt, (bits, signed, mode)
            with jax.enable_x64(True):
                codes64, _ = quantize(x.astype(jnp.float64), fmt, mode, key=1)
            assert codes64.dtype == dt
            np.testing.assert_array_equal(np.asarray(codes), np.asarray(codes64))


@pytest.mark.parametrize("shape", [(), (7,), (33, 5), (4, 3, 9)])
def test_count_masks_equals_separate_counts(shape):
    from pimjax.numerics._events import count_masks, count_true

    rng = np.random.default_rng(len(shape))
    ms = [rng.random(shape) < p for p in (0.1, 0.5, 0.9)]
    want = [int(np.sum(m)) for m in ms]
    got = jax.jit(lambda *m: count_masks(*m))(*ms)
    assert [int(g) for g in got] == want
    assert [int(count_true(jnp.asarray(m))) for m in ms] == want
    if shape:
        vm = jax.vmap(lambda *m: count_masks(*m))(*(np.stack([m, ~m]) for m in ms))
        assert [[int(v) for v in c] for c in vm] == [[w, int(np.prod(shape)) - w] for w in want]
    # different shapes: counted one by one
    assert [int(c) for c in count_masks(jnp.ones((3,), bool), jnp.ones((2, 2), bool))] == [3, 4]
