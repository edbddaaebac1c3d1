"""The rounded-products path of the array (``pimjax.units._rounded_products``) equals the plain
reference model bit for bit: every product rounded by ``d`` bits (floor, toward zero, nearest
even / away, counter-hash stochastic), 32-bit extremes, ties, wide accumulators, narrow and
wide arrays; when a stage could saturate the ordered path runs instead, with the same bits."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimjax import hw
from pimjax.numerics import StochasticConfig, fx
from pimjax.units import systolic_matmul
from pimjax.units._rounded_products import rounding_shift

sys.path.insert(0, os.path.dirname(__file__))
import ref_array as ref  # noqa: E402
from budget import THOROUGH, examples, quick_subset  # noqa: E402

MODES = ("floor", "toward_zero", "nearest_even", "nearest_away", "stochastic", "sr_lo")


def cfg_for(*, a_bits=32, a_frac=16, b_bits=32, b_frac=20, d=16, mode="stochastic", width=8, acc_bits=32,
            r_bits=32, tree=False, out=None) -> hw.ArrayConfig:
    pf = fx(32, a_frac + b_frac - d)
    return hw.ArrayConfig(rows=4, width=width, a_format=fx(a_bits, a_frac), b_format=fx(b_bits, b_frac),
                          product_format=pf, product_rounding=mode, tree_format=fx(32, pf.frac) if tree else None,
                          accumulator_format=fx(acc_bits, pf.frac), output_format=out,
                          stochastic=StochasticConfig(bits=r_bits), name="rp")


def check(a, b, cfg, key, *, ordered):
    res = systolic_matmul(a, b, cfg, key=key)
    want = ref.matmul(a, b, cfg, ref.implementation_words(cfg, key))
    np.testing.assert_array_equal(np.asarray(res.out).astype(np.int64), want.out)
    assert int(res.events.overflow) == want.overflow
    assert bool(res.ordered) is ordered
    return res


def test_eligibility():
    assert rounding_shift(cfg_for()) == 16
    assert rounding_shift(cfg_for(mode="sr_lo")) == 16  # SR LO words: sr_lo_rows inside the kernel
    assert rounding_shift(cfg_for(d=31)) is None
    assert rounding_shift(hw.presets.get("neurotrainer_bp")) is not None
    assert rounding_shift(hw.presets.get("memory_slices")) is None  # no product rounding (order-free)
    threefry = cfg_for().replace(stochastic=StochasticConfig(source="threefry"))
    assert rounding_shift(threefry) is None


@pytest.mark.parametrize("mode", MODES)
def test_ties_signs_and_extremes_golden(mode):
    """Products exactly at half, just above / below it, of both signs, and 32-bit extremes."""
    d = 4
    cfg = cfg_for(a_bits=32, a_frac=2, b_bits=32, b_frac=2, d=d, mode=mode, width=3)
    # a * b = +-8 (tie), +-7, +-9, +-24 (tie, q odd), +-40 (tie, q even), 0, and big codes
    a = np.array([[8, -8, 7, -9, 24, -40, 0, 2**20 + 3, -(2**20) + 1, 1, 1, 1, 1]], np.int64)
    b = np.array([[1], [1], [1], [1], [1], [1], [5], [2**10 - 1], [2**10 + 7], [-1], [3], [-24], [40]], np.int64)
    for key in (0, 1, 12345):
        check(a, b, cfg, key, ordered=False)
        check(a.T @ np.ones((1, 2), np.int64), b.T.repeat(2, 0) % 5 - 2, cfg, key, ordered=False)


def test_near_saturation_switches_to_the_ordered_path():
    cfg = cfg_for(a_bits=16, a_frac=0, b_bits=16, b_frac=0, d=2, acc_bits=20, mode="nearest_even", width=4)
    rng = np.random.default_rng(0)
    small = rng.integers(-100, 100, (3, 16))
    check(small, rng.integers(-100, 100, (16, 5)), cfg, 3, ordered=False)
    # |sum| / 4 near 2**19: the bound cannot prove it, the ordered path saturates exactly
    big = np.full((3, 16), 2**15 - 1)
    res = check(big, np.full((16, 5), 2**15 - 1), cfg, 3, ordered=True)
    assert int(res.events.overflow) > 0


def test_wide_sums_and_wide_arrays():
    rng = np.random.default_rng(1)
    # d = 30: K 2**d exceeds int32, so partial carry terms are summed in int64
    cfg = cfg_for(a_bits=32, a_frac=16, b_bits=32, b_frac=20, d=30, width=8)
    a = rng.integers(-(2**31), 2**31 - 1, (4, 20))
    b = rng.integers(-(2**8), 2**8, (20, 3))
    res = check(a, b, cfg, 7, ordered=False)
    assert int(res.events.random_bits) == 3 * (4 * 8 * 3) * 30  # every word of every chunk, as the ordered path
    # an array wider than the unrolled lanes (W = 80), and a one-lane array (16 chunks a step)
    for width in (80, 1):
        cfg = cfg_for(width=width, mode="nearest_away", tree=True)
        check(rng.integers(-(2**20), 2**20, (3, 170)), rng.integers(-(2**20), 2**20, (170, 4)), cfg, 5,
              ordered=False)


@st.composite
def cases(draw):
    a_bits, b_bits = draw(st.integers(2, 32)), draw(st.integers(2, 32))
    a_frac, b_frac = draw(st.integers(-4, 24)), draw(st.integers(-4, 24))
    d = draw(st.integers(1, 30))
    cfg = cfg_for(a_bits=a_bits, a_frac=a_frac, b_bits=b_bits, b_frac=b_frac, d=d, mode=draw(st.sampled_from(MODES)),
                  width=draw(st.sampled_from([1, 3, 8, 16, 20])), acc_bits=draw(st.integers(8, 32)),
                  r_bits=draw(st.sampled_from([5, 16, 32])), tree=draw(st.booleans()),
                  out=draw(st.none() | st.just(fx(16, a_frac + b_frac - d - 2))))
    m, k, n = draw(st.integers(1, 6)), draw(st.integers(1, 40)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # codes in [-2**s, 2**s) with s <= bits - 1: valid codes of the signed operand formats
    sa = draw(st.sampled_from([a_bits - 1, max(1, a_bits // 2), min(3, a_bits - 1)]))
    sb = draw(st.sampled_from([b_bits - 1, max(1, b_bits // 2), min(3, b_bits - 1)]))
    a = rng.integers(-(2 ** sa), 2 ** sa, (m, k), endpoint=False)
    b = rng.integers(-(2 ** sb), 2 ** sb, (k, n), endpoint=False)
    return a, b, cfg, draw(st.integers(0, 2**31 - 1))


@settings(max_examples=examples(3, 40), deadline=None)  # each example compiles
@given(cases())
def test_property_equals_reference(case):
    """Random formats, shapes and data: the bits equal the reference whichever path runs."""
    a, b, cfg, key = case
    res = systolic_matmul(a, b, cfg, key=key)
    want = ref.matmul(a, b, cfg, ref.implementation_words(cfg, key))
    np.testing.assert_array_equal(np.asarray(res.out).astype(np.int64), want.out)
    assert int(res.events.overflow) == want.overflow


# 97 (per-row jumps, the most general layout) by default; 5 (short rows), 32 (one shared
# sequence) and 48 (a gcd(N, 32)-clock grid) under -m slow.
@pytest.mark.parametrize("n", quick_subset([5, 32, 48, 97], {97}))
def test_sr_lo_words_in_every_layout(n):
    """SR LO on the rounded path: short rows (the step's words), rows of a multiple of 32
    clocks (one shared state sequence), of gcd(N, 32)-clock grids and of per-row jumps; several
    scan steps, a ragged last chunk, 32- and 7-bit registers (d > r), narrow and wide arrays."""
    rng = np.random.default_rng(n)
    layouts = ((8, 32, 70), (3, 7, 40), (80, 32, 170), (1, 16, 20))
    for width, r_bits, k in layouts if THOROUGH else layouts[:2]:  # the default run: 2 of the 4 arrays
        cfg = cfg_for(mode="sr_lo", width=width, r_bits=r_bits)
        a = rng.integers(-(2**20), 2**20, (3, k))
        b = rng.integers(-(2**20), 2**20, (k, n))
        res = check(a, b, cfg, 11, ordered=False)
        assert int(res.events.random_bits) == min(16, r_bits) * 3 * width * n * -(-k // width)
