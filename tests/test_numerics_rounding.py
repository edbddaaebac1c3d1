"""Rounding of exact integers (``round_shift``), overflow handling and stochastic rounding.

Golden tables are written out literally; every table is also checked against the plain-Python
reference model in ``ref_numerics`` (docs/design.md section 2), with exact equality.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ref_numerics as ref
from budget import quick_subset  # noqa: E402  (tests/budget.py: the default run and the thorough one)
from pimjax.numerics import (
    ROUNDING_MODES,
    StochasticConfig,
    apply_overflow,
    code_bounds,
    fx,
    needs_random,
    random_words,
    requantize,
    round_shift,
    rounding_id,
)

I64 = np.int64

# ---------------------------------------------------------------------------------------
# Golden table, deterministic modes: (c, d, floor, toward_zero, nearest_even, nearest_away)
# The value rounded is c / 2**d; d <= 0 is an exact left shift.
GOLDEN = [
    # ties at +-0.5, +-1.5, +-2.5 ulps, d = 1
    (1, 1, 0, 0, 0, 1),
    (-1, 1, -1, 0, 0, -1),
    (3, 1, 1, 1, 2, 2),
    (-3, 1, -2, -1, -2, -2),
    (5, 1, 2, 2, 2, 3),
    (-5, 1, -3, -2, -2, -3),
    # the same ties at d = 2
    (2, 2, 0, 0, 0, 1),
    (-2, 2, -1, 0, 0, -1),
    (6, 2, 1, 1, 2, 2),
    (-6, 2, -2, -1, -2, -2),
    (10, 2, 2, 2, 2, 3),
    (-10, 2, -3, -2, -2, -3),
    # off the ties
    (1, 2, 0, 0, 0, 0),
    (-1, 2, -1, 0, 0, 0),
    (3, 2, 0, 0, 1, 1),
    (-3, 2, -1, 0, -1, -1),
    (7, 3, 0, 0, 1, 1),
    (-9, 3, -2, -1, -1, -1),
    # exact values
    (0, 5, 0, 0, 0, 0),
    (8, 2, 2, 2, 2, 2),
    (-8, 2, -2, -2, -2, -2),
    (-12, 2, -3, -3, -3, -3),
    # 8-bit codes
    (127, 4, 7, 7, 8, 8),
    (-128, 4, -8, -8, -8, -8),
    (-127, 4, -8, -7, -8, -8),
    (255, 4, 15, 15, 16, 16),
    (255, 8, 0, 0, 1, 1),
    (128, 8, 0, 0, 0, 1),
    (-128, 8, -1, 0, 0, -1),
    (-128, 7, -1, -1, -1, -1),
    (127, 7, 0, 0, 1, 1),
    (64, 7, 0, 0, 0, 1),
    # 16-bit codes
    (32767, 8, 127, 127, 128, 128),
    (-32768, 8, -128, -128, -128, -128),
    (-32767, 8, -128, -127, -128, -128),
    (65535, 16, 0, 0, 1, 1),
    (32768, 16, 0, 0, 0, 1),
    (-32768, 15, -1, -1, -1, -1),
    (384, 8, 1, 1, 2, 2),
    (-640, 8, -3, -2, -2, -3),
    # 32-bit codes
    (2147483647, 1, 1073741823, 1073741823, 1073741824, 1073741824),
    (-2147483648, 1, -1073741824, -1073741824, -1073741824, -1073741824),
    (-2147483647, 1, -1073741824, -1073741823, -1073741824, -1073741824),
    (2147483647, 31, 0, 0, 1, 1),
    (-2147483648, 31, -1, -1, -1, -1),
    (4294967295, 16, 65535, 65535, 65536, 65536),
    (4294967295, 32, 0, 0, 1, 1),
    (2147483648, 32, 0, 0, 0, 1),
    (-2147483648, 32, -1, 0, 0, -1),
    (6442450944, 32, 1, 1, 2, 2),
    # d = 40
    (549755813888, 40, 0, 0, 0, 1),
    (-549755813888, 40, -1, 0, 0, -1),
    (1649267441664, 40, 1, 1, 2, 2),
    (2748779069440, 40, 2, 2, 2, 3),
    (-2748779069440, 40, -3, -2, -2, -3),
    (2147483647, 40, 0, 0, 0, 0),
    (-1, 40, -1, 0, 0, 0),
    (1099511627777, 40, 1, 1, 1, 1),
    (-1099511627777, 40, -2, -1, -1, -1),
    # d at and beyond the int64 width
    (2305843009213693952, 62, 0, 0, 0, 1),
    (-2305843009213693952, 62, -1, 0, 0, -1),
    (6917529027641081856, 62, 1, 1, 2, 2),
    (-4611686018427387904, 63, -1, 0, 0, -1),
    (4611686018427387904, 63, 0, 0, 0, 1),
    (-9223372036854775808, 63, -1, -1, -1, -1),
    (9223372036854775807, 63, 0, 0, 1, 1),
    (9223372036854775807, 64, 0, 0, 0, 0),
    (-9223372036854775808, 64, -1, 0, 0, -1),
    (-9223372036854775808, 65, -1, 0, 0, 0),
    (2147483647, 64, 0, 0, 0, 0),
    (-1, 64, -1, 0, 0, 0),
    (-1, 100, -1, 0, 0, 0),
    (4294967295, 100, 0, 0, 0, 0),
    # d = 0: unchanged
    (5, 0, 5, 5, 5, 5),
    (-7, 0, -7, -7, -7, -7),
    (2147483647, 0, 2147483647, 2147483647, 2147483647, 2147483647),
    (-2147483648, 0, -2147483648, -2147483648, -2147483648, -2147483648),
    # d < 0: exact left shifts
    (3, -2, 12, 12, 12, 12),
    (-5, -3, -40, -40, -40, -40),
    (-128, -24, -2147483648, -2147483648, -2147483648, -2147483648),
    (255, -8, 65280, 65280, 65280, 65280),
    (1, -40, 1099511627776, 1099511627776, 1099511627776, 1099511627776),
    (1, -62, 4611686018427387904, 4611686018427387904, 4611686018427387904, 4611686018427387904),
    (-1, -62, -4611686018427387904, -4611686018427387904, -4611686018427387904, -4611686018427387904),
    (0, -63, 0, 0, 0, 0),
]
DET = ("floor", "toward_zero", "nearest_even", "nearest_away")


@pytest.mark.parametrize("mi,mode", list(enumerate(DET)))
def test_round_shift_golden(mi, mode):
    c = np.array([row[0] for row in GOLDEN], I64)
    d = np.array([row[1] for row in GOLDEN], I64)
    want = np.array([row[2 + mi] for row in GOLDEN], I64)
    got = np.asarray(round_shift(c, d, mode))
    np.testing.assert_array_equal(got, want)
    # the same by integer id, and the reference model agrees with the table
    np.testing.assert_array_equal(np.asarray(round_shift(c, d, ROUNDING_MODES.index(mode))), want)
    assert [ref.round_shift(int(ci), int(di), mode) for ci, di in zip(c, d)] == want.tolist()
    # a scalar d gives the same as the broadcast one
    for dv in (1, 40, 64):
        got = np.asarray(round_shift(c, dv, mode))
        np.testing.assert_array_equal(got[d == dv], want[d == dv])
        assert got.tolist() == [ref.round_shift(int(ci), dv, mode) for ci in c]


def test_reference_int_and_fraction_agree():
    # the fast integer reference equals the Fraction one (used for exhaustive checks)
    for mode in DET:
        for d in (-3, 0, 1, 2, 3, 7, 40):
            for c in range(-70, 71):
                assert ref.round_shift_int(c, d, mode) == ref.round_shift(c, d, mode), (c, d, mode)


# ---------------------------------------------------------------------------------------
# Golden table, stochastic: (c, d, R, r, expected) with floor((c + R') / 2**d),
# R' = R >> (r - d) if d <= r else R << (d - r).
GOLDEN_SR = [
    (1, 1, 0b0111, 4, 0),
    (1, 1, 0b1000, 4, 1),
    (-1, 1, 0b0111, 4, -1),
    (-1, 1, 0b1111, 4, 0),
    (3, 2, 0b0011, 4, 0),
    (3, 2, 0b0100, 4, 1),
    (-3, 2, 0b1011, 4, -1),
    (-3, 2, 0b1100, 4, 0),
    (5, 4, 0b1010, 4, 0),
    (5, 4, 0b1011, 4, 1),
    (32, 6, 0b1000, 4, 1),
    (31, 6, 0b1000, 4, 0),
    (-33, 6, 0b1111, 4, 0),
    (-33, 6, 0b0000, 4, -1),
    (-65, 6, 0b1111, 4, -1),
    (8, 3, 0b1111, 4, 1),
    (8, 3, 0b0000, 4, 1),
    (5, 0, 0b1111, 4, 5),
    (5, -2, 0b1111, 4, 20),
    (-5, -1, 0b0000, 4, -10),
    (2147483647, 1, 0x80000000, 32, 1073741824),
    (2147483647, 1, 0x7FFFFFFF, 32, 1073741823),
    (1, 40, 0xFFFFFFFF, 32, 0),
    (256, 40, 0xFFFFFFFF, 32, 1),
    (255, 40, 0xFFFFFFFF, 32, 0),
    (-1, 40, 1, 32, 0),
    (-1, 40, 0, 32, -1),
    (-256, 40, 1, 32, 0),
    (-257, 40, 1, 32, -1),
    (2147483647, 64, 0xFFFFFFFF, 32, 0),
    (4294967296, 64, 0xFFFFFFFF, 32, 1),
    (-1, 64, 1, 32, 0),
    (-1, 64, 0, 32, -1),
    (4611686018427387904, 63, 0x80000000, 32, 1),
    (4611686018427387903, 63, 0x80000000, 32, 0),
    (-9223372036854775808, 100, 0xFFFFFFFF, 32, 0),
    (-9223372036854775808, 100, 0, 32, -1),
    (1, 1, 1, 1, 1),
    (1, 1, 0, 1, 0),
    (1, 3, 1, 1, 0),
    (4, 3, 1, 1, 1),
    (-4, 3, 1, 1, 0),
    (-5, 3, 1, 1, -1),
]


@pytest.mark.parametrize("mode", ["stochastic", "sr_lo"])
def test_round_shift_stochastic_golden(mode):
    n = 32  # rows padded with zeros: one shape for every r
    for r in sorted({row[3] for row in GOLDEN_SR}):
        rows = [row for row in GOLDEN_SR if row[3] == r]
        assert len(rows) <= n
        c = np.zeros(n, I64)
        d = np.zeros(n, I64)
        words = np.zeros(n, np.uint32)
        c[: len(rows)] = [row[0] for row in rows]
        d[: len(rows)] = [row[1] for row in rows]
        words[: len(rows)] = [row[2] for row in rows]
        want = [row[4] for row in rows]
        got = round_shift(c, d, mode, jnp.asarray(words), r)
        assert got.dtype == jnp.int64
        assert np.asarray(got).tolist()[: len(rows)] == want, r
        c, d, words = c[: len(rows)], d[: len(rows)], words[: len(rows)]
        assert [ref.round_shift(int(a), int(b), mode, int(w), r) for a, b, w in zip(c, d, words)] == want


def test_round_shift_stochastic_needs_words():
    with pytest.raises(ValueError, match="stochastic"):
        round_shift(np.array([1, 2]), 1, "stochastic")
    with pytest.raises(ValueError, match="sr_lo"):
        round_shift(np.array([1, 2]), 1, "sr_lo")


def test_round_shift_stochastic_random_words_vs_reference():
    rng = np.random.default_rng(0)
    n = 300
    c = rng.integers(-(2**40), 2**40, n, dtype=I64)
    for r in (32, 13, 5, 1):
        cfg = StochasticConfig(bits=r)
        for sr_lo in (False, True):
            words = np.asarray(random_words(sr_lo, cfg, jax.random.key(r), (n,)))
            assert words.dtype == np.uint32 and int(words.max()) < 2**r
            for d in (1, 3, r, r + 7, 45):
                got = np.asarray(round_shift(c, d, "sr_lo" if sr_lo else "stochastic", jnp.asarray(words), r))
                want = [ref.round_shift(int(ci), d, "stochastic", int(w), r) for ci, w in zip(c, words)]
                assert got.tolist() == want, (r, sr_lo, d)


# ---------------------------------------------------------------------------------------
# requantize with a key uses exactly the documented words


@pytest.mark.parametrize("source,mode", quick_subset(
    [(s, m) for s in ("hash", "threefry") for m in ("stochastic", "sr_lo")], {("hash", "sr_lo"), ("threefry", "stochastic")}))
def test_requantize_stochastic_uses_random_words(mode, source):
    rng = np.random.default_rng(1)
    n = 300
    c = rng.integers(-(2**15), 2**15, n, dtype=I64)
    for r in (32, 6):
        cfg = StochasticConfig(bits=r, source=source)
        for key, offset in ((jax.random.key(7), 0), (123, 1000), (jax.random.PRNGKey(3), 5)):
            for src_frac, dst in ((10, fx(8, 4)), (12, fx(8, 0, signed=False, overflow="wrap")), (3, fx(16, 5))):
                codes, ev = requantize(c, fx(16, src_frac), dst, mode, key=key, stochastic=cfg, offset=offset)
                words = np.asarray(random_words(mode == "sr_lo", cfg, key, (n,), offset))
                d = src_frac - dst.frac
                want, wover = [], 0
                for ci, w in zip(c.tolist(), words.tolist()):
                    v, o = ref.requantize(ci, src_frac, dst.bits, dst.frac, dst.signed, dst.overflow, mode, w, r)
                    want.append(v)
                    wover += o
                assert np.asarray(codes).tolist() == want, (r, key, offset, src_frac)
                assert int(ev.overflow) == wover
                assert int(ev.random_bits) == min(max(d, 0), r) * n


def test_same_key_same_bits_different_key_different_bits():
    c = np.arange(-150, 150, dtype=I64)
    a, _ = requantize(c, fx(16, 6), fx(16, 0), "stochastic", key=jax.random.key(1))
    b, _ = requantize(c, fx(16, 6), fx(16, 0), "stochastic", key=jax.random.key(1))
    e, _ = requantize(c, fx(16, 6), fx(16, 0), "stochastic", key=jax.random.key(2))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(e))


# ---------------------------------------------------------------------------------------
# Statistics: stochastic rounding is unbiased on average (approximate: this is statistics)


@pytest.mark.parametrize("mode", ["stochastic", "sr_lo"])
def test_stochastic_rounding_is_unbiased(mode):
    n = 1 << 17
    src = fx(16, 2)  # code 1 is 0.25, code -1 is -0.25, code 3 is 0.75
    for code, mean in ((1, 0.25), (-1, -0.25), (3, 0.75)):
        c = np.full(n, code, I64)
        out, ev = requantize(c, src, fx(8, 0), mode, key=jax.random.key(11))
        assert set(np.unique(np.asarray(out)).tolist()) <= {int(np.floor(mean)), int(np.floor(mean)) + 1}
        assert abs(float(np.mean(np.asarray(out))) - mean) < 0.006, (mode, code)
        assert int(ev.random_bits) == 2 * n
    # 0.3 at d = 16: unbiased to within the 32-bit resolution
    c = np.full(n, 19661, I64)  # 19661 / 2**16 = 0.300003...
    out, _ = requantize(c, fx(32, 16), fx(8, 0), mode, key=3)
    assert abs(float(np.mean(np.asarray(out))) - 19661 / 2**16) < 0.008


def test_stochastic_resolution_is_r_bits():
    # r = 4 < d = 8: R' = R << 4, so 77 / 256 rounds up iff 16 R >= 179, i.e. R >= 12: p = 4/16
    n = 1 << 17
    c = np.full(n, 77, I64)
    out, _ = requantize(c, fx(16, 8), fx(8, 0), "stochastic", key=5, stochastic=StochasticConfig(bits=4))
    assert abs(float(np.mean(np.asarray(out))) - 0.25) < 0.008


# ---------------------------------------------------------------------------------------
# overflow handling


def test_code_bounds_golden():
    cases = [
        (1, True, -1, 0),
        (1, False, 0, 1),
        (8, True, -128, 127),
        (8, False, 0, 255),
        (16, True, -32768, 32767),
        (16, False, 0, 65535),
        (32, True, -2147483648, 2147483647),
        (32, False, 0, 4294967295),
    ]
    for bits, signed, lo, hi in cases:
        l, h = code_bounds(bits, signed)
        assert (int(l), int(h)) == (lo, hi) == ref.code_range(bits, signed)


def test_apply_overflow_golden():
    v = np.array([-2**40, -129, -128, -1, 0, 127, 128, 255, 256, 300, 2**40 + 5], I64)
    sat_s = [-128, -128, -128, -1, 0, 127, 127, 127, 127, 127, 127]
    wrap_s = [0, 127, -128, -1, 0, 127, -128, -1, 0, 44, 5]
    sat_u = [0, 0, 0, 0, 0, 127, 128, 255, 255, 255, 255]
    wrap_u = [0, 127, 128, 255, 0, 127, 128, 255, 0, 44, 5]
    over_s = [True, True, False, False, False, False, True, True, True, True, True]
    over_u = [True, True, True, True, False, False, False, False, True, True, True]
    for signed, ovf, want, wover in (
        (True, "saturate", sat_s, over_s),
        (True, "wrap", wrap_s, over_s),
        (False, "saturate", sat_u, over_u),
        (False, "wrap", wrap_u, over_u),
    ):
        out, over = apply_overflow(v, 8, signed, ovf)
        assert np.asarray(out).tolist() == want, (signed, ovf)
        assert np.asarray(over).tolist() == wover
        assert [ref.overflow(int(x), 8, signed, ovf) for x in v] == list(zip(want, wover))
    # 32-bit and 1-bit extremes
    out, over = apply_overflow(np.array([2**31, -(2**31) - 1, 2**32, -1], I64), 32, True, "wrap")
    assert np.asarray(out).tolist() == [-(2**31), 2**31 - 1, 0, -1]
    assert np.asarray(over).tolist() == [True, True, True, False]
    out, over = apply_overflow(np.array([2**32, -1, 2**32 - 1], I64), 32, False, "wrap")
    assert np.asarray(out).tolist() == [0, 2**32 - 1, 2**32 - 1]
    out, _ = apply_overflow(np.array([-2, -1, 0, 1, 2, 3], I64), 1, True, "wrap")
    assert np.asarray(out).tolist() == [0, -1, 0, -1, 0, -1]
    out, _ = apply_overflow(np.array([-2, -1, 0, 1, 2, 3], I64), 1, False, "saturate")
    assert np.asarray(out).tolist() == [0, 0, 0, 1, 1, 1]


# ---------------------------------------------------------------------------------------
# rounding ids and traced parameters


def test_rounding_ids():
    assert ROUNDING_MODES == ("floor", "toward_zero", "nearest_even", "nearest_away", "stochastic", "sr_lo")
    for i, name in enumerate(ROUNDING_MODES):
        assert rounding_id(name) == i
        assert rounding_id(i) == i
        assert rounding_id(np.int32(i)) == i
    assert [needs_random(m) for m in ROUNDING_MODES] == [False, False, False, False, True, True]
    assert needs_random(jnp.asarray(0))  # a traced/array id may need words


@pytest.mark.parametrize(
    "bad,exc,match",
    [
        ("round_half_up", ValueError, "rounding"),
        ("", ValueError, "rounding"),
        (6, ValueError, "rounding id"),
        (-1, ValueError, "rounding id"),
        (True, TypeError, "rounding"),
        (2.0, TypeError, "rounding"),
    ],
)
def test_rounding_id_bad(bad, exc, match):
    with pytest.raises(exc, match=match):
        rounding_id(bad)
    with pytest.raises(exc, match=match):
        round_shift(np.array([1]), 1, bad)


def test_round_shift_vmap_over_d_and_rounding_id():
    c = np.array([row[0] for row in GOLDEN if abs(row[0]) < 2**45], I64)
    ds = np.array([-3, 0, 1, 2, 7, 33, 40, 63, 64], np.int32)
    rids = np.array([0, 1, 2, 3], np.int32)
    dd, rr = np.meshgrid(ds, rids, indexing="ij")
    dd, rr = dd.ravel(), rr.ravel()

    def f(d, rid):
        return round_shift(c, d, rid)

    got = np.asarray(jax.vmap(f)(dd, rr))
    got_jit = np.asarray(jax.jit(jax.vmap(f))(dd, rr))
    for k, (d, rid) in enumerate(zip(dd.tolist(), rr.tolist())):
        want = np.asarray(round_shift(c, d, ROUNDING_MODES[rid]))
        np.testing.assert_array_equal(got[k], want)
        np.testing.assert_array_equal(got_jit[k], want)
        assert want.tolist() == [ref.round_shift(int(x), d, ROUNDING_MODES[rid]) for x in c]


def test_round_shift_traced_stochastic_id_with_words():
    c = np.arange(-40, 40, dtype=I64)
    words = jnp.asarray(np.arange(80, dtype=np.uint32) * np.uint32(53687091))
    f = jax.jit(lambda d, rid: round_shift(c, d, rid, words, 32))
    for rid in range(6):
        for d in (0, 2, 5, 36):
            want = round_shift(c, d, ROUNDING_MODES[rid], words if rid >= 4 else None, 32)
            np.testing.assert_array_equal(np.asarray(f(d, rid)), np.asarray(want))
