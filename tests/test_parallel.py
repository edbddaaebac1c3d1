"""Data and model parallelism over several slice systems (``pimjax.system.parallel_matmul``).

Every comparison of results is exact (``np.testing.assert_array_equal``, ``==`` on event
counts). The reference (``tests/ref_system.py``, :func:`ref_system.parallel_matmul`) runs each
unit through the plain system reference and the host's reduction in Python integers (or
Fractions for floats), one element and one addition at a time, in ascending unit index.

Compiles dominate the runtime: a few configs and shapes, each jitted once (``_runner``) and fed
several data sets.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import warnings

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the reference models sit next to this file
import ref_system as rs  # noqa: E402
from pimjax import cost, hw  # noqa: E402
from pimjax.numerics import FloatFormat, fx  # noqa: E402
from pimjax.system import default_mesh, parallel_matmul, system_matmul  # noqa: E402
from budget import THOROUGH, examples, quick_subset  # noqa: E402  (tests/budget.py: the default run and the thorough one)

ARR16 = hw.presets.get("memory_slices").replace(rows=4, width=4)  # Q8.8 operands, Q16.16 accumulator
ARRF = hw.presets.get("memory_slices_fp32").replace(rows=4, width=4)
BF16 = FloatFormat(name="bf16")
M, K, N = 5, 37, 6  # model on 4 units: chunks 3, 3, 2, 2 (K-ranges 12, 12, 8, 5); data: rows 2, 2, 1, idle


def unit(num_slices=2, *, array=ARR16, packet=fx(16, 8), acc=fx(16, 8), out=fx(12, 6), **agg) -> hw.SystemConfig:
    return hw.SystemConfig(array=array, num_slices=num_slices,
                           aggregation=hw.AggregationConfig(packet_format=packet, accumulator_format=acc,
                                                            output_format=out, **agg))


def node(num_units, scheme="model", *, u=None, **host) -> hw.ParallelConfig:
    h = None
    if scheme == "model":
        h = dict(packet_format=fx(12, 4), accumulator_format=fx(16, 4), output_format=fx(10, 2))
        h.update(host)
        h = hw.AggregationConfig(**h)
    return hw.ParallelConfig(unit=u or unit(), num_units=num_units, scheme=scheme, host=h)


# saturating narrow formats everywhere, stochastic host roundings, relu on the host
MODEL_SR = node(4, packet_rounding="stochastic", output_rounding="stochastic", activation="relu")
DATA_SR = node(4, "data", u=unit(packet_rounding="stochastic", activation="relu"))
LUT = hw.LUTConfig(size=64, x_min=-4.0, x_max=4.0, entry_format=fx(12, 8))
MODEL_LUT = node(3, activation="tanh", lut=LUT, output_format=None)
FLOAT = hw.ParallelConfig(
    unit=unit(array=ARRF, packet=BF16, acc=BF16, out=BF16), num_units=4,
    host=hw.AggregationConfig(packet_format=BF16, accumulator_format=BF16, output_format=FloatFormat(name="fp16"),
                              activation="sigmoid"))


@functools.lru_cache(maxsize=None)
def _runner(cfg, d=1, k_ranges=None):
    mesh = default_mesh(devices=d)
    return jax.jit(lambda a, b, key: parallel_matmul(a, b, cfg, mesh=mesh, key=key, k_ranges=k_ranges))


def run(a, b, cfg, *, d=1, key=None, k_ranges=None):
    return _runner(cfg, d, k_ranges)(a, b, key)


def codes(rng, shape, scale):
    return rng.integers(-scale, scale, size=shape, endpoint=True).astype(np.int16)


def operands(seed, scale=2000, m=M, k=K, n=N, is_float=False):
    rng = np.random.default_rng(seed)
    if is_float:
        return (rng.normal(size=(m, k)).astype(np.float32), rng.normal(size=(k, n)).astype(np.float32))
    return codes(rng, (m, k), scale), codes(rng, (k, n), scale)


def check(a, b, cfg, *, key=None, d=1, k_ranges=None, res=None):
    """Runs the node (unless ``res``) and asserts it equals the reference: outputs and events."""
    if res is None:
        res = run(a, b, cfg, d=d, key=key, k_ranges=k_ranges)
    want = rs.parallel_matmul(a, b, cfg, key=key, k_ranges=k_ranges)
    got = np.asarray(res.out)
    np.testing.assert_array_equal(got.astype(np.float64 if cfg.unit.array.is_float else np.int64), want.out)
    assert int(res.events.overflow) == want.overflow
    assert int(res.events.nan) == want.nan
    return res, want


def assert_same(r1, r2):
    assert r1.out.dtype == r2.out.dtype
    np.testing.assert_array_equal(np.asarray(r1.out), np.asarray(r2.out))
    for ev1, ev2 in ((r1.events, r2.events), (r1.unit_events, r2.unit_events), (r1.host_events, r2.host_events)):
        for name, x, y in zip(ev1._fields, ev1, ev2):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=name)
    np.testing.assert_array_equal(np.asarray(r1.ordered), np.asarray(r2.ordered))
    assert r1.splits == r2.splits and r1.mappings == r2.mappings


# ------------------------------------------------------------------------------ against the reference


@pytest.mark.parametrize("cfg", quick_subset([MODEL_SR, DATA_SR, MODEL_LUT], [MODEL_SR],
                                                     ids=lambda c: ["model_sr", "data_sr", "model_lut"][[MODEL_SR, DATA_SR, MODEL_LUT].index(c)]))
@settings(max_examples=examples(2, 6))
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([40, 700, 30000]), int_key=st.booleans())
def test_random_cases_equal_reference(cfg, seed, scale, int_key):
    """Random operands of a few magnitudes (no overflow .. everything saturating); integer seeds
    and jax keys (a unit index traced through ``lax.map`` folds like a static one)."""
    a, b = operands(seed, scale)
    key = seed % 1000 if int_key else jax.random.key(seed)
    res, _ = check(a, b, cfg, key=key)
    want_splits = ((0, 2), (2, 4), (4, 5), (5, 5)) if cfg.scheme == "data" else None
    assert res.splits == (want_splits or res.splits)


@pytest.mark.slow  # float hosts: test_float_host_keeps_subnormal_partials
@settings(max_examples=examples(1, 4))
@given(seed=st.integers(0, 2**31 - 1))
def test_float_model_equals_reference(seed):
    """bf16 datapath: bf16 partials, the host adds in bf16 rounding after every addition, sigmoid, fp16."""
    a, b = operands(seed, is_float=True)
    res, _ = check(a, b, FLOAT)
    assert res.out.dtype == np.dtype(np.float16)


@pytest.mark.slow  # traffic of idle units; the node's costs: test_sync_cost_equals_amd_formula
def test_idle_units_send_nothing():
    """Data: M = 5 on 4 units leaves unit 3 idle; model: K = 8 on 4 units (2 chunks) leaves 2 idle."""
    a, b = operands(3, 30000)
    res, _ = check(a, b, DATA_SR, key=1)
    assert res.active == (0, 1, 2) and res.mappings[3] is None and res.unit_shapes[3] is None
    assert int(res.unit_events.random_bits[3]) == 0 and not bool(res.ordered[3])
    assert int(np.sum(np.asarray(res.unit_events.overflow))) == int(res.events.overflow)
    a8, b8 = a[:, :8], b[:8]
    res, _ = check(a8, b8, MODEL_SR, key=2)
    assert res.splits == ((0, 4), (4, 8), (8, 8), (8, 8)) and res.active == (0, 1)


def test_explicit_k_ranges():
    a, b = operands(4, 30000)
    kr = ((0, 3), (3, 3), (3, 30), (30, 37))  # ragged, one idle
    res, _ = check(a, b, MODEL_SR, key=3, k_ranges=kr)
    assert res.splits == kr and res.unit_shapes[2] == (M, 27, N)


# ------------------------------------------------------------------------------ adversarial


def test_host_adds_in_ascending_unit_index():
    """Partials +100, +100, -100 into a saturating Q8.8 host accumulator: ascending unit order
    gives sat(100 + 100) - 100 = 27.99.., descending would give 100 (row 1, -100 first: the
    other way round)."""
    exact = unit(packet=None, acc=fx(32, 16), out=None)
    cfg = hw.ParallelConfig(unit=exact, num_units=3,
                            host=hw.AggregationConfig(packet_format=fx(16, 8), accumulator_format=fx(16, 8),
                                                      output_format=None))
    a = np.zeros((2, 12), np.int16)
    a[0, [0, 4, 8]] = (256, 256, -256)  # row 0: 1.0, 1.0, -1.0 in Q8.8, one per unit
    a[1, [0, 4, 8]] = (-256, 256, 256)  # row 1: the negative partial first
    b = np.zeros((12, 1), np.int16)
    b[[0, 4, 8], 0] = 25600  # 100.0
    res, want = check(a, b, cfg)
    partials = [[25600, 25600, -25600], [-25600, 25600, 25600]]

    def sat16(v):
        return max(-(2**15), min(2**15 - 1, v))

    ascending = [functools.reduce(lambda acc, p: sat16(acc + p), row, 0) for row in partials]
    descending = [functools.reduce(lambda acc, p: sat16(acc + p), row[::-1], 0) for row in partials]
    np.testing.assert_array_equal(np.asarray(res.out)[:, 0], ascending)
    assert ascending == [7167, 25600] and descending == [25600, 7167]
    assert int(res.host_events.overflow) == 1  # row 0's second addition saturates


def test_data_deterministic_equals_one_system():
    """Row blocks with deterministic rounding: the same bits and events as one system over all rows."""
    u = unit(activation="relu")
    cfg = node(3, "data", u=u)
    a, b = operands(7, 30000, m=7)  # rows 3, 3, 1
    res = run(a, b, cfg)
    one = jax.jit(lambda a, b: system_matmul(a, b, u))(a, b)
    np.testing.assert_array_equal(np.asarray(res.out), np.asarray(one.out))
    for name, x, y in zip(one.events._fields, res.events, one.events):
        assert int(x) == int(y), name
    assert int(res.events.overflow) > 0
    assert res.splits == ((0, 3), (3, 6), (6, 7))


@pytest.mark.slow  # the exact path: test_random_cases_equal_reference draws small (exact) data too
def test_model_exact_equals_integer_product():
    """Exact unit aggregation and a wide host accumulator: the exact integer product."""
    exact = unit(packet=None, acc=fx(32, 16), out=None)
    cfg = hw.ParallelConfig(unit=exact, num_units=4,
                            host=hw.AggregationConfig(packet_format=None, accumulator_format=fx(32, 16),
                                                      output_format=None))
    a, b = operands(8, 1000)  # |sum| <= 37e6 < 2**31
    res = run(a, b, cfg)
    np.testing.assert_array_equal(np.asarray(res.out), a.astype(np.int64) @ b.astype(np.int64))
    assert all(int(x) == 0 for x in res.events)


def test_stochastic_reproducible():
    a, b = operands(9, 30000)
    r1 = run(a, b, MODEL_SR, key=jax.random.key(11))
    r2 = run(a, b, MODEL_SR, key=jax.random.key(11))
    r3 = run(a, b, MODEL_SR, key=jax.random.key(12))
    assert_same(r1, r2)
    assert not np.array_equal(np.asarray(r1.out), np.asarray(r3.out))
    assert int(r1.host_events.random_bits) == int(r3.host_events.random_bits) > 0


# ------------------------------------------------------------------------------ devices

DEV_UNIT = unit(8, packet_rounding="stochastic")
DEV_CFGS = {"model": node(2, u=DEV_UNIT, packet_rounding="stochastic", output_rounding="stochastic"),
            "data": node(3, "data", u=DEV_UNIT)}


@pytest.mark.parametrize("scheme", quick_subset(["model", "data"], {"model"}))
def test_devices_give_identical_bits(scheme):
    """Each unit's 8 slices on 1, 2, 4 and 8 devices (the default run: 1 and 4, 1 and 8 for data):
    identical bits, equal to the reference."""
    cfg = DEV_CFGS[scheme]
    a, b = operands(10, 30000, k=70)
    key = jax.random.key(4)
    first = run(a, b, cfg, key=key)
    check(a, b, cfg, key=key, res=first)
    for d in ((2, 4, 8) if THOROUGH else (4,)) if scheme == "model" else (8,):
        assert_same(first, run(a, b, cfg, d=d, key=key))


# ------------------------------------------------------------------------------ costs


def test_sync_cost_equals_amd_formula():
    """4 units of a Q8.8-output system on the 4PIM node: hand-computed host bytes and times."""
    cfg = node(4)  # unit output fx(12, 6) and host output fx(10, 2): 2 bytes each
    r = M * N * 2
    s = cost.host_sync(M, K, N, cfg)
    p_host, bw_hs, bw_r = 4 * 650e9, 160e9, 40e9  # AMD Sec. 6.1, Sec. 3 (Host_4_640), Sec. 6.4
    assert s.reduction_s == max(3 * M * N / p_host, 2 * r / bw_hs)
    assert s.copy_back_s == r / bw_r
    assert (s.dram_bytes_read, s.dram_bytes_written, s.additions) == (4 * r + 3 * r, r + 3 * r, 3 * M * N)
    # the same formula as the analytic AMD model of an FC layer with 2-byte elements
    t = cost.model_parallel_time(cost.FCLayer(batch=M, in_features=K, out_features=N, bytes_per_element=2),
                                 hw.presets.get("4PIM"))
    assert (t.reduction_s, t.copy_back_s) == (s.reduction_s, s.copy_back_s)
    rec = cost.parallel_cost(M, K, N, cfg)
    units = [cost.system_cost(M, mp.k_sizes, N, mp.owners, mp.tile_cols, cfg.unit)
             for mp in (_even(ku, cfg.unit) for ku in (12, 12, 8, 5))]
    assert float(rec.time_s) == max(float(u.time_s) for u in units) + s.sync_s
    assert float(rec.dram_bytes_read) == sum(float(u.dram_bytes_read) for u in units) + 7 * r
    assert float(rec.dram_bytes_written) == sum(float(u.dram_bytes_written) for u in units) + 4 * r
    e_host = 11 * r * 8 * cfg.unit.memory.energy_pj_per_bit
    assert float(rec.energy_dram_pj) == pytest.approx(sum(float(u.energy_dram_pj) for u in units) + e_host, rel=1e-12)
    assert float(rec.macs) == M * K * N
    assert float(rec.aggregation_additions) == sum(float(u.aggregation_additions) for u in units) + 3 * M * N


def _even(k, u):
    from pimjax.system import Mapping

    return Mapping.even(k=k, n=N, num_slices=u.num_slices, width=u.array.width, rows=u.array.rows)


def test_data_cost_replicates_weights():
    """Data: no sync; every active unit reads all of B; time is the slowest unit's."""
    cfg = DATA_SR
    rec = cost.parallel_cost(M, K, N, cfg)
    assert cost.host_sync(M, K, N, cfg) == cost.HostSync(0.0, 0.0, 0, 0, 0)
    mp = _even(K, cfg.unit)
    units = [cost.system_cost(mu, mp.k_sizes, N, mp.owners, mp.tile_cols, cfg.unit) for mu in (2, 2, 1)]
    assert float(rec.time_s) == max(float(u.time_s) for u in units)
    assert float(rec.dram_bytes_read) == sum(float(u.dram_bytes_read) for u in units)
    assert float(rec.dram_bytes_read) >= 3 * K * N * 2  # B (2-byte codes) read by each of the 3 active units


