"""The multi-slice system (``pimjax.system.system_matmul``) against the plain reference model.

Every comparison of results is exact (``np.testing.assert_array_equal`` on codes / float values,
``==`` on event counts): docs/design.md section 2 calls the whole datapath bit-exact, across slices
(step 4) and the output stage (step 5) included. The reference (``tests/ref_system.py``) runs
each slice's K-range through the one-slice reference (``tests/ref_array.py``), rounds packets,
and adds them in ascending slice index, one element and one addition at a time.

Multi-device cases run on the 8 fake CPU devices that ``conftest.py`` asks XLA for. XLA
compiles (the bulk of the runtime) are kept down by few distinct configs and shapes, each
compiled once (``_runner``) and then fed several data sets.
"""

from __future__ import annotations

import functools
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the reference models sit next to this file
import ref_array as ref  # noqa: E402
import ref_system as rs  # noqa: E402
from budget import THOROUGH, quick_subset  # noqa: E402
from pimjax import hw  # noqa: E402
from pimjax.numerics import FixedFormat, FloatFormat, fx  # noqa: E402
from pimjax.system import Mapping, default_mesh, system_matmul, weight_mappings  # noqa: E402

# Small arrays: 4 rows x 4 multipliers, the Memory Slices datapath (Q8.8 operands, 32-bit
# accumulator with 16 fraction bits).
ARR16 = hw.presets.get("memory_slices").replace(rows=4, width=4)
# 8-bit operands: K * max|a| * max|b| fits every stage, so the fast path is taken statically.
ARR8 = ARR16.replace(a_format=fx(8, 4), b_format=fx(8, 4), accumulator_format=fx(32, 8), output_format=fx(8, 4))
ARRF = hw.presets.get("memory_slices_fp32").replace(rows=4, width=4)
FP32, BF16, FP16 = FloatFormat(name="fp32"), FloatFormat(name="bf16"), FloatFormat(name="fp16")

M, K, N = 3, 21, 6  # K not a multiple of W = 4, N not a multiple of R = 4
K8 = 37  # for 8 slices: 10 K-chunks, so no slice is empty (2, 2, 1, ..., 1; the last one partial)
KEY = jax.random.key(5)


def system(num_slices: int, *, array=ARR16, packet=fx(16, 8), acc=fx(16, 8), out=fx(12, 6),
           icn: hw.InterconnectConfig | None = None, **agg) -> hw.SystemConfig:
    """A system of ``num_slices`` slices; by default packets round 16 -> 8 fraction bits
    (nearest even), the aggregation accumulator is a saturating 16-bit Q8.8 and the output a
    12-bit Q6.6 (rounds and saturates)."""
    kw = {} if icn is None else {"interconnect": icn}
    return hw.SystemConfig(array=array, num_slices=num_slices,
                           aggregation=hw.AggregationConfig(packet_format=packet, accumulator_format=acc,
                                                            output_format=out, **agg), **kw)


ORDERED = {s: system(s) for s in (1, 2, 3, 4, 8)}


