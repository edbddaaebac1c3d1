"""Numeric event counts are exact end to end: units, system, the nn layers' FF events and probes,
the cost tables and the training report (docs/design.md section 4: "exact for the shapes traced").

Counts beyond 2**31 (int32 wraps) come from wide K x N with few rows; counts beyond 2**24 that
float32 cannot hold (odd ones) from a width-1 array whose products drop 15 bits (15 random bits
per word, no padded lanes). Every check is exact equality with a Python-int formula of the
documented definition (``system_matmul``: one word per multiplier slot of each slice's own
K-chunks, ``min(d, r)`` bits each).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pimjax import hw
from pimjax.apps.cost._collect import _sum_calls, collect_costs, format_cost_table
from pimjax.cost import CostRecord
from pimjax.nn import (EVENT_SHAPE, PROBE_SHAPE, PhaseConfig, TrainingHardware, decode_events, emulated_dot,
                       encode_events, phase_matmul, probe_events, training_hardware, zero_probe)
from pimjax.nn._emulated import MAX_PROBE_USES
from pimjax.nn._layers import CostProbe, matmul_costs
from pimjax.nn._lstm import EmuLSTMCell
from pimjax.nn._translator import _scan
from pimjax.numerics import FixedFormat, NumericEvents, fold_key
from pimjax.numerics._events import _rbits_count, count_true
from pimjax.numerics._formats import ROUNDING_MODES
from pimjax.system import Mapping, default_mesh, system_matmul
from pimjax.units import systolic_matmul

RNG = np.random.default_rng(0)


def _counting_hw(d: int = 15) -> TrainingHardware:
    """Every phase on a width-1 array, products rounded stochastically by ``d`` bits: a call
    ``(M, K) @ (K, N)`` draws ``d * M * K * N`` random bits (odd for odd d, M, K, N)."""
    q = FixedFormat(bits=16, frac=8)
    acc = FixedFormat(bits=32, frac=16 - d)
    arr = hw.ArrayConfig(rows=8, width=1, a_format=q, b_format=q, product_format=acc, product_rounding="stochastic",
                         accumulator_format=acc, output_format=acc)
    agg = hw.AggregationConfig(packet_format=None, accumulator_format=acc, output_format=acc)
    phase = PhaseConfig(system=hw.SystemConfig(array=arr, num_slices=1, aggregation=agg))
    return TrainingHardware(ff=phase, bp=phase, up=phase)


def _ints(ev: NumericEvents) -> list[int]:
    return [int(v) for v in ev]


# ------------------------------------------------------------------------------ units, system


def test_systolic_random_bits_beyond_int32():
    """The defect's repro: 16 bits x 1024 x 1 x 128 slots x 1024 chunks = 2**31 (int32: -2**31)."""
    cfg = hw.presets.get("neurotrainer_bp")
    a = RNG.integers(-4096, 4096, (1024, 1024)).astype(np.int32)
    b = RNG.integers(-4096, 4096, (1024, 128)).astype(np.int32)
    res = jax.jit(lambda a, b: systolic_matmul(a, b, cfg, key=0))(a, b)
    d = cfg.a_format.frac + cfg.b_format.frac - cfg.product_format.frac
    m, k, n, w = 1024, 1024, 128, cfg.width
    want = min(d, cfg.stochastic.bits) * m * w * n * -(-k // w)
    assert want == 2**31
    assert res.events.random_bits.dtype == np.int64
    assert int(res.events.random_bits) == want
    assert _ints(res.events)[:3] == [0, 0, 0]


def test_system_random_bits_beyond_int32_sharded():
    """Two slices of 301 and 720 elements (width 8: 38 + 90 chunks, the first slice's ragged last
    chunk padded to 304 lanes, its 52 padding chunks not counted) on 2 devices (shard_map)."""
    arr = hw.presets.get("neurotrainer_bp").replace(width=8)
    cfg = hw.SystemConfig(array=arr, num_slices=2, aggregation=hw.AggregationConfig(
        packet_format=None, accumulator_format=arr.accumulator_format, output_format=None))
    m, k, n = 1024, 1021, 128
    a = RNG.integers(-4096, 4096, (m, k)).astype(np.int32)
    b = RNG.integers(-4096, 4096, (k, n)).astype(np.int32)
    mp = Mapping.explicit(k=k, n=n, k_ranges=[(0, 301), (301, k)], rows=arr.rows)
    res = jax.jit(lambda a, b: system_matmul(a, b, cfg, mapping=mp, key=3, mesh=default_mesh(devices=2)))(a, b)
    d = arr.a_format.frac + arr.b_format.frac - arr.product_format.frac
    lanes = sum(-(-(hi - lo) // 8) * 8 for lo, hi in mp.k_ranges)
    want = min(d, arr.stochastic.bits) * m * n * lanes
    assert lanes == 304 + 720 and want == 2**31
    assert res.events.random_bits.dtype == np.int64 and int(res.events.random_bits) == want


def test_counting_helpers_are_int64_under_vmap():
    """Random bits of traced rounding modes (the sweep datapath), beyond int32, under vmap."""
    ids = jnp.asarray([ROUNDING_MODES.index("stochastic"), ROUNDING_MODES.index("nearest_even"),
                       ROUNDING_MODES.index("sr_lo")], jnp.int32)
    got = jax.jit(jax.vmap(lambda r: _rbits_count(r, 16, 2**36 + 3, 32)))(ids)
    assert got.dtype == np.int64
    assert [int(v) for v in got] == [16 * (2**36 + 3), 0, 16 * (2**36 + 3)]
    assert int(_rbits_count("stochastic", jnp.asarray(40), 2**40 + 1, 32)) == 32 * (2**40 + 1)
    assert int(count_true(jnp.ones((3, 5), bool))) == 15


def test_merge_and_make_are_exact_outside_x64():
    """Events add in int64 whatever the dtypes given, eager and under jit (x64 off globally)."""
    big = NumericEvents.make(overflow=2**31 + 1, random_bits=2**40 + 7)
    small = NumericEvents(jnp.int32(5), jnp.int32(1), jnp.int32(0), jnp.int32(2**31 - 1))

    def f(small):
        return big.merge(small).merge(big)

    for ev in (f(small), jax.jit(f)(small)):
        assert all(x.dtype == np.int64 for x in ev)
        assert _ints(ev) == [2**32 + 7, 1, 0, 2**41 + 14 + 2**31 - 1]


# ------------------------------------------------------------------------------ the encoding


def test_encoded_events_sum_exactly_in_float32():
    """MAX_PROBE_USES encodings summed in float32 (any order) decode to the exact int64 sum, the
    worst case (every low limb 255) included; one more worst-case use is refused, not rounded."""
    n = MAX_PROBE_USES
    assert n == 65793 and EVENT_SHAPE == (4, 6)
    counts = RNG.integers(0, 2**40, (n, 4), dtype=np.int64)
    counts[: n // 2] = 2**40 - 1  # every low limb 255: the limb sums reach 65793 * 255 <= 2**24
    counts[0] = [2**24 + 1, 2**31, 2**53 + 1, 2**48 - 1]
    enc = jnp.stack([encode_events(NumericEvents.make(*map(int, c))) for c in counts[:64]])
    assert enc.dtype == jnp.float32 and enc.shape == (64, *EVENT_SHAPE)
    np.testing.assert_array_equal(np.asarray(decode_events(enc)), counts[:64])  # round trip
    enc = jax.jit(jax.vmap(lambda c: encode_events(NumericEvents(*c))))(counts_to_i64(counts))
    for order in (np.arange(n), RNG.permutation(n)):
        total = jnp.sum(enc[order], axis=0)  # float32
        assert total.dtype == jnp.float32
        assert [int(v) for v in decode_events(total)] == [sum(int(c) for c in counts[:, i]) for i in range(4)]
    worst = jnp.sum(jnp.broadcast_to(encode_events(NumericEvents.make(255, 0, 0, 0)), (n + 2, *EVENT_SHAPE)), axis=0)
    with pytest.raises(ValueError, match="more than 65793 uses of one probe"):
        decode_events(worst)


def counts_to_i64(counts):
    with jax.enable_x64(True):
        return jnp.asarray(counts, jnp.int64)


# ------------------------------------------------------------------------------ nn: FF events, probes


@pytest.mark.slow  # 2**31 stochastic roundings run; test_odd_counts_beyond_2_24_... covers the limbs by default
def test_emulated_dot_events_beyond_int32():
    """BP and UP at M=128, K=N=1024 draw 16 x 2**27 = 2**31 random bits each (NeuroTrainer SR):
    the probe gradient decodes to them exactly, as the units count them."""
    hwt = training_hardware("neurotrainer")
    m, k, n = 128, 1024, 1024
    x = jnp.asarray(RNG.standard_normal((m, k)), jnp.float32)
    w = jnp.asarray(RNG.standard_normal((k, n)) / 32, jnp.float32)
    seed = jnp.uint32(7)

    def loss(x, w, probe):
        y, ev = emulated_dot(x, w, hwt, seed=seed, probe=probe)
        return jnp.sum(y), ev

    (_, ev), (gx, gprobe) = jax.jit(jax.value_and_grad(loss, argnums=(0, 2), has_aux=True))(x, w, zero_probe())
    assert gprobe.shape == PROBE_SHAPE and gprobe.dtype == jnp.float32
    got = probe_events(gprobe, ev)
    _, ev_ff = phase_matmul(x, w, hwt.ff, key=fold_key(seed, 0), mesh=None)
    assert _ints(got["ff"]) == _ints(ev_ff)
    for ph, (pm, pk, pn) in (("bp", (m, n, k)), ("up", (k, m, n))):
        arr = hwt.phase(ph).system.array
        d = arr.a_format.frac + arr.b_format.frac - arr.product_format.frac
        want = min(d, arr.stochastic.bits) * pm * (-(-pk // arr.width) * arr.width) * pn
        assert want == 2**31
        assert int(got[ph].random_bits) == want, ph
    # the BP phase as the units count it
    _, ev_bp = phase_matmul(jnp.ones((m, n), jnp.float32), w, hwt.bp, key=fold_key(seed, 1), mesh=None,
                            transpose_b=True)
    assert int(ev_bp.random_bits) == int(got["bp"].random_bits)
    # and the cost records of matmul_costs hold them exactly (float64)
    recs = matmul_costs(m, k, n, hwt, got)
    assert [recs[p].to_dict()["random_bits"] for p in ("bp", "up")] == [2.0**31, 2.0**31]


def test_odd_counts_beyond_2_24_and_a_probe_used_twice():
    """One call: 15 x 3 x 613 x 613 = 16909605 random bits per phase (odd, above 2**24: float32
    rounds it); a function calling emulated_dot twice with the same probe decodes to the sum."""
    hwt = _counting_hw()
    m, k, n = 3, 613, 613
    c = 15 * m * k * n
    assert c > 2**24 and c % 2 == 1 and float(np.float32(c)) != c
    x = jnp.asarray(RNG.standard_normal((m, k)), jnp.float32)
    w = jnp.asarray(RNG.standard_normal((k, n)) / 32, jnp.float32)

    def twice(w, probe):
        y1, e1 = emulated_dot(x, w, hwt, seed=1, probe=probe)
        y2, e2 = emulated_dot(x, w, hwt, seed=2, probe=probe)
        return jnp.sum(y1 * y2), (e1, e2)

    gprobe, (e1, e2) = jax.jit(jax.grad(twice, argnums=1, has_aux=True))(w, zero_probe())
    for e in (e1, e2):
        assert int(probe_events(ff_events=e)["ff"].random_bits) == c
    got = probe_events(gprobe)
    assert int(got["bp"].random_bits) == 2 * c and int(got["up"].random_bits) == 2 * c
    # the units' counts of the two calls' BP phases, added
    dy = jnp.ones((m, n), jnp.float32)
    bp = [phase_matmul(dy, w, hwt.bp, key=fold_key(jnp.uint32(s), 1), mesh=None, transpose_b=True)[1]
          for s in (1, 2)]
    assert int(got["bp"].random_bits) == sum(int(e.random_bits) for e in bp)


@pytest.mark.slow  # an LSTM's probe over time steps; test_translator's training steps keep its events
def test_lstm_over_time_steps_sums_probe_exactly():
    """An LSTM cell scanned over 7 steps (the translator's ``_scan``): its probe gradient, summed
    by JAX over the steps, and its cost records hold 7 x 15 x B x (I + H) x 4H random bits per
    phase, exactly (4 x an odd number above 2**24: not a float32)."""
    hwt = _counting_hw()
    b, i, h, t = 5, 2, 201, 7
    per_step = 15 * b * (i + h) * 4 * h
    want = t * per_step
    assert float(np.float32(want)) != want
    cell = EmuLSTMCell(i, h, hw=hwt, layer_id=0, rngs=nnx.Rngs(0))
    xs = jnp.asarray(RNG.standard_normal((t, b, i)), jnp.float32)

    def loss(model):
        def body(m, state, x_t):
            new = m(x_t, state, seed=jnp.uint32(3))
            return new, new[0]

        _, hs = _scan(model, body, model.initial_state(b), xs)
        return jnp.sum(hs)

    diff = nnx.DiffState(0, nnx.Any(nnx.Param, CostProbe))
    grads = nnx.jit(lambda m: nnx.grad(loss, argnums=diff)(m))(cell)
    inter = nnx.pop(cell, nnx.Intermediate)
    probe_g = nnx.state(grads, CostProbe)
    (gp,) = jax.tree.leaves(probe_g)
    got = probe_events(gp)
    assert int(got["bp"].random_bits) == want and int(got["up"].random_bits) == want
    costs = collect_costs(inter, probe_g)["gates"]
    assert [costs[p].to_dict()["random_bits"] for p in ("ff", "bp", "up")] == [float(want)] * 3
    assert int(costs["ff"].random_bits) == want


# ------------------------------------------------------------------------------ apps: sums, tables


def test_sum_of_stacked_records_is_float64():
    """Records stacked by a scan are summed in float64: 3 x (2**30 + 1) exactly."""
    with jax.enable_x64(True):
        stacked = jax.tree.map(lambda v: jnp.stack([v] * 3), CostRecord.make(macs=2**30 + 1, random_bits=2**51 + 1))
    total = _sum_calls({"ff": stacked})["ff"].to_dict()
    assert total["macs"] == 3 * (2**30 + 1) == 3221225475
    assert total["random_bits"] == 3 * (2**51 + 1)  # < 2**53


def test_cost_table_shows_exact_integers():
    rec = CostRecord.make(macs=1, overflow=2**31 + 3, random_bits=2**53 - 1)
    table = format_cost_table({"conv1": {"ff": rec, "bp": CostRecord.zero(), "up": CostRecord.zero()}})
    row = next(line for line in table.splitlines() if line.startswith("conv1 "))
    assert row.split()[-2:] == [str(2**31 + 3), str(2**53 - 1)]


def test_probe_shape_is_checked():
    with pytest.raises(ValueError, match="probe must be a float32 array of shape"):
        emulated_dot(jnp.ones((2, 3)), jnp.ones((3, 2)), training_hardware("neurotrainer"), seed=0,
                     probe=jnp.zeros((2, 4), jnp.float32))
    with pytest.raises(ValueError, match="probe gradient has shape"):
        probe_events(jnp.zeros((2, 4)))