def test_costed_under_jit():
    a, b = operands(12, 30000)
    f = jax.jit(lambda a, b, key: cost.costed_parallel_matmul(a, b, MODEL_SR, key=key))
    res, rec = f(a, b, jax.random.key(2))
    want = cost.parallel_cost(M, K, N, MODEL_SR, events=res.events)
    for name in cost.FIELDS:
        assert float(getattr(rec, name)) == float(getattr(want, name)), name
    assert float(rec.overflow) == int(res.events.overflow) and float(rec.random_bits) > 0
    np.testing.assert_array_equal(np.asarray(res.out), np.asarray(run(a, b, MODEL_SR, key=jax.random.key(2)).out))


# ------------------------------------------------------------------------------ bad input


def _host(**kw):
    d = dict(packet_format=fx(12, 4), accumulator_format=fx(16, 4), output_format=fx(10, 2))
    d.update(kw)
    return hw.AggregationConfig(**d)


@pytest.mark.parametrize("kw, err, field", [
    (dict(unit=ARR16), TypeError, "ParallelConfig.unit"),
    (dict(num_units=0), ValueError, r"ParallelConfig.num_units must be in 1\.\.1024"),
    (dict(num_units=1025), ValueError, r"ParallelConfig.num_units must be in 1\.\.1024"),
    (dict(num_units=2.0), TypeError, "ParallelConfig.num_units"),
    (dict(num_units=True), TypeError, "ParallelConfig.num_units"),
    (dict(scheme="pipeline"), ValueError, "ParallelConfig.scheme must be one of"),
    (dict(host=None), ValueError, "ParallelConfig.host must be an AggregationConfig"),
    (dict(host="sum"), TypeError, "ParallelConfig.host must be an AggregationConfig"),
    (dict(scheme="data"), ValueError, "ParallelConfig.host must be None for scheme 'data'"),
    (dict(unit=unit(activation="relu")), ValueError, "ParallelConfig.unit.aggregation.activation"),
    (dict(host=_host(accumulator_format=fx(16, 5))), ValueError, "ParallelConfig.host.accumulator_format.frac"),
    (dict(host=_host(packet_format=None)), ValueError, r"ParallelConfig.host.accumulator_format.frac must .* 6"),
    (dict(host=_host(output_format=BF16)), TypeError, "ParallelConfig.host.output_format"),
    (dict(host=_host(activation="tanh", output_format=None)), ValueError, "ParallelConfig.host.output_format"),
    (dict(unit=FLOAT.unit, host=dataclasses.replace(FLOAT.host, output_rounding="floor")), ValueError,
     "ParallelConfig.host.output_rounding"),
    (dict(node=hw.presets.get("8PIM")), ValueError, r"ParallelConfig.node.num_pims \(8\)"),
    (dict(node="4PIM"), TypeError, "ParallelConfig.node"),
    (dict(name=3), TypeError, "ParallelConfig.name"),
])
def test_bad_config(kw, err, field):
    base = dict(unit=unit(), num_units=4, scheme="model", host=_host())
    base.update(kw)
    with pytest.raises(err, match=field):
        hw.ParallelConfig(**base)


