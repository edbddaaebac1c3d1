"""The activation LUT's entry index is exact (``pimjax.units.lut_index``).

Entry ``i`` covers ``[x_min + i * step, x_min + (i + 1) * step)`` with ``step = (x_max - x_min) / size``;
inputs below / above the range (``-inf`` / ``+inf`` too) take the first / last entry, and NaN
passes through :func:`~pimjax.units.lut_activation` as NaN. The reference is the exact rational
formula of ``tests/ref_system.py`` (``lut_lookup`` on a table of the indices themselves).
"""

from __future__ import annotations

import math
import os
import sys
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the reference models sit next to this file
import ref_system as rs  # noqa: E402
from pimjax import hw  # noqa: E402
from pimjax.numerics import FloatFormat, fx  # noqa: E402
from pimjax.system import system_matmul  # noqa: E402
from pimjax.units import finish  # noqa: E402
from pimjax.units import lut_activation, lut_entries, lut_index  # noqa: E402

LUT16 = hw.LUTConfig(size=256, x_min=-8.0, x_max=8.0)
LUT6 = hw.LUTConfig(size=4, x_min=-3.0, x_max=3.0)  # step 1.5: edges -1.5, 0, 1.5
# edges 2**58 - 3 * 2**-26, ...: not float64 values
LUT_WIDE = hw.LUTConfig(size=4, x_min=-(2.0**-24), x_max=2.0**60)


def ref_index(x: float, lut: hw.LUTConfig) -> int | None:
    """Exact entry index of the float ``x`` (``None`` for NaN)."""
    if math.isnan(x):
        return None
    if math.isinf(x):
        return 0 if x < 0 else lut.size - 1
    return rs.lut_lookup(range(lut.size), Fraction(x), lut)


def _index(x, lut):
    with jax.enable_x64(True):
        return np.asarray(jax.jit(lambda v: lut_index(v, lut))(jnp.asarray(x, jnp.float64)))


def _down(x: float) -> float:
    return math.nextafter(x, -math.inf)


GOLDEN = [
    # tiny values either side of the edge at 0 (x - x_min rounds to 8 in float64)
    (LUT16, -(2.0**-51), 127), (LUT16, -(2.0**-60), 127), (LUT16, -(2.0**-1074), 127),
    (LUT16, -0.0, 128), (LUT16, 0.0, 128), (LUT16, 2.0**-1074, 128),
    # one ulp below an edge, and the edges themselves
    (LUT16, _down(0.0625), 128), (LUT16, 0.0625, 129), (LUT16, _down(-8.0 + 0.0625), 0),
    (LUT16, -8.0 + 0.0625, 1), (LUT16, _down(8.0 - 0.0625), 254), (LUT16, 8.0 - 0.0625, 255),
    (LUT6, _down(1.5), 2), (LUT6, 1.5, 3), (LUT6, _down(-1.5), 0), (LUT6, -1.5, 1),
    (LUT6, _down(0.0), 1), (LUT6, 0.0, 2), (LUT6, _down(3.0), 3), (LUT6, _down(-3.0), 0), (LUT6, -3.0, 0),
    # outside the range, infinities
    (LUT16, 8.0, 255), (LUT16, 1e300, 255), (LUT16, math.inf, 255), (LUT16, _down(-8.0), 0),
    (LUT16, -1e300, 0), (LUT16, -math.inf, 0), (LUT6, 3.0, 3), (LUT6, math.inf, 3), (LUT6, -math.inf, 0),
    # edges that are not float64 values: 2**58 is above the first edge, the float below it is not
    (LUT_WIDE, 2.0**58, 1), (LUT_WIDE, _down(2.0**58), 0), (LUT_WIDE, 2.0**59, 2), (LUT_WIDE, _down(2.0**59), 1),
]


