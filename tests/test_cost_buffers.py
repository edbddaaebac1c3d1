"""On-chip buffer traffic as a memory level of its own (docs/cost_model.md sections 2, 3.3, 3.5
and 5), and one block schedule for every slice of a system, a single-partition one included
(section 3.2).

Integer counts are compared exactly; energies (float64 products of them) to 1e-12 relative.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pimjax import hw
from pimjax.cost import FIELDS, array_cost, costed_system_matmul, system_cost
from pimjax.numerics import FixedFormat
from pimjax.system import Mapping
from pimjax.units._array_counts import Segment, array_counts, segment_counts
from pimjax.units._interconnect import _blocks, placement, slice_traffic, system_row_block

REL = 1e-12
BUF_PJ = hw.EnergyConfig().buffer_pj_per_bit
ENERGIES = ("energy_dram_pj", "energy_compute_pj", "energy_register_pj", "energy_icn_pj", "energy_aggregation_pj",
            "energy_buffer_pj")


def _array(acc_bytes: float = 0.0) -> hw.ArrayConfig:
    """The Memory Slices array shrunk to 4 rows x 8 multipliers: Q8.8 operands (2 B), 32-bit
    accumulator (4 B), Q8.8 output (2 B), L = 3 + 3 = 6, 2 GHz; ``acc_bytes`` of accumulator buffer."""
    return hw.presets.get("memory_slices").replace(rows=4, width=8, accumulator_buffer_kib=acc_bytes / 1024)


def _system(num_slices: int, *, acc_bytes: float = 0.0, agg_bytes: float = 0.0, w_bytes: float = 0.0,
            **kw) -> hw.SystemConfig:
    agg = dataclasses.replace(hw.presets.get("slices_hmc2").aggregation, buffer_kib=agg_bytes / 1024)
    return hw.SystemConfig(array=_array(acc_bytes), num_slices=num_slices, aggregation=agg,
                           weight_buffer_kib=w_bytes / 1024, **kw)


def test_buffer_energy_constant_is_a_stated_assumption():
    assert BUF_PJ == 0.3
    doc = hw.EnergyConfig.__doc__
    assert "pimjax assumption" in doc and "Horowitz" in doc and "256 KiB" in doc
    with pytest.raises(ValueError):
        hw.EnergyConfig(buffer_pj_per_bit=-1.0)


# --------------------------------------------------------------------------- one array


def test_accumulator_buffer_traffic_hand_computed():
    # M=4, K=20, N=6 on 4x8: 3 K-chunks x tiles of 4 and 2 columns. With no buffer every pass
    # but the last writes the 4*6 partial sums to DRAM and every pass but the first reads
    # them: 4*6*(3-1)*4 B = 192 B each way.
    spill = array_counts(4, 20, 6, _array(0))
    assert (spill.acc_bytes_read, spill.acc_bytes_written) == (192, 192)
    assert (spill.acc_buffer_bytes_read, spill.acc_buffer_bytes_written) == (0, 0)
    # 48 B buffer: blocks of 3 + 1 rows; a block of either tile fits (3*4*4 = 48, 3*2*4 = 24 B),
    # so the same 192 B each way go to the buffer: tile 0 4*4*2 sums, tile 1 4*2*2 sums, 4 B each
    mid = array_counts(4, 20, 6, _array(48))
    assert (mid.acc_bytes_read, mid.acc_bytes_written) == (0, 0)
    assert (mid.acc_buffer_bytes_read, mid.acc_buffer_bytes_written) == (4 * 4 * 2 * 4 + 4 * 2 * 2 * 4,) * 2
    assert mid.weight_buffer_bytes_read == mid.weight_buffer_bytes_written == 0  # one array has no weight buffer
    # 12 B, M = 1: the 4-column tile's row (16 B) spills, the 2-column tile's (8 B) is kept
    c = array_counts(1, 20, 6, _array(12))
    assert (c.acc_bytes_read, c.acc_buffer_bytes_read) == (1 * 4 * 2 * 4, 1 * 2 * 2 * 4)  # 32, 16
    assert (c.acc_bytes_written, c.acc_buffer_bytes_written) == (32, 16)
    # the record: buffer bytes, their energy, and energy_pj over every component
    d = array_cost(4, 20, 6, _array(48)).to_dict()
    assert (d["buffer_bytes_read"], d["buffer_bytes_written"]) == (192, 192)
    assert (d["dram_bytes_read"], d["dram_bytes_written"]) == (320 + 480, 48)  # A, B read per block; outputs
    assert d["energy_buffer_pj"] == pytest.approx(384 * 8 * 0.3, rel=REL)  # 921.6 pJ
    assert d["energy_pj"] == pytest.approx(sum(d[f] for f in ENERGIES), rel=REL)
    d0 = array_cost(4, 20, 6, _array(0)).to_dict()
    assert d0["buffer_bytes_read"] == d0["buffer_bytes_written"] == d0["energy_buffer_pj"] == 0


def test_weight_buffer_traffic_hand_computed():
    arr = _array(0)  # R=4, W=8, 2-byte B
    two = (Segment(cols=4, chunks=2, k=16),)  # 16 x 4 words = 128 B, two partitions
    # resident in the weight buffer over 3 calls: read from memory once (128 B) and written into
    # the buffer on the way; register B is loaded 3 x 64 words = 384 B, 256 B of them from the buffer
    c = segment_counts(4, two, arr, calls=3, weights_resident=True, weights_buffered=True)
    assert (c.b_bytes, c.weight_buffer_bytes_read, c.weight_buffer_bytes_written) == (128, 256, 128)
    # not resident: every load comes from memory, the buffer is not used
    c = segment_counts(4, two, arr, calls=3)
    assert (c.b_bytes, c.weight_buffer_bytes_read, c.weight_buffer_bytes_written) == (384, 0, 0)
    # buffered per call with 2 row blocks: read once per call, the second block's loads from the buffer
    c = segment_counts(4, two, arr, row_block=2, calls=3, weights_buffered=True)
    assert (c.b_bytes, c.weight_buffer_bytes_read, c.weight_buffer_bytes_written) == (384, 384, 384)
    # one partition in register B across the calls: no buffer
    one = (Segment(cols=4, chunks=1, k=8),)
    c = segment_counts(4, one, arr, calls=3, weights_resident=True, register_resident=True)
    assert (c.b_bytes, c.weight_buffer_bytes_read, c.weight_buffer_bytes_written) == (64, 0, 0)
    # one partition resident in the weight buffer (register B is shared with another layer)
    c = segment_counts(4, one, arr, calls=3, weights_resident=True, weights_buffered=True)
    assert (c.b_bytes, c.weight_buffer_bytes_read, c.weight_buffer_bytes_written) == (64, 128, 64)


# --------------------------------------------------------------------------- slice systems


def test_single_partition_slice_follows_the_block_order_hand_computed():
    # M=4, K=24, N=4 on 2 slices, k_split (8, 16): slice 0 holds one partition of the 4-column
    # tile, slice 1 two; a 48 B accumulator buffer gives blocks of 48 // (4*4) = 3 rows (3 + 1).
    cfg = _system(2, acc_bytes=48, agg_bytes=1024)
    plc = placement(k_sizes=(8, 16), n=4, tile_cols=4, cfg=cfg)
    rb = system_row_block(4, plc, cfg)
    assert rb == 3 and _blocks(4, rb) == [(3, 1), (1, 1)]
    # slice 0 (one partition): preloaded once (4), streams 4 rows, drains after each block: 2 * (4-1+6)
    c0 = segment_counts(4, (Segment(4, 1, 8),), cfg.array, row_block=rb)
    assert (c0.tiles, c0.preload_cycles, c0.stream_cycles, c0.fill_drain_cycles) == (2, 4, 4, 18)
    assert c0.b_bytes == 64 and c0.register_bits == 32 * 16 + 4 * 32 * 16  # B loaded once, A as before
    # slice 1 (two partitions): every block re-runs both: preload 2*2*4, stream 4*2, fill 2*2*9
    c1 = segment_counts(4, (Segment(4, 2, 16),), cfg.array, row_block=rb)
    assert (c1.tiles, c1.preload_cycles, c1.stream_cycles, c1.fill_drain_cycles) == (4, 16, 8, 36)
    # the packets of both are those of the blocks: diagonals of a 3 x 4 block (1,2,3,3,2,1) and of
    # a 1 x 4 block (1,1,1,1), one packet each: slice 1 sends 10 packets (10*8 + 16*4 = 144 B)
    # to the owner, slice 0, which delivers its own 10 locally
    tr = slice_traffic(m=4, plc=plc, owners=(0,), row_block=rb, cfg=cfg)
    assert [(x.packets, x.local_packets, x.bytes, x.elements) for x in tr.counts] == [(0, 10, 0, 16),
                                                                                        (10, 0, 144, 16)]
    d = system_cost(4, (8, 16), 4, (0,), 4, cfg).to_dict()
    assert (d["cycles_preload"], d["cycles_stream"], d["cycles_fill_drain"], d["cycles"]) == (20, 12, 54, 86)
    assert (d["icn_packets"], d["icn_local_packets"], d["icn_bytes"]) == (10, 10, 144)
    # (the model before this fix streamed slice 0's 4 rows in one pass, 17 cycles, 77 in all,
    # while packetizing its diagonals per block)


def test_system_buffer_traffic_hand_computed():
    # the system above. DRAM: slice 0 reads A 4*8*2 = 64 and B 64 and writes the 16 outputs it
    # owns (2 B each: 32); slice 1 reads A 4*16*2 = 128 and B once per block (2*128 = 256).
    cfg = _system(2, acc_bytes=48, agg_bytes=1024)
    d = system_cost(4, (8, 16), 4, (0,), 4, cfg).to_dict()
    assert (d["dram_bytes_read"], d["dram_bytes_written"]) == (64 + 64 + 128 + 256, 32)
    # buffers: slice 1 keeps its 4x4 sums between its two chunks in the accumulator buffer
    # (4*4*1*4 = 64 B each way); the owner adds the second partial sum of each of its 16
    # elements in the aggregation buffer (16*1*4 = 64 B each way)
    assert (d["buffer_bytes_read"], d["buffer_bytes_written"]) == (128, 128)
    assert d["energy_buffer_pj"] == pytest.approx(256 * 8 * 0.3, rel=REL)  # 614.4 pJ
    assert d["energy_pj"] == pytest.approx(sum(d[f] for f in ENERGIES), rel=REL)
    # a 128 B weight buffer holds slice 1's share (128 B): B is read once per call and the
    # second block's 128 B of register-B loads come from the buffer (written 128 B on the way);
    # slice 0's single partition stays in register B (no buffer)
    w = system_cost(4, (8, 16), 4, (0,), 4, cfg.replace(weight_buffer_kib=128 / 1024)).to_dict()
    assert (w["dram_bytes_read"], w["dram_bytes_written"]) == (64 + 64 + 128 + 128, 32)
    assert (w["buffer_bytes_read"], w["buffer_bytes_written"]) == (128 + 128, 128 + 128)
    assert w["cycles"] == d["cycles"] and w["icn_bytes"] == d["icn_bytes"]
    # no buffers at all: the partial sums spill to DRAM (the same bytes), nothing is buffered
    z = system_cost(4, (8, 16), 4, (0,), 4, _system(2)).to_dict()
    assert z["buffer_bytes_read"] == z["buffer_bytes_written"] == z["energy_buffer_pj"] == 0
    assert (z["dram_bytes_read"], z["dram_bytes_written"]) == (64 + 64 + 128 + 128 + 64 + 64, 64 + 64 + 32)


def test_aggregation_buffer_traffic_hand_computed():
    # M=1, K=20, N=6 on 2 slices (tests/test_cost.py::test_aggregation_buffer_spill_threshold_hand_computed):
    # a 16 B aggregation buffer keeps the running sums of the 4 + 2 owned outputs on chip: the
    # second partial sum of each is read and written there (6 * 4 B each way) instead of in DRAM
    mp = Mapping.even(k=20, n=6, num_slices=2, width=8, rows=4)
    keep = system_cost(1, mp.k_sizes, 6, mp.owners, 4, _system(2, agg_bytes=16)).to_dict()
    spill = system_cost(1, mp.k_sizes, 6, mp.owners, 4, _system(2, agg_bytes=15)).to_dict()
    assert (keep["buffer_bytes_read"], keep["buffer_bytes_written"]) == (24, 24)
    assert (spill["buffer_bytes_read"], spill["buffer_bytes_written"]) == (0, 0)
    assert keep["dram_bytes_read"] + 24 == spill["dram_bytes_read"]
    assert keep["dram_bytes_written"] + 24 == spill["dram_bytes_written"]


def test_system_weight_reuse_buffer_traffic_hand_computed():
    # M=4, K=8, N=4 on one slice, 3 calls with the same weights (one 64 B partition), another
    # layer's 100 B interleaved: with 164 B of weight buffer B is read once and register B is
    # reloaded from the buffer at the 2 later calls (2 * 64 B); with none, from DRAM every call
    mp = Mapping.even(k=8, n=4, num_slices=1, width=8, rows=4)
    kw = dict(calls=3, reuse_weights=True, other_weights=100)
    buf = system_cost(4, mp.k_sizes, 4, mp.owners, 4, _system(1, w_bytes=164), **kw).to_dict()
    assert (buf["buffer_bytes_read"], buf["buffer_bytes_written"]) == (128, 64)
    none = system_cost(4, mp.k_sizes, 4, mp.owners, 4, _system(1), **kw).to_dict()
    assert (none["buffer_bytes_read"], none["buffer_bytes_written"]) == (0, 0)
    assert none["dram_bytes_read"] - buf["dram_bytes_read"] == 128
    # nothing interleaved: register B keeps the partition, no buffer traffic
    reg = system_cost(4, mp.k_sizes, 4, mp.owners, 4, _system(1, w_bytes=164), calls=3, reuse_weights=True)
    assert float(reg.buffer_bytes_read) == float(reg.buffer_bytes_written) == 0


def test_output_split_weight_buffer_traffic_hand_computed():
    # NeuroTrainer module of 2 PEs, an FC layer (column split: each PE holds K x 3 columns of B,
    # 4*3*2 = 24 B) for 3 calls with the same weights and a 24 B weight buffer: each share is read
    # from its vault once, written into the buffer and reread from it at the 2 later calls
    nt = hw.presets.get("neurotrainer_module_ff").replace(num_slices=2)
    base = system_cost(1, (4, 0), 6, (0,), 6, nt, calls=3, reuse_weights=True).to_dict()
    assert (base["buffer_bytes_read"], base["buffer_bytes_written"]) == (0, 0)  # the preset has no weight buffer
    d = system_cost(1, (4, 0), 6, (0,), 6, nt.replace(weight_buffer_kib=24 / 1024), calls=3,
                    reuse_weights=True).to_dict()
    assert (d["buffer_bytes_read"], d["buffer_bytes_written"]) == (2 * 2 * 24, 2 * 24)
    assert base["dram_bytes_read"] - d["dram_bytes_read"] == 2 * 2 * 24


# --------------------------------------------------------------------------- properties

CASES = [(1, 4, 20, 6), (2, 4, 24, 4), (2, 7, 40, 11), (4, 9, 64, 13), (3, 5, 90, 10), (8, 6, 90, 10)]


@pytest.mark.parametrize("num_slices, m, k, n", CASES)
def test_partial_sums_and_register_loads_are_conserved_over_levels(num_slices, m, k, n):
    """Every partial sum between passes and every running sum goes to exactly one level, DRAM
    or a buffer; every register-B load comes from DRAM or the weight buffer. Buffers too small
    to constrain the blocks (0) and too large to (1 MiB) give the same schedule and move the
    same bytes between the levels."""
    mp = Mapping.even(k=k, n=n, num_slices=num_slices, width=8, rows=4)
    args = (m, mp.k_sizes, n, mp.owners, mp.tile_cols)
    kw = dict(calls=3, reuse_weights=True)
    lo = system_cost(*args, _system(num_slices), **kw).to_dict()
    big = 1 << 20
    hi = system_cost(*args, _system(num_slices, acc_bytes=big, agg_bytes=big, w_bytes=big), **kw).to_dict()
    assert lo["buffer_bytes_read"] == lo["buffer_bytes_written"] == 0
    same = ("macs", "additions", "aggregation_additions", "cycles_preload", "cycles_stream", "cycles_fill_drain",
            "slot_cycles", "register_bytes", "icn_packets", "icn_local_packets", "icn_bytes", "icn_hop_bytes")
    assert {f: hi[f] for f in same} == {f: lo[f] for f in same}
    assert hi["dram_bytes_read"] + hi["buffer_bytes_read"] == lo["dram_bytes_read"]
    # writes: the spilled sums move to the buffer; the buffer also receives B on its way from memory
    shares = sum(seg.k * seg.cols for segs in placement(k_sizes=mp.k_sizes, n=n, tile_cols=mp.tile_cols,
                                                        cfg=_system(num_slices)).segments
                 for _, seg in segs if sum(s.chunks for _, s in segs) > 1) * 2
    assert hi["dram_bytes_written"] + hi["buffer_bytes_written"] == lo["dram_bytes_written"] + shares
    for d in (lo, hi):
        assert d["energy_buffer_pj"] == pytest.approx((d["buffer_bytes_read"] + d["buffer_bytes_written"]) * 8 * BUF_PJ,
                                                      rel=REL)
        assert d["energy_pj"] == pytest.approx(sum(d[f] for f in ENERGIES), rel=REL)


@pytest.mark.parametrize("num_slices, m, k, n", CASES)
@pytest.mark.parametrize("partitioning", ["k_split", "partitions"])
def test_every_slice_runs_the_packet_blocks(num_slices, m, k, n, partitioning):
    """Cycle counts and packets describe one schedule: every slice that holds B, a single
    partition included, makes one pass per partition per row block of the system (the blocks
    that :func:`slice_traffic` packetizes), and drains once per pass."""
    cfg = _system(num_slices, acc_bytes=48, agg_bytes=40, partitioning=partitioning)
    mp = Mapping.even(k=k, n=n, num_slices=num_slices, width=8, rows=4)
    plc = placement(k_sizes=mp.k_sizes, n=n, tile_cols=mp.tile_cols, cfg=cfg)
    rb = system_row_block(m, plc, cfg)
    n_blocks = sum(count for _, count in _blocks(m, rb))
    lat = cfg.array.multiplier_latency + cfg.array.adder_tree_latency
    for segs_t in plc.segments:
        segs = tuple(seg for _, seg in segs_t)
        if not segs:
            continue
        p = sum(seg.chunks for seg in segs)
        c = segment_counts(m, segs, cfg.array, row_block=rb)
        assert c.tiles == n_blocks * p
        assert c.fill_drain_cycles == n_blocks * sum(seg.chunks * (seg.cols - 1 + lat) for seg in segs)
        assert c.stream_cycles == m * p


def _buffered_system(num_slices: int = 8) -> hw.SystemConfig:
    """8-bit operands, 32-bit accumulator (tests/test_cost.py's fast path) with 64 B of
    accumulator buffer, 64 B of aggregation buffer and a 1 KiB weight buffer."""
    q, acc = FixedFormat(bits=8, frac=4), FixedFormat(bits=32, frac=8)
    arr = hw.ArrayConfig(rows=4, width=8, a_format=q, b_format=q, accumulator_format=acc, output_format=q,
                         accumulator_buffer_kib=64 / 1024)
    agg = hw.AggregationConfig(packet_format=acc, accumulator_format=acc, output_format=q, buffer_kib=64 / 1024)
    return hw.SystemConfig(array=arr, num_slices=num_slices, aggregation=agg, weight_buffer_kib=1.0)


def test_buffer_fields_equal_under_jit_and_vmap():
    m, k, n = 12, 70, 6
    rng = np.random.default_rng(3)
    a = jnp.asarray(rng.integers(-128, 128, (m, k)), jnp.int32)
    b = jnp.asarray(rng.integers(-128, 128, (k, n)), jnp.int32)
    cfg = _buffered_system()
    res, rec = costed_system_matmul(a, b, cfg)
    mp = res.mapping
    want = system_cost(m, mp.k_sizes, n, mp.owners, mp.tile_cols, cfg).to_dict()
    eager = rec.to_dict()
    buf = ("buffer_bytes_read", "buffer_bytes_written", "energy_buffer_pj")
    assert {f: eager[f] for f in buf} == {f: want[f] for f in buf}
    assert eager["buffer_bytes_read"] > 0 and eager["buffer_bytes_written"] > 0
    jitted = jax.jit(lambda a, b: costed_system_matmul(a, b, cfg)[1])(a, b).to_dict()
    assert jitted == eager
    many = jax.jit(jax.vmap(lambda x: costed_system_matmul(x, b, cfg)[1]))(jnp.stack([a, a]))
    for i in range(2):
        got = jax.tree.map(lambda v: v[i], many).to_dict()
        assert {f: got[f] for f in FIELDS} == {f: eager[f] for f in FIELDS}, i
