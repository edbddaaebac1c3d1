"""The systolic array (``pimjax.units.systolic_matmul``) against the plain reference model.

Every comparison is exact (``np.testing.assert_array_equal`` on codes / float values, ``==`` on
event counts): docs/design.md section 2 calls the whole single-slice datapath bit-exact. The
reference (``tests/ref_array.py``) walks the K-chunks in ascending order with Python integers
and ``Fraction``; it takes only the random words of stochastic stages from pimjax.
"""

from __future__ import annotations

import dataclasses
import os
import sys

import jax
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimjax import hw
from pimjax.numerics import ROUNDING_MODES, FixedFormat, FloatFormat, StochasticConfig, fx
from pimjax.units import SystolicArray, systolic_matmul

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # ref_array.py sits next to this file
import ref_array as ref  # noqa: E402
from budget import examples, quick_subset  # noqa: E402

# Few distinct shapes keep XLA compiles (the bulk of the runtime) down.
M, K, N = 3, 11, 5  # K not a multiple of 2, 4 or 8; N not a multiple of the small row counts
KEY = jax.random.key(7)


# ------------------------------------------------------------------------------ helpers


def codes(rng, fmt: FixedFormat, shape, scale: int | None = None) -> np.ndarray:
    """Random integer codes of ``fmt`` (all of its range, or within +-scale)."""
    lo, hi = ref.code_range(fmt)
    if scale is not None:
        lo, hi = max(lo, -scale), min(hi, scale)
    dt = np.int64 if fmt.bits > 31 or (fmt.bits == 31 and not fmt.signed) else np.int32
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(dt)


def floats(rng, name: str, shape, scale: float = 1.0, tiny: bool = False) -> np.ndarray:
    """Random values of float format ``name`` (already representable in it)."""
    dt = FloatFormat(name=name).dtype
    x = rng.standard_normal(shape) * scale
    if tiny:
        x = x * np.exp2(rng.integers(-30, 0, size=shape).astype(np.float64))
    return x.astype(dt)


def check(a, b, cfg: hw.ArrayConfig, *, key=None, method="auto", ordered=None, res=None):
    """Runs the array (unless ``res`` is given) and asserts it equals the reference."""
    if res is None:
        res = systolic_matmul(a, b, cfg, key=key, method=method)
    words = ref.implementation_words(cfg, key) if key is not None else None
    want = ref.matmul(a, b, cfg, words)
    got = np.asarray(res.out)
    if cfg.is_float:
        want_dt = cfg.output_format.dtype if cfg.output_format is not None else np.dtype(np.float64)
        assert got.dtype == want_dt
        np.testing.assert_array_equal(got.astype(np.float64), want.out)
        assert int(res.events.nan) == want.nan
    else:
        want_dt = cfg.output_format.code_dtype if cfg.output_format is not None else np.dtype(np.int64)
        assert got.dtype == want_dt
        np.testing.assert_array_equal(got.astype(np.int64), want.out)
    assert int(res.events.overflow) == want.overflow
    if ordered is not None:
        assert bool(res.ordered) is ordered
    return res, want


def small_fixed(**kw) -> hw.ArrayConfig:
    """8-bit Q4.4 operands, exact tree, 16-bit accumulator, 8-bit output: a cheap test array."""
    base = dict(rows=4, width=4, a_format=fx(8, 4), b_format=fx(8, 4), accumulator_format=fx(16, 8),
                output_format=fx(8, 4), name="small")
    base.update(kw)
    return hw.ArrayConfig(**base)


# ------------------------------------------------------------------------------ reference sanity


def test_reference_rounding_by_hand():
    assert [ref.round_int(c, 2, "nearest_even") for c in (5, 6, 7, -6, 2, -2)] == [1, 2, 2, -2, 0, 0]
    assert [ref.round_int(c, 2, "nearest_away") for c in (6, -6, 5, -5)] == [2, -2, 1, -1]
    assert [ref.round_int(c, 2, "floor") for c in (7, -7)] == [1, -2]
    assert [ref.round_int(c, 2, "toward_zero") for c in (7, -7, -8)] == [1, -1, -2]
    assert ref.round_int(-3, -2, "floor") == -12
    # stochastic: floor((c + R') / 2**d), R' = top d bits of the r-bit word
    assert ref.round_int(5, 2, "stochastic", word=0b10 << 30) == 1  # (5 + 2) // 4
    assert ref.round_int(5, 2, "stochastic", word=0b11 << 30) == 2  # (5 + 3) // 4
    assert ref.round_int(5, 4, "stochastic", word=0b11, r_bits=2) == 1  # R' = 0b1100
    assert ref.fit(130, fx(8, 0)) == (127, 1)
    assert ref.fit(130, fx(8, 0, overflow="wrap")) == (-126, 1)
    assert ref.fit(-1, fx(8, 0, signed=False, overflow="wrap")) == (255, 1)
    assert ref.round_float(ref.Fraction(65520), "fp16") == (float("inf"), 1)
    assert ref.round_float(ref.Fraction(65519), "fp16") == (65504, 0)
    assert ref.round_float(ref.Fraction(460), "fp8_e4m3") == (448, 0)
    assert ref.round_float(ref.Fraction(-470), "fp8_e4m3") == (-448, 1)
    assert ref.round_float(ref.Fraction(480), "fp8_e4m3") == (448, 1)
    assert ref.round_float(ref.Fraction(3, 2**26), "fp16") == (ref.Fraction(1, 2**24), 0)  # subnormal, tie->even