def test_golden_indices():
    for lut in (LUT16, LUT6, LUT_WIDE):
        cases = [(x, want) for lt, x, want in GOLDEN if lt is lut]
        xs = [x for x, _ in cases]
        assert [ref_index(x, lut) for x in xs] == [w for _, w in cases]  # the reference agrees
        assert _index(xs, lut).tolist() == [w for _, w in cases], lut


def test_nan_passes_through_and_is_counted():
    lut = hw.LUTConfig(size=64, x_min=-4.0, x_max=4.0, entry_format=FloatFormat(name="fp32"))
    x = np.array([np.nan, -np.nan, 1.0, np.inf, -np.inf])
    with jax.enable_x64(True):
        y = np.asarray(jax.jit(lambda v: lut_activation("tanh", v, lut))(jnp.asarray(x)))
        assert _index(x, lut).tolist() == [0, 0, 40, 63, 0]  # NaN: a defined index
    table = lut_entries("tanh", lut)
    np.testing.assert_array_equal(y, [np.nan, np.nan, table[40], table[63], table[0]])
    # the aggregation engine's output stage on a float datapath: NaN out, counted once, as in
    # the reference (one slice, exact packets: the aggregated value is the product)
    f32 = FloatFormat(name="fp32")
    arr = hw.ArrayConfig(rows=1, width=1, a_format=f32, b_format=f32, accumulator_format=f32, output_format=None,
                         tree_format=f32)
    agg = hw.AggregationConfig(packet_format=None, accumulator_format=f32, output_format=f32, activation="tanh",
                               lut=lut)
    cfg = hw.SystemConfig(array=arr, num_slices=1, aggregation=agg)
    a = np.array([[np.nan], [2.0], [-np.inf]], np.float32)
    want = rs.system_matmul(a, np.ones((1, 1), np.float32), cfg, [(0, 1)])
    out, ev = jax.jit(lambda v: finish(v, cfg))(jnp.asarray(a))
    np.testing.assert_array_equal(np.asarray(out).astype(np.float64), want.out)
    assert np.isnan(want.out[0, 0]) and int(ev.nan) == want.nan == 1
    # an fp32 subnormal just below the edge at 0 keeps its entry (no flush to zero before the LUT)
    sub = np.array([[-1e-40], [1e-40]], np.float32)
    want = rs.system_matmul(sub, np.ones((1, 1), np.float32), cfg, [(0, 1)])
    out, _ = jax.jit(lambda v: finish(v, cfg))(jnp.asarray(sub))
    np.testing.assert_array_equal(np.asarray(out).astype(np.float64), want.out)
    assert want.out[0, 0] == table[31] and want.out[1, 0] == table[32]


def test_flax_lut_activation_keeps_nan():
    from pimjax.nn import activation

    lut = hw.LUTConfig(size=64, x_min=-4.0, x_max=4.0)
    y = np.asarray(jax.jit(lambda v: activation("sigmoid", v, lut))(jnp.asarray([np.nan, 0.5, -1e-40], jnp.float32)))
    ref = np.asarray(activation("sigmoid", jnp.asarray([0.5], jnp.float32), lut))
    assert np.isnan(y[0]) and y[1] == ref[0]


def _near(b: Fraction) -> list[float]:
    """Floats at and around the real number ``b``: nearest, 1 and 2 ulps either side."""
    f = float(b)
    out = [f]
    for d in (-math.inf, math.inf):
        g = f
        for _ in range(2):
            g = math.nextafter(g, d)
            out.append(g)
    return out


@st.composite
def luts(draw):
    size = 2 ** draw(st.integers(1, 12))
    lo = math.ldexp(draw(st.integers(-(2**30), 2**30)), draw(st.integers(-24, 40)))
    width = Fraction(draw(st.integers(1, 2**30))) * Fraction(2) ** draw(st.integers(-24, 40))
    hi = float(Fraction(lo) + width)
    if not hi > lo or hi * 2**24 != int(hi * 2**24):
        hi = lo + 1.0 if lo + 1.0 > lo else math.nextafter(lo, math.inf)
    return hw.LUTConfig(size=size, x_min=lo, x_max=hi)