def test_replace_and_node():
    cfg = node(4)
    assert cfg.sync_node == hw.presets.get("4PIM")
    eight = dataclasses.replace(cfg, num_units=8)
    assert eight.sync_node == hw.presets.get("8PIM") and eight.replace(num_units=3).sync_node.num_pims == 3
    data = cfg.replace(scheme="data", host=None)
    assert data.scheme == "data"
    with pytest.raises(ValueError, match="ParallelConfig.num_units"):
        cfg.replace(num_units=0)
    assert hw.amd_node(2).host.peak_gflops == 2 * 650.0


def test_bad_calls():
    a, b = operands(0, 40)
    with pytest.raises(TypeError, match="config must be a ParallelConfig"):
        parallel_matmul(a, b, unit())
    with pytest.raises(ValueError, match="k_ranges must have one"):
        parallel_matmul(a, b, MODEL_SR, key=1, k_ranges=((0, 37),))
    with pytest.raises(ValueError, match="k_ranges: .*leaves K elements"):
        parallel_matmul(a, b, MODEL_SR, key=1, k_ranges=((0, 3), (4, 5), (5, 6), (6, 37)))
    with pytest.raises(ValueError, match="k_ranges applies to scheme 'model'"):
        parallel_matmul(a, b, DATA_SR, key=1, k_ranges=((0, 37),) * 4)
    with pytest.raises(ValueError, match="ParallelConfig.host.packet_rounding 'stochastic' needs a key"):
        parallel_matmul(a, b, MODEL_SR)
    with pytest.raises(ValueError, match="inner dimensions"):
        parallel_matmul(a, b[:5], MODEL_SR, key=1)
    with pytest.raises(ValueError, match="outside ArrayConfig.a_format"):
        parallel_matmul(np.full((2, 3), 2**20, np.int32), b[:3], MODEL_SR, key=1)
    with pytest.raises(ValueError, match=r"m must be"):
        cost.parallel_cost(0, K, N, MODEL_SR)
    with pytest.raises(TypeError, match="config must be a ParallelConfig"):
        cost.parallel_cost(M, K, N, unit())