# ------------------------------------------------------------------------------ presets


def _array_of(obj, depth=3):
    """The ArrayConfig of a preset (an ArrayConfig itself, or a config holding one)."""
    if isinstance(obj, hw.ArrayConfig):
        return obj
    if depth and dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            found = _array_of(getattr(obj, f.name), depth - 1)
            if found is not None:
                return found
    return None


# every preset that is (or holds) a multiplier array; host / node presets hold none
ARRAY_PRESETS = [n for n in hw.presets.names() if _array_of(hw.presets.get(n)) is not None]


def test_array_presets_found():
    assert {"memory_slices", "memory_slices_fp32", "neurotrainer_ff"} <= set(ARRAY_PRESETS)


@pytest.mark.parametrize("name", quick_subset(ARRAY_PRESETS, {"memory_slices", "memory_slices_fp32"}))
def test_presets_random(name):
    cfg = _array_of(hw.presets.get(name))
    rng = np.random.default_rng(sum(map(ord, name)))
    if cfg.is_float:
        a = floats(rng, cfg.a_format.name, (M, K), 3.0)
        b = floats(rng, cfg.b_format.name, (K, N), 3.0)
        check(a, b, cfg)
        return
    key = KEY
    for scale in (None, 1 << (cfg.a_format.frac + 2)):  # full range (overflows) and moderate values
        a = codes(rng, cfg.a_format, (M, K), scale)
        b = codes(rng, cfg.b_format, (K, N), scale)
        res, want = check(a, b, cfg, key=key)
        # the number of rows tiles N: it changes cycles, never values
        for rows in (1, 2, 3):
            small = dataclasses.replace(cfg, rows=rows)
            res2 = SystolicArray(small)(a, b, key=key)
            np.testing.assert_array_equal(np.asarray(res2.out), np.asarray(res.out))
            assert int(res2.events.overflow) == want.overflow


def test_preset_memory_slices_docstring_value():
    arr = SystolicArray(hw.presets.get("memory_slices"))
    a = np.full((2, 20), 256, np.int16)  # 1.0 in Q8.8
    res = arr(a, a.T)
    np.testing.assert_array_equal(np.asarray(res.out), np.full((2, 2), 20 * 256, np.int16))
    assert int(res.events.overflow) == 0 and not bool(res.ordered)


def test_int_seed_and_key_are_both_accepted():
    cfg = hw.presets.get("neurotrainer_bp")
    rng = np.random.default_rng(3)
    a = codes(rng, cfg.a_format, (M, K), 1 << 18)
    b = codes(rng, cfg.b_format, (K, N), 1 << 18)
    check(a, b, cfg, key=12345)
    check(a, b, cfg, key=jax.random.key(12345))
    with pytest.raises(ValueError, match="key"):
        systolic_matmul(a, b, cfg)


# ------------------------------------------------------------------------------ adversarial fixed point