@settings(max_examples=50, deadline=None)
@given(lut=luts(), data=st.data())
def test_index_is_exact_near_every_kind_of_edge(lut, data):
    step = (Fraction(lut.x_max) - Fraction(lut.x_min)) / lut.size
    js = data.draw(st.lists(st.integers(0, lut.size), min_size=1, max_size=8))
    xs = [x for j in js for x in _near(Fraction(lut.x_min) + j * step)]
    xs += _near(Fraction(0))  # tiny values of both signs
    span = lut.x_max - lut.x_min
    xs += data.draw(st.lists(st.floats(lut.x_min - span, lut.x_max + span), max_size=8))
    xs += [math.inf, -math.inf, 1e308, -1e308]
    xs += [0.0] * (80 - len(xs))  # one shape for every example: eager ops compile once per table size
    with jax.enable_x64(True):
        got = np.asarray(lut_index(jnp.asarray(xs, jnp.float64), lut)).tolist()
    assert got == [ref_index(x, lut) for x in xs]


def test_jit_vmap_and_float32_inputs():
    # fp32 subnormals too (XLA:CPU flushes them in a plain convert to float64)
    x = np.array([[-(2.0**-30), 0.0, 1.5, -(2.0**-149)], [-1.5, 2.9, -7.0, 2.0**-149]], np.float32)
    with jax.enable_x64(True):
        got = np.asarray(jax.jit(jax.vmap(lambda r: lut_index(r, LUT6)))(jnp.asarray(x)))
    assert got.dtype == np.int32
    assert got.tolist() == [[ref_index(float(v), LUT6) for v in row] for row in x] == [[1, 2, 3, 1], [1, 3, 0, 2]]


def _fixed_system(arr_acc, agg_acc, lut, a_format, b_format):
    arr = hw.ArrayConfig(rows=1, width=1, a_format=a_format, b_format=b_format, accumulator_format=arr_acc,
                         output_format=None)
    agg = hw.AggregationConfig(packet_format=None, accumulator_format=agg_acc, output_format=fx(16, 12),
                               activation="tanh", lut=lut)
    return hw.SystemConfig(array=arr, num_slices=1, aggregation=agg)


def test_fixed_point_end_to_end_matches_the_reference():
    # 60 fraction bits: x = +-2**-60 sit either side of the edge at 0
    cfg = _fixed_system(fx(32, 60), fx(32, 60), LUT16, fx(16, 30), fx(16, 30))
    a = np.array([[-1], [0], [1], [-(2**15)], [2**15 - 1]], np.int64)
    b = np.array([[1]], np.int64)
    got, want = system_matmul(a, b, cfg), rs.system_matmul(a, b, cfg, [(0, 1)])
    np.testing.assert_array_equal(np.asarray(got.out), want.out)
    assert int(want.out[0, 0]) == -128 and int(want.out[2, 0]) == 128  # tanh LUT entries 127 / 128
    # a step of 1.5: x = 3 * 2**28 - 1 codes of 2**-29 is one LSB below the edge at 1.5 (the
    # aggregation engine's output stage on the reference's exact accumulator codes)
    cfg = _fixed_system(fx(32, 29), fx(32, 29), LUT6, fx(16, 14), fx(16, 15))
    a = np.array([[2**14, 2**14, 2**14, -1], [2**14, 2**14, 2**14, 0]], np.int64)
    b = np.array([[2**14], [2**14], [2**14], [1]], np.int64)
    want = rs.system_matmul(a, b, cfg, [(0, 4)])
    out, _ = jax.jit(lambda v: finish(v, cfg))(jnp.asarray(a @ b, jnp.int32))
    np.testing.assert_array_equal(np.asarray(out), want.out)
    table = lut_entries("tanh", LUT6)
    assert (want.out[:, 0] * 2.0**-12).tolist() == [table[2], table[3]]