# ------------------------------------------------------------------------------ study script


@pytest.mark.slow  # the study script end to end; its parts are the tests above
def test_study_script(tmp_path):
    import importlib.util
    import json

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "parallel_schemes.py")
    spec = importlib.util.spec_from_file_location("parallel_schemes", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(["--out", str(tmp_path), "--batches", "4,8", "--in-features", "40", "--out-features", "8",
              "--numerics-batch", "2", "--numerics-in", "40", "--numerics-out", "3", "--slices", "2"])
    rows = json.loads((tmp_path / "parallel_schemes.json").read_text())
    assert {(r["batch"], r["scheme"], r["units"]) for r in rows["costs"]} == {
        (b, s, n) for b in (4, 8) for s in ("data", "model") for n in (4, 8)}
    # data parallelism replicates W on every unit, model parallelism splits it (AMD Fig. 11)
    w = {(r["scheme"], r["units"]): r["weight_bytes_per_unit"] for r in rows["costs"] if r["batch"] == 4}
    assert w[("data", 4)] == w[("data", 8)] == 40 * 8 * 2 and w[("model", 8)] == 8 * 8 * 2  # whole 8-wide chunks: 5 busy units
    assert all(r["sync_s"] == 0 for r in rows["costs"] if r["scheme"] == "data")
    acc = {r["host_accumulator_bits"]: r for r in rows["numerics"] if r["units"] == 8}
    assert acc[32]["max_abs_error"] <= acc[16]["max_abs_error"]
    assert (tmp_path / "parallel_schemes.csv").read_text().startswith("batch,scheme,")
    assert (tmp_path / "parallel_schemes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_float_host_keeps_subnormal_partials():
    """fp32 partials below 2**-126 (subnormal) reach the host's sum exactly (a plain float32 ->
    float64 convert outside an x64 scope flushed them to 0 on XLA:CPU)."""
    fp32 = FloatFormat(name="fp32")
    cfg = hw.ParallelConfig(
        unit=unit(array=ARRF, packet=fp32, acc=fp32, out=fp32), num_units=2,
        host=hw.AggregationConfig(packet_format=None, accumulator_format=fp32, output_format=None))
    a = np.zeros((1, 8), np.float32)
    b = np.zeros((8, 1), np.float32)
    a[0, 0], b[0, 0] = 2.0**-70, 2.0**-70   # unit 0's partial: 2**-140, an fp32 subnormal
    a[0, 4], b[4, 0] = 2.0**-71, 2.0**-70   # unit 1's partial: 2**-141
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no silent truncation to float32
        res = parallel_matmul(a, b, cfg)
    assert res.splits == ((0, 4), (4, 8))
    assert float(np.asarray(res.out)[0, 0]) == 2.0**-140 + 2.0**-141
    check(a, b, cfg, res=res)  # and the reference, bit for bit


@pytest.mark.slow  # float events: test_float_model_equals_reference; NaN counting: test_system
def test_float_nan_counted_once_where_it_appears():
    """A NaN operand makes one unit's partial NaN (counted there) and the host's sum NaN (not
    counted again): the node reports what one system reports. +Inf and -Inf partials make a NaN
    in the host's addition, which the host counts."""
    fp32 = FloatFormat(name="fp32")
    u = unit(array=ARRF, packet=fp32, acc=fp32, out=fp32)
    cfg = hw.ParallelConfig(unit=u, num_units=2,
                            host=hw.AggregationConfig(packet_format=None, accumulator_format=fp32, output_format=None))
    a = np.zeros((1, 8), np.float32)
    b = np.ones((8, 2), np.float32)
    a[0, 0] = np.nan
    res, want = check(a, b, cfg, res=parallel_matmul(a, b, cfg))
    assert int(res.events.nan) == want.nan == 2  # both outputs of row 0, once each
    assert int(res.host_events.nan) == 0
    one = system_matmul(a, b, u)
    assert int(one.events.nan) == int(res.events.nan)
    a = np.zeros((1, 8), np.float32)
    a[0, 0], a[0, 4] = np.inf, -np.inf  # unit 0's partials +Inf, unit 1's -Inf
    res, want = check(a, b, cfg, res=parallel_matmul(a, b, cfg))
    assert int(np.sum(np.asarray(res.unit_events.nan))) == 0 and int(res.host_events.nan) == want.nan == 2