@pytest.mark.parametrize("va,vb", [(-32768, -32768), (32767, 32767), (-32768, 32767), (32767, -32768)])
def test_extreme_16bit_operands(va, vb):
    cfg = hw.presets.get("memory_slices")
    a = np.full((M, K), va, np.int16)
    b = np.full((K, N), vb, np.int16)
    res, want = check(a, b, cfg, ordered=True)
    # every chunk's addition saturates the 32-bit accumulator, then the Q8.8 output saturates
    n_chunks = -(-K // cfg.width)
    assert want.overflow == M * N * (n_chunks + 1)


def test_extreme_mixed_signs_checkerboard():
    cfg = hw.presets.get("memory_slices")
    i, k = np.indices((M, K))
    a = np.where((i + k) % 2 == 0, -32768, 32767).astype(np.int16)
    b = np.where(np.indices((K, N)).sum(0) % 3 == 0, -32768, 32767).astype(np.int16)
    check(a, b, cfg)
    check(a, b, dataclasses.replace(cfg, width=1))  # chunk = one element: saturation per product


def test_saturation_order_matters():
    # W = 1: chunk sums 30000, 30000, -30000; a 16-bit saturating accumulator clips after the
    # second addition, so the hardware answer is 2767, not the exact total 30000.
    cfg = hw.ArrayConfig(rows=1, width=1, a_format=fx(16), b_format=fx(16), accumulator_format=fx(16),
                         output_format=None)
    a = np.array([[1, 1, -1]], np.int16)
    b = np.array([[30000], [30000], [30000]], np.int16)
    res, want = check(a, b, cfg, ordered=True)
    exact_then_saturated = min(max(int((a.astype(np.int64) @ b.astype(np.int64))[0, 0]), -32768), 32767)
    assert exact_then_saturated == 30000
    assert int(np.asarray(res.out)[0, 0]) == 2767 != exact_then_saturated
    assert int(res.events.overflow) == 1
    # reversing the order of K changes the hardware answer (it never saturates then)
    res_rev, _ = check(a[:, ::-1].copy(), b[::-1].copy(), cfg)
    assert int(np.asarray(res_rev.out)[0, 0]) == 30000 and int(res_rev.events.overflow) == 0
    # with W = 2 the first two products meet in the (exact) adder tree: 60000 saturates once, then -30000
    cfg2 = dataclasses.replace(cfg, width=2)
    res2, _ = check(a, b, cfg2)
    assert int(np.asarray(res2.out)[0, 0]) == 2767


def test_saturating_accumulator_comes_back_random():
    # narrow saturating accumulator, many chunks of mixed sign: saturates mid-way and recovers
    cfg = small_fixed(width=2, accumulator_format=fx(12, 8), output_format=None)
    rng = np.random.default_rng(11)
    a = codes(rng, cfg.a_format, (M, K))
    b = codes(rng, cfg.b_format, (K, N))
    res, want = check(a, b, cfg, ordered=True)
    exact = a.astype(np.int64) @ b.astype(np.int64)
    assert want.overflow > 0
    assert np.any(np.asarray(res.out) != np.clip(exact, -2048, 2047))  # order visible in the result


def test_unsigned_accumulator_with_signed_operands():
    # running sum -5 clips to 0 (one overflow), then +3: 3, where the exact total -2 would give 0
    cfg = hw.ArrayConfig(rows=2, width=1, a_format=fx(8), b_format=fx(8),
                         accumulator_format=fx(16, signed=False), output_format=None)
    a = np.array([[1, 1]], np.int8)
    b = np.array([[-5], [3]], np.int8)
    res, _ = check(a, b, cfg, ordered=True)
    assert int(np.asarray(res.out)[0, 0]) == 3 and int(res.events.overflow) == 1


@pytest.mark.parametrize("signed", [True, False])
def test_wrapping_accumulator(signed):
    acc = fx(8, overflow="wrap", signed=signed)
    cfg = hw.ArrayConfig(rows=2, width=1, a_format=fx(8, signed=False), b_format=fx(8, signed=False),
                         accumulator_format=acc, output_format=None)
    a = np.array([[1, 1, 1]], np.int16)
    b = np.array([[100], [100], [100]], np.int16)
    res, want = check(a, b, cfg)
    # 300 wraps to 44 either way; the count is one per overflowing addition
    # signed: 100, 200 -> -56 (overflow), 44; unsigned: 100, 200, 300 -> 44 (overflow)
    assert int(np.asarray(res.out)[0, 0]) == 44
    assert want.overflow == 1
    rng = np.random.default_rng(5 + signed)
    cfg2 = small_fixed(width=3, a_format=fx(8, 4, signed=False), b_format=fx(8, 4, signed=False),
                       accumulator_format=fx(10, 8, overflow="wrap", signed=signed), output_format=None)
    a2 = codes(rng, cfg2.a_format, (M, K))
    b2 = codes(rng, cfg2.b_format, (K, N))
    _, want2 = check(a2, b2, cfg2)
    assert want2.overflow > 0


@pytest.mark.parametrize("rounding", ["nearest_even", "nearest_away", "floor", "toward_zero", "stochastic", "sr_lo"])
def test_narrow_tree_format_rounds(rounding):
    # products carry 8 fraction bits, the tree keeps 3 (d = 5) in 12 bits: rounds and saturates
    cfg = small_fixed(width=4, tree_format=fx(12, 3), tree_rounding=rounding,
                      accumulator_format=fx(14, 3), output_format=fx(8, 1), output_rounding=rounding)
    rng = np.random.default_rng(21)
    a = codes(rng, cfg.a_format, (M, K))
    b = codes(rng, cfg.b_format, (K, N))
    _, want = check(a, b, cfg, key=KEY, ordered=True)
    assert want.overflow > 0


@pytest.mark.parametrize("r_bits,rounding", quick_subset(
    [(r, m) for r in (32, 8, 2) for m in ("stochastic", "sr_lo")], {(8, "stochastic"), (2, "sr_lo")}))
def test_product_format_rounds_stochastically(rounding, r_bits):
    # d = 8 - 5 = 3 bits dropped per product; r = 2 < d exercises R' = R << (d - r)
    cfg = small_fixed(width=4, product_format=fx(10, 5), product_rounding=rounding,
                      accumulator_format=fx(16, 5), output_format=fx(8, 2), output_rounding=rounding,
                      stochastic=StochasticConfig(bits=r_bits))
    rng = np.random.default_rng(31)
    a = codes(rng, cfg.a_format, (M, K))
    b = codes(rng, cfg.b_format, (K, N))
    res, _ = check(a, b, cfg, key=KEY, ordered=True)
    # a different key gives different bits (and still matches the reference)
    res2, _ = check(a, b, cfg, key=jax.random.key(8))
    assert not np.array_equal(np.asarray(res.out), np.asarray(res2.out))


def test_threefry_source():
    cfg = small_fixed(tree_format=fx(12, 4), tree_rounding="stochastic", accumulator_format=fx(16, 4),
                      output_format=fx(8, 2), output_rounding="stochastic",
                      stochastic=StochasticConfig(source="threefry", bits=16))
    rng = np.random.default_rng(41)
    check(codes(rng, cfg.a_format, (M, K)), codes(rng, cfg.b_format, (K, N)), cfg, key=KEY)


def test_product_left_shift_and_saturating_product():
    # product format with more fraction bits than the raw product (exact left shift), narrow width
    cfg = small_fixed(width=2, product_format=fx(12, 10), accumulator_format=fx(20, 10), output_format=None)
    rng = np.random.default_rng(43)
    _, want = check(codes(rng, cfg.a_format, (M, K)), codes(rng, cfg.b_format, (K, N)), cfg, ordered=True)
    assert want.overflow > 0


def test_unsigned_datapath():
    u = dict(signed=False)
    cfg = small_fixed(a_format=fx(8, 4, **u), b_format=fx(8, 4, **u), accumulator_format=fx(16, 8, **u),
                      output_format=fx(8, 4, **u))
    rng = np.random.default_rng(51)
    a = codes(rng, cfg.a_format, (M, K))
    b = codes(rng, cfg.b_format, (K, N))
    _, want = check(a, b, cfg, ordered=True)  # 255 * 255 * 11 > 65535: data path decides: ordered
    assert want.overflow > 0
    check(codes(rng, cfg.a_format, (M, K), 40), codes(rng, cfg.b_format, (K, N), 40), cfg, ordered=False)


def test_relu():
    cfg = small_fixed(activation="relu", output_rounding="nearest_away")
    rng = np.random.default_rng(61)
    a = codes(rng, cfg.a_format, (M, K))
    b = codes(rng, cfg.b_format, (K, N))
    res, _ = check(a, b, cfg, ordered=True)
    assert np.all(np.asarray(res.out) >= 0)
    res_small, _ = check(codes(rng, cfg.a_format, (M, K), 20), codes(rng, cfg.b_format, (K, N), 20), cfg,
                         ordered=False)
    assert np.all(np.asarray(res_small.out) >= 0)


def test_unsigned_32bit_output_and_exact_output():
    # int64 output codes (exact output, 32-bit unsigned formats) must not be truncated to int32
    u32 = fx(32, signed=False)
    cfg = hw.ArrayConfig(rows=2, width=1, a_format=u32, b_format=fx(16, signed=False),
                         accumulator_format=u32, output_format=None)
    a = np.array([[3_000_000_000, 5]], np.uint32)
    b = np.array([[1], [2]], np.uint16)
    res, _ = check(a, b, cfg)
    assert int(np.asarray(res.out)[0, 0]) == 3_000_000_010
    res, _ = check(a.astype(np.int64), b, dataclasses.replace(cfg, output_format=u32))
    assert int(np.asarray(res.out)[0, 0]) == 3_000_000_010
    res, _ = check(a.astype(np.int64), b, dataclasses.replace(cfg, activation="relu"))
    assert int(np.asarray(res.out)[0, 0]) == 3_000_000_010


@pytest.mark.parametrize("rounding", ["nearest_even", "floor", "toward_zero", "stochastic"])
def test_drop_64_fraction_bits(rounding):
    # Q0.32 x Q0.32 products carry 64 fraction bits; a Q32.0 tree drops all of them (d = 64 > 62)
    s32 = fx(32, 32)
    cfg = hw.ArrayConfig(rows=1, width=1, a_format=s32, b_format=s32, tree_format=fx(32, 0),
                         tree_rounding=rounding, accumulator_format=fx(32, 0), output_format=None)
    a = np.array([[-(2**31), 2**31 - 1, -(2**31)]], np.int32)
    b = np.array([[-(2**31)], [-(2**31)], [2**31 - 1]], np.int32)
    check(a, b, cfg, key=KEY)  # e.g. 2**62 / 2**64 = 0.25 rounds to 0 (nearest), -0.25 floors to -1


# ------------------------------------------------------------------------------ fast vs ordered


@pytest.mark.parametrize("method", ["f64", "int8"])
def test_fast_and_ordered_paths_same_config(method):
    cfg = hw.presets.get("memory_slices")
    rng = np.random.default_rng(71)
    # small codes: the per-output bound sum |a||b| fits the accumulator -> fast path
    a = codes(rng, cfg.a_format, (M, K), 3000)
    b = codes(rng, cfg.b_format, (K, N), 3000)
    fast, _ = check(a, b, cfg, method=method, ordered=False)
    # one row of extreme codes breaks the bound -> ordered path, same config and shapes
    a2 = a.copy()
    a2[1, :] = -32768
    b2 = b.copy()
    b2[4, :] = 32767
    b2[5, :] = -32768
    slow, _ = check(a2, b2, cfg, method=method, ordered=True)
    # a config whose formats prove the bound statically: always fast
    cfg_static = small_fixed(a_format=fx(6, 2), b_format=fx(6, 2), accumulator_format=fx(24, 4),
                             output_format=fx(10, 2))
    static, _ = check(codes(rng, cfg_static.a_format, (M, K)), codes(rng, cfg_static.b_format, (K, N)),
                      cfg_static, method=method, ordered=False)
    if method == "int8":  # f64 and int8 GEMMs are exact: identical results
        for res, args in ((fast, (a, b, cfg)), (slow, (a2, b2, cfg))):
            other = systolic_matmul(*args, method="f64")
            np.testing.assert_array_equal(np.asarray(other.out), np.asarray(res.out))
            assert int(other.events.overflow) == int(res.events.overflow)


def test_fast_path_methods_identical_wide_operands():
    # 20-bit unsigned x 11-bit signed: int8 splits them into 3 x 2 limbs; the data bound decides
    cfg = hw.ArrayConfig(rows=4, width=8, a_format=fx(20, 0, signed=False), b_format=fx(11, 0),
                         accumulator_format=fx(32, 0), output_format=None)
    rng = np.random.default_rng(81)
    a = codes(rng, cfg.a_format, (M, K))
    b = codes(rng, cfg.b_format, (K, N), 100)
    r64, _ = check(a, b, cfg, method="f64", ordered=False)
    r8, _ = check(a, b, cfg, method="int8", ordered=False)
    np.testing.assert_array_equal(np.asarray(r64.out), np.asarray(r8.out))



@pytest.mark.parametrize("a_bits,b_bits,a_signed,k", [(12, 8, True, 64), (12, 8, True, 65), (8, 8, False, 516),
                                                      (8, 8, False, 517), (4, 2, True, 1 << 20)])
def test_exact_matmul_float32_where_the_static_bound_allows(a_bits, b_bits, a_signed, k):
    # K * max|a| * max|b| <= 2**24 runs in float32, else float64: the same integers either way,
    # also at the bound itself (every operand at its largest magnitude)
    from pimjax.units import exact_matmul
    from pimjax.units._exact_gemm import float32_exact

    a_max = (1 << (a_bits - 1)) if a_signed else (1 << a_bits) - 1
    assert float32_exact(k, a_bits, b_bits, a_signed) == (k * a_max * (1 << (b_bits - 1)) <= 1 << 24)
    a_ext = -a_max if a_signed else a_max
    rng = np.random.default_rng(k)
    a = np.full((3, k), a_ext, np.int64)
    a[1] = rng.integers(-a_max if a_signed else 0, a_max + (0 if a_signed else 1), k)
    a[2, ::2] = 0 if not a_signed else a_max - 1
    b = np.full((k, 2), -(1 << (b_bits - 1)), np.int64)
    b[:, 1] = rng.integers(-(1 << (b_bits - 1)), 1 << (b_bits - 1), k)
    got = exact_matmul(a, b, a_bits=a_bits, b_bits=b_bits, a_signed=a_signed, method="f64")
    np.testing.assert_array_equal(np.asarray(got), a @ b)


# ------------------------------------------------------------------------------ float datapaths


def float_cfg(a, tree, acc, out, *, product=None, width=4, **kw) -> hw.ArrayConfig:
    f = lambda n: FloatFormat(name=n) if n is not None else None  # noqa: E731
    return hw.ArrayConfig(rows=4, width=width, a_format=f(a), b_format=f(a), product_format=f(product),
                          tree_format=f(tree), accumulator_format=f(acc), output_format=f(out), **kw)


def test_float_bf16_operands_fp32_tree():
    cfg = float_cfg("bf16", "fp32", "fp32", "bf16")
    rng = np.random.default_rng(91)
    a = floats(rng, "bf16", (M, K))
    b = floats(rng, "bf16", (K, N))
    check(a, b, cfg)
    check(a, b, dataclasses.replace(cfg, output_format=None, activation="relu"))
    check(a, b, dataclasses.replace(cfg, width=3))  # W padded to a power of two with zeros
    check(a, b, dataclasses.replace(cfg, width=1))  # a one-leaf tree
    # bf16 subnormal operands (< 2**-126) and subnormal results: XLA:CPU flushes these in a
    # plain float32 convert, the datapath must not
    tiny = (floats(rng, "fp32", (M, K)) * np.float32(2.0**-128)).astype(ml_dtypes.bfloat16)
    assert np.any((tiny != 0) & (np.abs(tiny.astype(np.float64)) < 2.0**-126))
    res, _ = check(tiny, b, cfg)
    out = np.abs(np.asarray(res.out).astype(np.float64))
    assert np.any((out > 0) & (out < 2.0**-126))


def test_float_fp16_overflow_and_subnormals():
    cfg = float_cfg("fp16", "fp16", "fp16", "fp16")
    rng = np.random.default_rng(92)
    big_a = floats(rng, "fp16", (M, K), 300.0)
    big_b = floats(rng, "fp16", (K, N), 300.0)
    _, want = check(big_a, big_b, cfg)
    assert want.overflow > 0 and want.nan > 0  # products overflow to +-inf, inf - inf = nan
    _, want = check(floats(rng, "fp16", (M, K), 1e-3, tiny=True), floats(rng, "fp16", (K, N), 1e-3, tiny=True), cfg)
    # fp32 tree and accumulator, fp16 output: the sums survive until the output rounds them
    cfg32 = float_cfg("fp16", "fp32", "fp32", "fp16")
    _, want = check(big_a, big_b, cfg32)
    assert want.overflow > 0
    check(floats(rng, "fp16", (M, K), 1e-3, tiny=True), floats(rng, "fp16", (K, N), 1e-3, tiny=True), cfg32)


def test_float_fp8_e4m3_saturates():
    cfg = float_cfg("fp8_e4m3", "fp8_e4m3", "fp8_e4m3", "fp8_e4m3", product="fp8_e4m3")
    rng = np.random.default_rng(93)
    a = floats(rng, "fp8_e4m3", (M, K), 40.0)
    b = floats(rng, "fp8_e4m3", (K, N), 40.0)
    res, want = check(a, b, cfg)
    assert want.overflow > 0 and want.nan == 0
    assert np.all(np.abs(np.asarray(res.out).astype(np.float64)) <= 448)
    check(floats(rng, "fp8_e4m3", (M, K), 0.05), floats(rng, "fp8_e4m3", (K, N), 0.05),
          float_cfg("fp8_e4m3", "fp16", "fp32", "fp8_e4m3"))  # subnormal outputs


def test_float_fp8_e5m2_overflows_to_inf():
    cfg = float_cfg("fp8_e5m2", "fp16", "fp8_e5m2", "fp8_e5m2", product="fp8_e5m2")
    rng = np.random.default_rng(94)
    a = floats(rng, "fp8_e5m2", (M, K), 300.0)
    b = floats(rng, "fp8_e5m2", (K, N), 300.0)
    res, want = check(a, b, cfg)
    assert want.overflow > 0
    assert np.any(np.isinf(np.asarray(res.out).astype(np.float64)))
    check(floats(rng, "fp8_e5m2", (M, K), 1e-3), floats(rng, "fp8_e5m2", (K, N), 1e-3), cfg)


def test_float_fp32_product_rounding():
    cfg = hw.presets.get("memory_slices_fp32")
    rng = np.random.default_rng(95)
    a = floats(rng, "fp32", (M, K), 1e19)
    b = floats(rng, "fp32", (K, N), 1e19)
    _, want = check(a, b, cfg)  # products ~1e38 and their sums overflow fp32
    assert want.overflow > 0
    # tiny values: products fall into fp32 subnormals / to zero
    res, _ = check(floats(rng, "fp32", (M, K), 1e-20, tiny=True), floats(rng, "fp32", (K, N), 1e-20, tiny=True), cfg)
    out = np.abs(np.asarray(res.out).astype(np.float64))
    assert np.any((out > 0) & (out < 2.0**-126))
    # subnormal operands
    check(floats(rng, "fp32", (M, K), 1e-39), floats(rng, "fp32", (K, N), 1e3), cfg)
    # operands with a full 24-bit mantissa: the product rounding is visible
    a = (1.0 + rng.integers(1, 2**23, size=(M, K)) * 2.0**-23).astype(np.float32)
    b = (1.0 + rng.integers(1, 2**23, size=(K, N)) * 2.0**-23).astype(np.float32)
    check(a, b, cfg)
    check(a, b, dataclasses.replace(cfg, product_format=None))


def test_float_inf_and_nan_operands():
    cfg = float_cfg("bf16", "fp32", "fp32", "bf16", width=2)
    a = np.array([[np.inf, 1.0, 2.0], [0.0, 1.0, -np.inf], [np.nan, 1.0, 1.0]], ml_dtypes.bfloat16)
    b = np.array([[1.0, 0.0], [2.0, 3.0], [4.0, 5.0]], ml_dtypes.bfloat16)
    _, want = check(a, b, cfg)
    assert want.nan > 0


# ------------------------------------------------------------------------------ jit / vmap


@pytest.mark.parametrize("key", [pytest.param(jax.random.key(3), marks=pytest.mark.slow), 99], ids=["jax_key", "int_seed"])
def test_jit_and_vmap_match_plain_call(key):
    cfg = hw.presets.get("memory_slices").replace(rows=4, output_rounding="stochastic",
                                                  accumulator_format=fx(32, 16), width=4)
    rng = np.random.default_rng(101)
    small = codes(rng, cfg.a_format, (M, K), 100)
    large = codes(rng, cfg.a_format, (M, K))
    batch = np.stack([small, large, small[::-1].copy()])
    b = codes(rng, cfg.b_format, (K, N))
    plain = [systolic_matmul(x, b, cfg, key=key) for x in batch]
    assert [bool(p.ordered) for p in plain] == [False, True, False]  # the batch mixes both paths
    for x, p in zip(batch, plain):
        check(x, b, cfg, key=key, res=p)

    jitted = jax.jit(lambda x, y, k: systolic_matmul(x, y, cfg, key=k))
    for x, p in zip(batch, plain):
        j = jitted(x, b, key)
        np.testing.assert_array_equal(np.asarray(j.out), np.asarray(p.out))
        assert int(j.events.overflow) == int(p.events.overflow)
        assert bool(j.ordered) == bool(p.ordered)

    vm = jax.vmap(lambda x: systolic_matmul(x, b, cfg, key=key))(batch)
    assert vm.out.shape == (3, M, N)
    for i, p in enumerate(plain):
        np.testing.assert_array_equal(np.asarray(vm.out[i]), np.asarray(p.out))
        assert int(vm.events.overflow[i]) == int(p.events.overflow)
        assert bool(vm.ordered[i]) == bool(p.ordered)


def test_jit_vmap_float():
    cfg = float_cfg("bf16", "fp32", "fp32", "bf16", width=4)
    rng = np.random.default_rng(102)
    batch = floats(rng, "bf16", (2, M, K), 100.0)
    b = floats(rng, "bf16", (K, N), 1e36)  # some products overflow
    plain = [systolic_matmul(x, b, cfg) for x in batch]
    for x, p in zip(batch, plain):
        check(x, b, cfg, res=p)
    vm = jax.jit(jax.vmap(lambda x: systolic_matmul(x, b, cfg)))(batch)
    for i, p in enumerate(plain):
        np.testing.assert_array_equal(np.asarray(vm.out[i]).astype(np.float64), np.asarray(p.out).astype(np.float64))
        assert int(vm.events.overflow[i]) == int(p.events.overflow)
        assert int(vm.events.nan[i]) == int(p.events.nan)


# ------------------------------------------------------------------------------ property-based


@st.composite
def fixed_cases(draw):
    def fmt(bits_lo, bits_hi, frac):
        return fx(draw(st.integers(bits_lo, bits_hi)), frac, signed=draw(st.booleans()),
                  overflow=draw(st.sampled_from(["saturate", "wrap"])))

    def operand():
        bits = draw(st.integers(2, 16))
        return fx(bits, draw(st.integers(-2, bits + 2)), signed=draw(st.booleans()))

    fa, fb = operand(), operand()
    frac = fa.frac + fb.frac
    rnd = st.sampled_from(ROUNDING_MODES)
    pf = draw(st.none() | st.just(1))
    if pf is not None:
        pf = fmt(4, 32, frac - draw(st.integers(-2, 8)))
        frac = pf.frac
    tf = draw(st.none() | st.just(1))
    if tf is not None:
        tf = fmt(4, 32, frac - draw(st.integers(-2, 8)))
        frac = tf.frac
    acc = fmt(8, 32, frac)
    of = draw(st.none() | st.just(1))
    if of is not None:
        of = fmt(2, 32, frac - draw(st.integers(-2, 12)))
    cfg = hw.ArrayConfig(
        rows=draw(st.integers(1, 8)), width=draw(st.integers(1, 8)), a_format=fa, b_format=fb,
        product_format=pf, tree_format=tf, accumulator_format=acc, output_format=of,
        product_rounding=draw(rnd), tree_rounding=draw(rnd), output_rounding=draw(rnd),
        activation=draw(st.sampled_from(["identity", "relu"])),
        stochastic=StochasticConfig(bits=draw(st.sampled_from([1, 5, 16, 32]))),
    )
    m, k, n = (draw(st.integers(1, 12)) for _ in range(3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([None, 1, 7, 100]))
    a = codes(rng, fa, (m, k), scale)
    b = codes(rng, fb, (k, n), scale)
    if draw(st.booleans()):  # sprinkle the extremes of the operand ranges
        lo, hi = ref.code_range(fa)
        a[rng.random(a.shape) < 0.3] = draw(st.sampled_from([lo, hi]))
    key = draw(st.integers(0, 2**31 - 1))
    return a, b, cfg, key


@settings(max_examples=examples(5, 50), deadline=None)  # each example compiles
@given(fixed_cases())
def test_property_fixed_matches_reference(case):
    a, b, cfg, key = case
    check(a, b, cfg, key=key)


# ------------------------------------------------------------------------------ bad input


def test_bad_operands():
    cfg = small_fixed()
    a = np.zeros((2, 3), np.int8)
    with pytest.raises(ValueError, match="inner dimensions"):
        systolic_matmul(a, np.zeros((4, 2), np.int8), cfg)
    with pytest.raises(ValueError, match="2-D"):
        systolic_matmul(np.zeros(3, np.int8), np.zeros((3, 2), np.int8), cfg)
    with pytest.raises(ValueError, match="2-D"):
        systolic_matmul(a, np.zeros(3, np.int8), cfg)
    with pytest.raises(TypeError, match="integer codes"):
        systolic_matmul(a.astype(np.float32), np.zeros((3, 2), np.int8), cfg)
    with pytest.raises(TypeError, match="float array"):
        systolic_matmul(a, np.zeros((3, 2), np.int8), float_cfg("bf16", "fp32", "fp32", "bf16"))
    with pytest.raises(TypeError, match="ArrayConfig"):
        systolic_matmul(a, np.zeros((3, 2), np.int8), "memory_slices")
    with pytest.raises(ValueError, match="method"):
        systolic_matmul(a, np.zeros((3, 2), np.int8), cfg, method="f32")
    with pytest.raises(ValueError, match="stochastic.*key|key"):
        systolic_matmul(a, np.zeros((3, 2), np.int8), small_fixed(output_rounding="stochastic"))


@pytest.mark.parametrize("changes,exc,match", [
    (dict(accumulator_format=fx(16, 7)), ValueError, r"accumulator_format\.frac"),
    (dict(tree_format=fx(12, 4)), ValueError, r"accumulator_format\.frac"),
    (dict(accumulator_format=None), ValueError, r"accumulator_format"),
    (dict(output_format=FloatFormat(name="bf16")), TypeError, r"all FixedFormat or all FloatFormat"),
    (dict(rows=0), ValueError, r"rows"),
    (dict(width=0), ValueError, r"width"),
    (dict(rows=2.0), TypeError, r"rows"),
    (dict(activation="gelu"), ValueError, r"activation"),
    (dict(product_rounding="banker"), ValueError, r"product_rounding"),
    (dict(tree_rounding="up"), ValueError, r"tree_rounding"),
    (dict(output_rounding=None), ValueError, r"output_rounding"),
    (dict(a_format=None), TypeError, r"a_format"),
    (dict(tree_format="fp32"), TypeError, r"tree_format"),
    (dict(stochastic=32), TypeError, r"stochastic"),
    (dict(multiplier_latency=-1), ValueError, r"multiplier_latency"),
    (dict(clock_ghz=0), ValueError, r"clock_ghz"),
    # int64 exact intermediates: unsigned 32 x 32-bit products do not fit
    (dict(a_format=fx(32, 0, signed=False), b_format=fx(32, 0, signed=False), accumulator_format=fx(32, 0)),
     ValueError, r"a_format"),
    (dict(a_format=fx(32, 0), b_format=fx(32, 0), accumulator_format=fx(32, 0)), ValueError, r"tree_format"),
])
def test_array_config_validation(changes, exc, match):
    with pytest.raises(exc, match=match):
        small_fixed(**changes)


def test_float_config_validation():
    with pytest.raises(ValueError, match=r"tree_format"):
        float_cfg("bf16", None, "fp32", "bf16")
    with pytest.raises(ValueError, match=r"accumulator_format"):
        float_cfg("bf16", "fp32", None, "bf16")
    with pytest.raises(ValueError, match=r"output_rounding"):
        float_cfg("bf16", "fp32", "fp32", "bf16", output_rounding="floor")
    with pytest.raises(TypeError, match=r"all FixedFormat or all FloatFormat"):
        hw.ArrayConfig(rows=1, width=1, a_format=FloatFormat(name="bf16"), b_format=fx(8),
                       tree_format=FloatFormat(name="fp32"), accumulator_format=FloatFormat(name="fp32"),
                       output_format=None)
    # a valid config is frozen and keyword-only
    cfg = float_cfg("bf16", "fp32", "fp32", "bf16")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.rows = 3
    with pytest.raises(TypeError):
        hw.ArrayConfig(4, 4)  # noqa