def even_ranges(k: int, s: int, w: int) -> tuple[tuple[int, int], ...]:
    """Whole ``w``-chunks of K, as evenly as possible, earlier slices taking the extra chunk."""
    chunks = -(-k // w)
    out, c = [], 0
    for i in range(s):
        nc = chunks // s + (1 if i < chunks % s else 0)
        out.append((min(k, c * w), min(k, (c + nc) * w)))
        c += nc
    return tuple(out)


def codes(rng, fmt: FixedFormat, shape, scale: int | None = None) -> np.ndarray:
    """Random codes of ``fmt`` (its whole range, or within +-scale)."""
    lo, hi = ref.code_range(fmt)
    if scale is not None:
        lo, hi = max(lo, -scale), min(hi, scale)
    dt = np.int8 if fmt.bits <= 8 else np.int16
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(dt)


@functools.lru_cache(maxsize=None)
def _mesh(d: int):
    return default_mesh(devices=d)


@functools.lru_cache(maxsize=None)
def _runner(cfg: hw.SystemConfig, d: int, mapping: Mapping | None):
    """One jitted system per (config, devices, mapping); shapes and dtypes are kept fixed."""
    mesh = _mesh(d)
    return jax.jit(lambda a, b, key: system_matmul(a, b, cfg, mesh=mesh, mapping=mapping, key=key))


def run(a, b, cfg, *, d=1, mapping=None, key=None):
    return _runner(cfg, d, mapping)(a, b, key)


def check(a, b, cfg: hw.SystemConfig, *, d=1, mapping=None, key=None, ordered=None, res=None):
    """Runs the system (unless ``res`` is given) and asserts it equals the reference."""
    if res is None:
        res = run(a, b, cfg, d=d, mapping=mapping, key=key)
    ranges = mapping.k_ranges if mapping is not None else even_ranges(a.shape[1], cfg.num_slices, cfg.array.width)
    assert res.mapping.k_ranges == ranges
    want = rs.system_matmul(a, b, cfg, ranges, key)
    got = np.asarray(res.out)
    of = cfg.aggregation.output_format
    if cfg.array.is_float:
        assert got.dtype == (of.dtype if of is not None else np.dtype(np.float64))
        np.testing.assert_array_equal(got.astype(np.float64), want.out)
        assert int(res.events.nan) == want.nan
    else:
        lut = cfg.aggregation.lut  # exact output with a LUT: its entry codes, in their format's dtype
        exact = lut.entry_format.code_dtype if lut is not None else np.dtype(np.int64)
        assert got.dtype == (of.code_dtype if of is not None else exact)
        np.testing.assert_array_equal(got.astype(np.int64), want.out)
    assert int(res.events.overflow) == want.overflow
    if ordered is not None:
        assert bool(res.ordered) is ordered
    return res, want


def assert_same(r1, r2):
    """Two system results are identical bit for bit: outputs, every event count, path, traffic."""
    assert r1.out.dtype == r2.out.dtype
    np.testing.assert_array_equal(np.asarray(r1.out), np.asarray(r2.out))
    for name, x, y in zip(r1.events._fields, r1.events, r2.events):
        assert int(x) == int(y), name
    assert bool(r1.ordered) == bool(r2.ordered)
    for name, x, y in zip(r1.icn._fields, r1.icn, r2.icn):
        assert float(x) == float(y), name


def saturating_fold(values, fmt):
    """Adds ``values`` in the given order into ``fmt`` with overflow after every addition."""
    acc = 0
    for v in values:
        acc, _ = ref.fit(acc + v, fmt)
    return acc


# ------------------------------------------------------------------------------ reference sanity


def test_reference_by_hand():
    # 2 slices, one element each: slice accumulators 3.0 and 2.5 (frac 16) ->
    # packets Q8.8 -> aggregated 5.5 = 1408 / 256 -> output Q6.6 352
    a = np.array([[3 * 256, 5 * 128]], np.int16)
    b = np.array([[256], [256]], np.int16)
    want = rs.system_matmul(a, b, ORDERED[2], ((0, 1), (1, 2)))
    assert want.aggregated == [[1408]] and want.out.tolist() == [[352]] and want.overflow == 0
    # saturation in the aggregation engine is counted once per addition that overflows
    want = rs.system_matmul(np.array([[100 * 256, 100 * 256]], np.int16), b, ORDERED[2], ((0, 1), (1, 2)))
    assert want.aggregated == [[32767]]
    assert want.overflow == 2  # the aggregation addition and the Q6.6 output (127.99 > 31.98)
    assert rs.round_real(rs.Fraction(5, 2), "nearest_even") == 2
    assert rs.round_real(rs.Fraction(-5, 2), "nearest_away") == -3
    assert rs.round_real(rs.Fraction(-5, 2), "toward_zero") == -2
    assert rs.round_real(rs.Fraction(1, 4), "stochastic", word=3 << 30) == 1  # 1/4 + 3/4 >= 1
    assert rs.round_real(rs.Fraction(1, 4), "stochastic", word=(3 << 30) - 1) == 0


# ------------------------------------------------------------------------------ against the reference


@pytest.mark.parametrize("s", [1, 2, 3, 4, 8])
def test_random_matches_reference(s):
    """Packet rounding, saturating 16-bit aggregation and a narrow output, for 1..8 slices."""
    rng = np.random.default_rng(100 + s)
    cfg = ORDERED[s]
    total_overflow = 0
    # moderate values, values that saturate the aggregation engine, and the full Q8.8 range
    # (which saturates the slices' 32-bit accumulators too)
    for scale in (1 << 7, 1 << 9, 1 << 11, None):
        a = codes(rng, ARR16.a_format, (M, K), scale)
        b = codes(rng, ARR16.b_format, (K, N), scale)
        res, want = check(a, b, cfg, ordered=True)
        total_overflow += want.overflow
    assert total_overflow > 0


_EXTREMES = [-32768, 32767, -32767, -1, 0, 1, 255, 256, -256, 4096, -4096, 16384]


@settings(max_examples=30)
@given(
    a=hnp.arrays(np.int16, (M, K), elements=st.one_of(st.sampled_from(_EXTREMES), st.integers(-32768, 32767))),
    b=hnp.arrays(np.int16, (K, N), elements=st.one_of(st.sampled_from(_EXTREMES), st.integers(-600, 600))),
)
def test_property_adversarial_codes(a, b):
    check(a, b, ORDERED[4], ordered=True)


def test_unsigned_wrapping_aggregation():
    """Unsigned operands, unsigned packets (rounded) and a wrapping unsigned 8-bit engine."""
    arr = ARR16.replace(a_format=fx(8, 4, signed=False), b_format=fx(8, 4, signed=False),
                        accumulator_format=fx(16, 8, signed=False), output_format=None)
    cfg = system(2, array=arr, packet=fx(8, 4, signed=False), acc=fx(8, 4, signed=False, overflow="wrap"),
                 out=None)
    rng = np.random.default_rng(9)
    overflow = 0
    for hi in (15, 255):
        a = rng.integers(0, hi, (M, K), endpoint=True).astype(np.uint8)
        b = rng.integers(0, hi, (K, N), endpoint=True).astype(np.uint8)
        res, want = check(a, b, cfg, d=2, ordered=True)
        overflow += want.overflow
    assert overflow > 0


# uneven explicit K-ranges: a partial chunk, an empty slice, 11 elements (not whole chunks)
UNEVEN4 = Mapping.explicit(k=K, n=N, k_ranges=((0, 3), (3, 3), (3, 14), (14, 21)), rows=4, owners=(3, 1))
# everything on the last slice
LAST3 = Mapping.explicit(k=K, n=N, k_ranges=((0, 0), (0, 0), (0, K)), rows=4)


@pytest.mark.parametrize("mapping, d", [(UNEVEN4, 2), (LAST3, 3)], ids=["uneven4_d2", "last3_d3"])
def test_explicit_mappings_match_reference(mapping, d):
    rng = np.random.default_rng(7)
    cfg = ORDERED[mapping.num_slices]
    for scale in (1 << 9, 1 << 11, None):
        a = codes(rng, ARR16.a_format, (M, K), scale)
        b = codes(rng, ARR16.b_format, (K, N), scale)
        res, _ = check(a, b, cfg, d=d, mapping=mapping)
        assert res.mapping == mapping
        assert str(res.mapping) == str(mapping)


def test_empty_slices_send_nothing_and_add_nothing():
    """An all-in-the-last-slice mapping gives one slice's packet rounded and aggregated once."""
    rng = np.random.default_rng(8)
    a = codes(rng, ARR16.a_format, (M, K), 1 << 10)
    b = codes(rng, ARR16.b_format, (K, N), 1 << 10)
    res = run(a, b, ORDERED[3], d=3, mapping=LAST3)
    one = rs.system_matmul(a, b, ORDERED[1], ((0, K),))
    np.testing.assert_array_equal(np.asarray(res.out).astype(np.int64), one.out)
    assert int(res.events.overflow) == one.overflow
    assert float(res.icn.elements) == M * N  # only the last slice sends


# ------------------------------------------------------------------------------ order of aggregation


@pytest.mark.parametrize("d", [1, 3])
def test_saturating_aggregation_follows_slice_order(d):
    """+big, +big, -big: ascending slice order saturates and comes back; other orders do not."""
    cfg = system(3, out=fx(16, 8))  # 16-bit Q8.8 aggregation accumulator, saturating
    mapping = Mapping.explicit(k=3, n=4, k_ranges=((0, 1), (1, 2), (2, 3)), rows=4)
    x, y = 2560, 2000  # 10.0 and 7.8125 in Q8.8: one product 5_120_000 at frac 16 = 20000 at frac 8
    a = np.array([[x, x, x], [x // 2, x // 2, x // 2]], np.int16)
    b = np.array([[y, -y, y, 0], [y, -y, -y, y], [-y, y, y, y]], np.int16)
    res = run(a, b, cfg, d=d, mapping=mapping)
    got = np.asarray(res.out).astype(np.int64)
    # row 0, column 0: packets (20000, 20000, -20000): 40000 saturates to 32767, minus 20000
    # column 1 mirrors it (-32768 + 20000); column 2 never saturates; column 3 saturates last
    np.testing.assert_array_equal(got, [[12767, -12768, 20000, 32767], [10000, -10000, 10000, 20000]])
    assert int(res.events.overflow) == 3
    acc_fmt = cfg.aggregation.accumulator_format
    packets = [20000, 20000, -20000]
    assert saturating_fold(packets, acc_fmt) == 12767
    assert sum(packets) == 20000  # the exact sum ...
    assert saturating_fold(packets[::-1], acc_fmt) == 20000  # ... and the reverse order differ
    check(a, b, cfg, d=d, mapping=mapping, res=res)


# ------------------------------------------------------------------------------ devices


def _fast_data(rng, k):
    return [(codes(rng, ARR8.a_format, (M, k)), codes(rng, ARR8.b_format, (k, N)))]


def _q88_data(rng, k, scales=(1 << 9, None)):
    return [(codes(rng, ARR16.a_format, (M, k), s), codes(rng, ARR16.b_format, (k, N), s)) for s in scales]


LUT_SIG = hw.LUTConfig(size=4096, x_min=-8.0, x_max=8.0, entry_format=fx(16, 14))
LUT_TANH = hw.LUTConfig(size=256, x_min=-4.0, x_max=4.0, entry_format=fx(12, 10))
# the slices round their products stochastically (exercises the per-slice key streams)
ARR16_SR = ARR16.replace(product_format=fx(24, 12), product_rounding="stochastic", accumulator_format=fx(32, 12))

DEVICE_CASES = {
    # order-free formats, statically no overflow: one GEMM and a psum of exact integers
    "fast": (system(8, array=ARR8, packet=None, acc=fx(32, 8), out=fx(8, 4)), None, _fast_data, [False]),
    # order-free formats, bound from the data: small data take the fast path, full-range data
    # (saturating 32-bit accumulators) the ordered one
    "cond_relu": (system(8, packet=None, acc=fx(32, 16), out=fx(16, 8), activation="relu"), None,
                  _q88_data, [False, True]),
    # packet rounding (nearest even) into a saturating narrow aggregation accumulator
    "round_saturate": (ORDERED[8], None, _q88_data, [True, True]),
    # stochastic packets, wrapping accumulator, sigmoid LUT, stochastic output rounding
    # (a LUT step of 2**-8 = the accumulator's LSB: every packet rounding shows in the output)
    "stochastic_sigmoid_lut": (
        system(8, acc=fx(16, 8, overflow="wrap"), out=fx(16, 12), packet_rounding="stochastic",
               activation="sigmoid", lut=LUT_SIG, output_rounding="stochastic"),
        KEY, functools.partial(_q88_data, scales=(1 << 8, None)), [True, True]),
    # stochastic products in the slices, SR LO packets, exact tanh (small values: tanh' ~ 1)
    "sr_lo_tanh": (
        system(8, array=ARR16_SR, out=fx(16, 14), packet_rounding="sr_lo", activation="tanh"),
        KEY, functools.partial(_q88_data, scales=(1 << 7, None)), [True, True]),
    # floor packets, tanh LUT (entries Q2.10), nearest-away output
    "tanh_lut": (
        system(8, packet=fx(16, 10), acc=fx(16, 10), out=fx(16, 12), packet_rounding="floor",
               activation="tanh", lut=LUT_TANH, output_rounding="nearest_away"),
        None, _q88_data, [True, True]),
    # toward-zero packets, exact sigmoid into an unsigned 8-bit output (1.0 saturates)
    "sigmoid": (
        system(8, packet=fx(16, 8), acc=fx(16, 8), out=fx(8, 8, signed=False), packet_rounding="toward_zero",
               activation="sigmoid"),
        None, _q88_data, [True, True]),
}


# The activation runs on the gathered output, after the sharded part; to save compiles the last
# two cases (whose sharded part differs from "round_saturate" only in the packet rounding mode)
# run on fewer device counts.
DEVICE_COUNTS = {"tanh_lut": (2, 8), "sigmoid": (4,)}
# the default run compares 1 device with one other count per case (each count is a compile)
QUICK_DEVICE_COUNTS = {"fast": (8,), "cond_relu": (2,), "round_saturate": (4,), "stochastic_sigmoid_lut": (8,)}


# the default run: the fast, data-bound, saturating-ordered and stochastic-LUT cases; -m slow: all
@pytest.mark.parametrize("case", quick_subset(list(DEVICE_CASES),
                                              {"fast", "cond_relu", "round_saturate", "stochastic_sigmoid_lut"}))
def test_devices_give_identical_bits(case):
    """S = 8 slices on 1, 2, 4 and 8 devices (the default run: 1 and one other count per case):
    identical bits, equal to the reference."""
    cfg, key, data, paths = DEVICE_CASES[case]
    rng = np.random.default_rng(sum(map(ord, case)))
    for (a, b), ordered in zip(data(rng, K8), paths):
        base, _ = check(a, b, cfg, d=1, key=key, ordered=ordered)
        counts = DEVICE_COUNTS.get(case, (2, 4, 8)) if THOROUGH else QUICK_DEVICE_COUNTS.get(case, (8,))
        for d in counts:
            assert_same(run(a, b, cfg, d=d, key=key), base)


def test_stochastic_packets_depend_on_key():
    cfg, key, data, _ = DEVICE_CASES["stochastic_sigmoid_lut"]
    a, b = data(np.random.default_rng(3), K8)[0]
    r1 = run(a, b, cfg, d=8, key=key)
    r2 = run(a, b, cfg, d=8, key=jax.random.key(6))
    check(a, b, cfg, key=jax.random.key(6), res=r2)
    assert int(r1.events.random_bits) == int(r2.events.random_bits) > 0
    assert not np.array_equal(np.asarray(r1.out), np.asarray(r2.out))


def test_stochastic_rounding_needs_a_key():
    cfg = DEVICE_CASES["stochastic_sigmoid_lut"][0]
    a = np.zeros((M, K8), np.int16)
    b = np.zeros((K8, N), np.int16)
    with pytest.raises(ValueError, match="needs a key"):
        system_matmul(a, b, cfg)


# ------------------------------------------------------------------------------ float datapath

F_PACKETS = system(4, array=ARRF, packet=BF16, acc=FP32, out=FP32)
F_NARROW = system(4, array=ARRF, packet=FP32, acc=FP16, out=BF16, activation="relu")


def _floats(rng, shape, scale):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("d", [1, 4])
def test_float_system_matches_reference(d):
    """fp32 slices, bf16 packets, fp32 aggregation: rounding after every addition, slice order."""
    rng = np.random.default_rng(11)
    for scale in (1.0, 1e3):
        a, b = _floats(rng, (M, K), scale), _floats(rng, (K, N), scale)
        check(a, b, F_PACKETS, d=d, ordered=True)
    # subnormal results (fp32 subnormals must survive every stage, on XLA:CPU too)
    a = np.full((M, K), 1e-20, np.float32) * rng.integers(1, 4, (M, K)).astype(np.float32)
    b = np.full((K, N), 1e-20, np.float32)
    res, want = check(a, b, F_PACKETS, d=d)
    assert np.all(np.asarray(res.out) != 0) and np.all(np.abs(np.asarray(res.out)) < 2.0**-126)


def test_float_narrow_aggregation_overflows_to_inf_and_nan():
    """fp16 aggregation: partial sums overflow to Inf; +Inf + -Inf packets give NaN (counted)."""
    rng = np.random.default_rng(12)
    a = _floats(rng, (M, K), 30.0)
    b = _floats(rng, (K, N), 30.0)
    # column 0, row 0: slice 0 (K 0..7) sends +Inf, slice 2 (K 16..19) sends -Inf -> NaN
    a[0, :] = 0.0
    b[:, 0] = 0.0
    a[0, 0], b[0, 0] = 1e20, 1e20
    a[0, 16], b[16, 0] = -1e20, 1e20
    # column 1, row 1: 40000 + 40000 overflows fp16, then -40000 leaves Inf
    a[1, :] = 0.0
    b[:, 1] = 0.0
    a[1, 0], a[1, 8], a[1, 16] = 200.0, 200.0, -200.0
    b[0, 1], b[8, 1], b[16, 1] = 200.0, 200.0, 200.0
    res, want = check(a, b, F_NARROW, d=2, ordered=True)
    out = np.asarray(res.out).astype(np.float64)
    assert np.isnan(out[0, 0]) and out[1, 1] == np.inf
    assert int(res.events.nan) == want.nan >= 1
    assert want.overflow > 0


# ------------------------------------------------------------------------------ interconnect


def icn_of(cfg, m, k, n, mapping=None):
    """``result.icn`` of a system matmul (jitted; only the counts are kept, so XLA drops the rest)."""
    f = jax.jit(lambda a, b: system_matmul(a, b, cfg, mapping=mapping).icn)
    icn = f(jnp.zeros((m, k), jnp.int16), jnp.zeros((k, n), jnp.int16))
    return {name: float(v) for name, v in zip(icn._fields, icn)}


# Packets of one M x R' output tile with per-cycle diagonal coalescing: at cycle c the trees emit
# n_c = min(c+1, R', M, M+R'-1-c) elements, in ceil(n_c / e) packets of e elements, one header each.


@pytest.mark.parametrize("topology", ["mesh", "ring", "crossbar"])
def test_icn_two_slices_by_hand(topology):
    # M = 6, K = 8: slice 0 holds K 0..3, slice 1 K 4..7; N = 6: tile 0 (cols 0..3, R' = 4)
    # owned by slice 0, tile 1 (cols 4, 5, R' = 2) by slice 1 (tile t owned by t * S // tiles).
    # Q8.8 packets: 2 bytes per element; payload 8 bytes -> e = 4 elements per packet; header 4.
    # tile 0: n_c = 1, 2, 3, 4, 4, 4, 3, 2, 1 (24 elements; R' caps cycles 3..5)
    #         -> 9 packets of <= 4 elements, 9*4 + 24*2 = 84 bytes
    # tile 1: n_c = 1, 2, 2, 2, 2, 2, 1 (12 elements) -> 7 packets, 7*4 + 12*2 = 52 bytes
    # slice 0 -> slice 1: tile 1 (7 packets, 52 bytes); its tile 0 goes to the local port (9)
    # slice 1 -> slice 0: tile 0 (9 packets, 84 bytes); its tile 1 stays local (7)
    # every topology: 1 hop between two slices (mesh: 2 wide, slices at (0,0) and (0,1))
    cfg = system(2, icn=hw.InterconnectConfig(topology=topology, payload_bytes=8, header_bytes=4))
    want = dict(
        packets=7 + 9,  # 16
        local_packets=9 + 7,  # 16
        bytes=52 + 84,  # 136
        hop_bytes=52 * 1 + 84 * 1,  # 136
        hops=7 * 1 + 9 * 1,  # 16
        elements=2 * 6 * 6,  # every slice sends all M x N = 36 partial sums: 72
    )
    assert icn_of(cfg, 6, 8, 6) == want
    assert rs.icn_counts(m=6, n=6, tile_cols=4, k_sizes=(4, 4), owners=(0, 1), hops=lambda s, d: 1,
                         element_bytes=2, payload_bytes=8, header_bytes=4) == want


# 4 slices, M = 2, K = 16 (one chunk each), N = 6: tile 0 owned by slice 0, tile 1 by slice 2.
# Q8.8 packets, payload 4 bytes -> e = 2 elements per packet, header 4 bytes.
# Tile 0 (R' = 4): n_c = 1, 2, 2, 2, 1 (M caps cycles 1..3; 8 elements)
#   -> 1 packet per cycle: 5 packets, 5*4 + 8*2 = 36 bytes.
# Tile 1 (R' = 2): n_c = 1, 2, 1 (4 elements) -> 3 packets, 3*4 + 4*2 = 20 bytes.
# Tile 0 arrives at slice 0 from slices 1, 2, 3; tile 1 at slice 2 from slices 0, 1, 3:
# packets 3*5 + 3*3 = 24, bytes 3*36 + 3*20 = 168, local 5 + 3 = 8, elements 4*(2*6) = 48.
# Hops (src -> dst):          1->0  2->0  3->0  0->2  1->2  3->2
#   mesh 2 wide (2x2 grid):     1     1     2     1     2     1
#   mesh 4 wide (a line):       1     2     3     2     1     1
#   ring of 4:                  1     2     1     2     1     1
#   crossbar:                   1     1     1     1     1     1
FOUR = dict(packets=24, local_packets=8, bytes=168, elements=48)
FOUR_HOPS = {
    "mesh": dict(hops=5 * (1 + 1 + 2) + 3 * (1 + 2 + 1),  # 32
                 hop_bytes=36 * (1 + 1 + 2) + 20 * (1 + 2 + 1)),  # 224
    "mesh_line": dict(hops=5 * (1 + 2 + 3) + 3 * (2 + 1 + 1),  # 42
                      hop_bytes=36 * (1 + 2 + 3) + 20 * (2 + 1 + 1)),  # 296
    "ring": dict(hops=5 * (1 + 2 + 1) + 3 * (2 + 1 + 1),  # 32 (a 2x2 mesh is a ring of 4)
                 hop_bytes=36 * (1 + 2 + 1) + 20 * (2 + 1 + 1)),  # 224
    "crossbar": dict(hops=5 * 3 + 3 * 3,  # 24
                     hop_bytes=36 * 3 + 20 * 3),  # 168
}
_HOPS4 = {
    "mesh": lambda s, d: abs(s % 2 - d % 2) + abs(s // 2 - d // 2),
    "mesh_line": lambda s, d: abs(s - d),
    "ring": lambda s, d: min(abs(s - d), 4 - abs(s - d)),
    "crossbar": lambda s, d: 1,
}


@pytest.mark.parametrize("topology", list(FOUR_HOPS))
def test_icn_four_slices_by_hand(topology):
    kw = dict(payload_bytes=4, header_bytes=4)
    icn = (hw.InterconnectConfig(topology="mesh", mesh_width=4, **kw) if topology == "mesh_line"
           else hw.InterconnectConfig(topology=topology, **kw))
    want = {**FOUR, **FOUR_HOPS[topology]}
    assert icn_of(system(4, icn=icn), 2, 16, 6) == want
    # the independent formula of ref_system agrees
    assert rs.icn_counts(m=2, n=6, tile_cols=4, k_sizes=(4, 4, 4, 4), owners=(0, 2), hops=_HOPS4[topology],
                         element_bytes=2, payload_bytes=4, header_bytes=4) == want


def test_icn_empty_slice_and_exact_packets():
    # Slice 1 holds no K: it sends nothing. Packets exact (packet_format None): elements are the
    # 32-bit slice accumulators, 4 bytes; payload 8 -> e = 2 elements; header 4.
    # Full tile: 8 packets, 8*4 + 12*4 = 80 bytes; last tile: 4 packets, 4*4 + 6*4 = 40 bytes.
    # Owners (0, 2) on a 2x2 mesh. Tile 0 -> slice 0 from slices 2 (1 hop), 3 (2 hops);
    # tile 1 -> slice 2 from slices 0 (1 hop), 3 (1 hop).
    mapping = Mapping.explicit(k=16, n=6, k_ranges=((0, 4), (4, 4), (4, 12), (12, 16)), rows=4)
    cfg = system(4, packet=None, acc=fx(32, 16), icn=hw.InterconnectConfig(payload_bytes=8, header_bytes=4))
    assert icn_of(cfg, 3, 16, 6, mapping) == dict(
        packets=2 * 8 + 2 * 4,  # 24
        local_packets=8 + 4,  # slice 0 keeps tile 0, slice 2 keeps tile 1: 12
        bytes=2 * 80 + 2 * 40,  # 240
        hop_bytes=80 * (1 + 2) + 40 * (1 + 1),  # 320
        hops=8 * (1 + 2) + 4 * (1 + 1),  # 32
        elements=3 * 18,  # 54
    )


def test_payload_smaller_than_an_element():
    cfg = system(2, icn=hw.InterconnectConfig(payload_bytes=1))
    with pytest.raises(ValueError, match="payload_bytes"):
        system_matmul(np.zeros((M, 8), np.int16), np.zeros((8, N), np.int16), cfg)


# ------------------------------------------------------------------------------ mapping


def test_mapping_even_by_hand():
    mp = Mapping.even(k=21, n=6, num_slices=4, width=4, rows=4)
    # 6 chunks over 4 slices: 2, 2, 1, 1 (earlier slices take the extra chunk; the last is partial)
    assert mp.k_ranges == ((0, 8), (8, 16), (16, 20), (20, 21))
    assert mp.k_sizes == (8, 8, 4, 1)
    assert mp.owners == (0, 2) and mp.n_tiles == 2 and mp.tile_columns(1) == (4, 6)
    mp = Mapping.even(k=21, n=6, num_slices=8, width=4, rows=4)
    assert mp.k_ranges == ((0, 4), (4, 8), (8, 12), (12, 16), (16, 20), (20, 21), (21, 21), (21, 21))


@settings(max_examples=200)
@given(k=st.integers(1, 200), s=st.integers(1, 16), w=st.integers(1, 9), n=st.integers(1, 40), r=st.integers(1, 9))
def test_property_mapping_even(k, s, w, n, r):
    mp = Mapping.even(k=k, n=n, num_slices=s, width=w, rows=r)
    assert mp.k_ranges == even_ranges(k, s, w)
    assert mp.k_ranges[0][0] == 0 and mp.k_ranges[-1][1] == k
    chunks = [-(-(hi - lo) // w) for lo, hi in mp.k_ranges]
    for (lo, hi), (lo2, _) in zip(mp.k_ranges, mp.k_ranges[1:]):
        assert hi == lo2 and (lo % w == 0 or lo == k)  # contiguous, whole chunks
    assert max(chunks) - min(chunks) <= 1 and chunks == sorted(chunks, reverse=True)
    assert sum(chunks) == -(-k // w)
    assert len(mp.owners) == -(-n // r) and list(mp.owners) == sorted(mp.owners)


def test_weight_mappings():
    fwd, bwd = weight_mappings(in_features=21, out_features=10, num_slices=4, width=4, rows=4)
    assert (fwd.k, fwd.n) == (21, 10) and fwd.k_ranges == ((0, 8), (8, 16), (16, 20), (20, 21))
    assert (bwd.k, bwd.n) == (10, 21) and bwd.k_ranges == ((0, 4), (4, 8), (8, 10), (10, 10))
    # output tiles of 4 columns, owned in contiguous blocks: tile t by slice t * S // tiles
    assert fwd.owners == (0, 1, 2)  # 3 tiles: 0*4//3, 1*4//3, 2*4//3
    assert bwd.owners == (0, 0, 1, 2, 2, 3)  # 6 tiles: t*4//6


def test_mapping_str_is_a_table():
    mp = Mapping.explicit(k=21, n=6, k_ranges=((0, 3), (3, 3), (3, 14), (14, 21)), rows=4, owners=(3, 1))
    lines = str(mp).splitlines()
    assert len(lines) == 1 + 4
    assert "K=21" in lines[0] and "4 slices" in lines[0] and "N=6" in lines[0]
    assert "K[0:3]" in lines[1] and "K[3:3]" in lines[2] and "(0 elems)" in lines[2]
    assert "K[3:14]" in lines[3] and "tiles 1..1" in lines[2] and "tiles 0..0" in lines[4]
    assert "no tiles" in lines[1]
    # owners need not be contiguous: the table lists them
    mp = Mapping.explicit(k=8, n=12, k_ranges=((0, 4), (4, 8)), rows=4, owners=(1, 0, 1))
    assert "tiles 0, 2" in str(mp).splitlines()[2] and "tiles 1..1" in str(mp).splitlines()[1]


@pytest.mark.parametrize("ranges, match", [
    (((0, 5), (4, 8)), "overlaps"),
    (((0, 3), (4, 8)), "unmapped"),
    (((0, 4), (4, 6)), "unmapped"),
    (((0, 4), (4, 10)), "beyond K"),
    (((0, 4), (4, 2), (2, 8)), "stop < start"),
])
def test_mapping_rejects_bad_ranges(ranges, match):
    with pytest.raises(ValueError, match=match):
        Mapping.explicit(k=8, n=6, k_ranges=ranges, rows=4)


def test_mapping_rejects_bad_owners():
    with pytest.raises(ValueError, match="owners"):
        Mapping.explicit(k=8, n=6, k_ranges=((0, 4), (4, 8)), rows=4, owners=(0,))
    with pytest.raises(ValueError, match=r"owners\[1\]"):
        Mapping.explicit(k=8, n=6, k_ranges=((0, 4), (4, 8)), rows=4, owners=(0, 2))
    with pytest.raises(ValueError, match="num_slices"):
        Mapping.even(k=8, n=6, num_slices=0, width=4, rows=4)


# ------------------------------------------------------------------------------ jit and eager


def test_jit_equals_eager():
    """Eager and jitted calls agree bit for bit (here with an integer seed as the key)."""
    cfg, _, data, _ = DEVICE_CASES["stochastic_sigmoid_lut"]
    a, b = data(np.random.default_rng(21), K8)[0]
    mesh = _mesh(4)
    eager = system_matmul(a, b, cfg, mesh=mesh, key=1234)
    jitted = jax.jit(lambda a, b: system_matmul(a, b, cfg, mesh=mesh, key=1234).out)(a, b)
    assert jitted.dtype == eager.out.dtype
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(eager.out))
    assert eager.icn.packets.dtype == jnp.float64
    check(a, b, cfg, key=1234, res=eager)


# ------------------------------------------------------------------------------ bad input


def test_num_slices_must_be_a_multiple_of_devices():
    cfg = ORDERED[3]
    a, b = np.zeros((M, K), np.int16), np.zeros((K, N), np.int16)
    with pytest.raises(ValueError, match=r"num_slices \(3\) must be a multiple of the 2 devices"):
        system_matmul(a, b, cfg, mesh=_mesh(2))
    with pytest.raises(ValueError, match="no axis"):
        system_matmul(a, b, cfg, mesh=_mesh(1), axis_name="x")
    with pytest.raises(ValueError, match="devices must be at most"):
        default_mesh(devices=len(jax.devices()) + 1)


@pytest.mark.parametrize("mapping, match", [
    (Mapping.even(k=20, n=N, num_slices=4, width=4, rows=4), "mapping is for K=20"),
    (Mapping.even(k=K, n=5, num_slices=4, width=4, rows=4), "N=5"),
    (Mapping.even(k=K, n=N, num_slices=2, width=4, rows=4), "2 slices"),
])
def test_mapping_must_fit_the_call(mapping, match):
    with pytest.raises(ValueError, match=match):
        system_matmul(np.zeros((M, K), np.int16), np.zeros((K, N), np.int16), ORDERED[4], mapping=mapping)


def test_mapping_tiles_must_match_the_array():
    mapping = Mapping.even(k=K, n=N, num_slices=4, width=4, rows=8)
    with pytest.raises(ValueError, match=r"mapping.tile_cols \(8\) must equal the array's rows \(4\)"):
        system_matmul(np.zeros((M, K), np.int16), np.zeros((K, N), np.int16), ORDERED[4], mapping=mapping)


def test_mapping_must_be_a_mapping():
    with pytest.raises(TypeError, match="mapping must be a Mapping"):
        system_matmul(np.zeros((M, K), np.int16), np.zeros((K, N), np.int16), ORDERED[2], mapping=((0, K),))
    with pytest.raises(TypeError, match="config must be a SystemConfig"):
        system_matmul(np.zeros((M, K), np.int16), np.zeros((K, N), np.int16), ARR16)


@pytest.mark.parametrize("make, exc, match", [
    (lambda: hw.AggregationConfig(packet_format=None, accumulator_format=fx(32, 16), output_format=None,
                                  activation="gelu"), ValueError, "AggregationConfig.activation"),
    (lambda: hw.AggregationConfig(packet_format=None, accumulator_format=fx(32, 16), output_format=None,
                                  packet_rounding="up"), ValueError, "AggregationConfig.packet_rounding"),
    (lambda: hw.AggregationConfig(packet_format=None, accumulator_format=fx(32, 16), output_format=None,
                                  lut=hw.LUTConfig()), ValueError, "lut needs a non-identity"),
    (lambda: hw.InterconnectConfig(topology="torus"), ValueError, "InterconnectConfig.topology"),
    (lambda: hw.InterconnectConfig(payload_bytes=0), ValueError, "InterconnectConfig.payload_bytes"),
    (lambda: hw.LUTConfig(size=100), ValueError, "LUTConfig.size must be a power of two"),
    (lambda: hw.LUTConfig(x_min=1.0, x_max=-1.0), ValueError, "LUTConfig.x_min"),
    (lambda: hw.LUTConfig(x_min=0.1), ValueError, "LUTConfig.x_min must be a multiple"),
    # the aggregation accumulator keeps the packets' fraction bits
    (lambda: system(2, packet=fx(16, 8), acc=fx(16, 7)), ValueError, "AggregationConfig.accumulator_format.frac"),
    (lambda: system(2, packet=None, acc=fx(32, 8)), ValueError, "AggregationConfig.accumulator_format.frac"),
    # mixed float / fixed formats
    (lambda: system(2, packet=BF16, acc=fx(16, 8)), TypeError,
     "SystemConfig.aggregation formats must be FixedFormat"),
    (lambda: system(2, array=ARRF, packet=FP32, acc=fx(16, 8), out=FP32), TypeError,
     "SystemConfig.aggregation formats must be FloatFormat"),
    (lambda: system(2, array=ARRF, packet=None, acc=FP32, out=fx(16, 8)), TypeError,
     "SystemConfig.aggregation formats must be FloatFormat"),
    (lambda: system(0), ValueError, "SystemConfig.num_slices"),
    # float stages round to nearest even only
    (lambda: system(2, array=ARRF, packet=BF16, acc=FP32, out=FP32, packet_rounding="stochastic"), ValueError,
     "AggregationConfig.packet_rounding must be 'nearest_even' for a float datapath"),
    (lambda: system(2, array=ARRF, packet=BF16, acc=FP32, out=FP32, output_rounding="floor"), ValueError,
     "AggregationConfig.output_rounding must be 'nearest_even' for a float datapath"),
    (lambda: system(2, out=None, activation="tanh"), ValueError, "AggregationConfig.output_format must be set"),
])
def test_config_validation(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_lut_with_exact_output_gives_entry_codes():
    """A LUT on a fixed-point datapath with ``output_format=None`` passes its entry codes through."""
    cfg = system(2, out=None, activation="tanh", lut=LUT_TANH)
    rng = np.random.default_rng(4)
    a = codes(rng, ARR16.a_format, (M, 8), 1 << 9)
    b = codes(rng, ARR16.b_format, (8, N), 1 << 9)
    res, want = check(a, b, cfg)
    table = rs.lut_table("tanh", LUT_TANH)
    entry = [[int(rs.lut_lookup(table, rs.Fraction(v, 256), LUT_TANH) * 1024) for v in row]
             for row in want.aggregated]
    np.testing.assert_array_equal(np.asarray(res.out), entry)  # Q2.10 entry codes


def test_threefry_words_with_an_integer_seed():
    """An int seed with the threefry source: each slice folds the seed with its (traced) index
    into a 0-d uint32, which must give the key of the Python int of the same value (it raised
    'invalid PRNG key data' before), and the result equals the reference, on 1 and 2 devices."""
    arr = ARR16_SR.replace(stochastic=ARR16_SR.stochastic.__class__(source="threefry"))
    cfg = system(8, array=arr, out=fx(16, 14), packet_rounding="stochastic")
    a, b = _q88_data(np.random.default_rng(11), K8, scales=(1 << 7, None))[0]
    base, _ = check(a, b, cfg, key=7)
    assert int(base.events.random_bits) > 0
    assert_same(run(a, b, cfg, d=2, key=7), base)
    assert not np.array_equal(np.asarray(run(a, b, cfg, key=8).out), np.asarray(base.out))
