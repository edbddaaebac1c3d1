"""The cost model (docs/design.md section 4, docs/cost_model.md): hand-computed cycles, bytes, energy
and time of small cases, the papers' peak figures, record arithmetic, and records that survive
``jit``, ``vmap``, ``grad``, ``shard_map`` and ``eval_shape`` unchanged."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import json
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pimjax import hw
from pimjax.cost import (
    FIELDS,
    CostRecord,
    array_cost,
    costed_array_matmul,
    costed_system_matmul,
    peak_bandwidth,
    peak_flops,
    roofline,
    system_cost,
    total,
)
from pimjax.numerics import FixedFormat
from pimjax.system import Mapping, default_mesh
from pimjax.units._array_counts import array_counts
from pimjax.units._array_counts import Segment, segment_counts
from pimjax.units._interconnect import (
    output_split,
    packetize,
    packetize_per_slice,
    placement,
    slice_traffic,
    system_row_block,
    tile_packets,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Times and energies are float64 products and quotients of the integers below; they are
# compared to 1e-12 relative (the integers themselves exactly).
REL = 1e-12


def _small_array() -> hw.ArrayConfig:
    """Memory Slices array shrunk to 4 rows x 8 multipliers: Q8.8 operands (2 bytes), 32-bit
    accumulator (4 bytes), Q8.8 output (2 bytes), L = 3 + 3 = 6, 2 GHz."""
    # no accumulator buffer: partial sums spill to memory, as the hand computations assume
    return hw.presets.get("memory_slices").replace(rows=4, width=8, accumulator_buffer_kib=0)


def _agg16(buffer_kib: float = 0.0) -> hw.AggregationConfig:
    """Packets and aggregation accumulator 32-bit (4 bytes), output 16-bit (2 bytes); by
    default no aggregation buffer: every partial sum after the first is a read-modify-write of
    the owner's memory (Memory Slices Fig. 6 steps 8-9), as the hand computations assume."""
    return dataclasses.replace(hw.presets.get("slices_hmc2").aggregation, buffer_kib=buffer_kib)


# --------------------------------------------------------------------------- one array


def test_array_counts_hand_computed():
    # M=4, K=20, N=6 on R=4 rows x W=8, L=6.
    # K-chunks n_k = ceil(20/8) = 3 (8, 8, 4); N-tiles n_n = ceil(6/4) = 2 (R' = 4, 2).
    # per K-chunk: tile R'=4: 2*4 + 4 - 1 + 6 = 17 cycles; tile R'=2: 2*2 + 4 - 1 + 6 = 13 cycles
    # preload   = 3 * (4 + 2)                 = 18
    # stream    = 3 * 2 * M = 3 * 2 * 4       = 24
    # fill/drain= 3 * ((4-1+6) + (2-1+6))     = 48
    # cycles    = 3 * (17 + 13)               = 90 = 18 + 24 + 48
    c = array_counts(4, 20, 6, _small_array())
    assert c.tiles == 6
    assert (c.preload_cycles, c.stream_cycles, c.fill_drain_cycles, c.cycles) == (18, 24, 48, 90)
    assert c.macs == 480  # 4 * 20 * 6
    assert c.slot_cycles == 2880  # 90 cycles * 4 * 8 slots
    assert c.tree_additions == 504  # M*N outputs * 3 chunks * (W-1 = 7) adds per tree
    assert c.accumulator_additions == 72  # 4 * 6 * 3 chunks
    assert c.a_bytes == 320  # A (4 x 20, 2 bytes) streamed once per N-tile: 2 * 4*20*2
    assert c.b_bytes == 240  # B (20 x 6, 2 bytes) read once: 20*6*2
    assert c.acc_bytes_read == 192  # 4*6 partial sums * (3-1) passes * 4 bytes
    assert c.acc_bytes_written == 192  # written after every pass but the last: 4*6 * 2 * 4
    # register B loads: 20*6 words * 16 bits = 1920; register A shifts: 24 stream cycles * 4*8
    # registers * 16 bits = 12288
    assert c.register_bits == 14208


def test_array_counts_doctest_case_and_zero_work():
    c = array_counts(4, 8, 3, hw.presets.get("memory_slices"))
    # one tile of R'=3 columns: preload 3, stream 4, fill/drain 3-1+6 = 8 -> 15 = 2*3 + 4 - 1 + 6
    assert (c.tiles, c.preload_cycles, c.stream_cycles, c.fill_drain_cycles, c.cycles) == (1, 3, 4, 8, 15)
    assert c.acc_bytes_read == c.acc_bytes_written == 0  # one K-chunk: no partial sums stored
    assert array_counts(4, 0, 3, hw.presets.get("memory_slices")).cycles == 0


def test_array_cost_hand_computed_memory_bound():
    d = array_cost(4, 20, 6, _small_array()).to_dict()  # HMC 2.0 vault: 10 GB/s, 3.7 pJ/bit
    # read  = A 320 + B 240 + partial sums 192                    = 752 bytes
    # write = partial sums 192 + output 4*6*2                     = 240 bytes
    assert (d["dram_bytes_read"], d["dram_bytes_written"], d["dram_bytes"]) == (752, 240, 992)
    assert d["macs"] == 480 and d["additions"] == 576  # 504 tree + 72 accumulator
    assert d["register_bytes"] == 1776  # 14208 bits / 8
    assert (d["cycles"], d["slot_cycles"]) == (90, 2880)
    assert d["icn_bytes"] == d["aggregation_additions"] == 0
    # compute 90 cycles / 2 GHz = 45 ns; memory 992 B / 10 GB/s = 99.2 ns; time = max = 99.2 ns
    assert d["time_compute_s"] == pytest.approx(45e-9, rel=REL)
    assert d["time_memory_s"] == pytest.approx(99.2e-9, rel=REL)
    assert d["time_s"] == pytest.approx(99.2e-9, rel=REL)
    # energy: DRAM 992*8 bits * 3.7 = 29363.2 pJ; compute 480 MACs * 0.908 + 576 adds * 0.227
    # = 435.84 + 130.752 = 566.592 pJ; registers 14208 bits * 0.01 = 142.08 pJ
    assert d["energy_dram_pj"] == pytest.approx(29363.2, rel=REL)
    assert d["energy_compute_pj"] == pytest.approx(566.592, rel=REL)
    assert d["energy_register_pj"] == pytest.approx(142.08, rel=REL)
    assert d["energy_pj"] == pytest.approx(29363.2 + 566.592 + 142.08, rel=REL)
    assert d["utilization"] == pytest.approx(480 / 2880, rel=REL)  # 1/6
    assert d["flops"] == 960 and d["intensity"] == pytest.approx(960 / 992, rel=REL)


def test_array_cost_compute_bound():
    fast = hw.MemoryConfig(name="fast", bandwidth_gbps=1000.0, energy_pj_per_bit=6.0)
    d = array_cost(4, 20, 6, _small_array(), memory=fast).to_dict()
    # memory 992 B / 1000 GB/s = 0.992 ns < compute 45 ns: time = 45 ns
    assert d["time_memory_s"] == pytest.approx(0.992e-9, rel=REL)
    assert d["time_s"] == d["time_compute_s"] == pytest.approx(45e-9, rel=REL)
    assert d["energy_dram_pj"] == pytest.approx(992 * 8 * 6.0, rel=REL)  # 47616 pJ


# --------------------------------------------------------------------------- slice systems


def _system(num_slices: int, **icn) -> hw.SystemConfig:
    return hw.SystemConfig(array=_small_array(), num_slices=num_slices, aggregation=_agg16(),
                           interconnect=hw.InterconnectConfig(**icn))


def test_tile_packets_diagonal_coalescing():
    # M=4 rows x R'=4 columns: per cycle 1,2,3,4,3,2,1 elements (7 cycles), 16 elements fit a
    # 64-byte payload of 4-byte partial sums -> 7 packets; R'=2: 1,2,2,2,1 -> 5 packets
    assert tile_packets(4, 4, 16) == 7
    assert tile_packets(4, 2, 16) == 5
    assert tile_packets(4, 4, 2) == 1 + 1 + 2 + 2 + 2 + 1 + 1  # 2 per packet: ceil(n/2)


def test_two_slice_system_hand_computed():
    # M=4, K=20, N=6 on 2 slices of the 4x8 array; mesh (width 2), 64-byte payload, 8-byte
    # header, 16 bytes/cycle links, 2 cycles/hop; HMC 2.0 vault (10 GB/s, 3.7 pJ/bit).
    cfg = _system(2)
    mp = Mapping.even(k=20, n=6, num_slices=2, width=8, rows=4)
    # 3 K-chunks: slice 0 takes 2 (K[0:16]), slice 1 takes 1 (K[16:20]); tiles owned 0 -> 0, 1 -> 1
    assert mp.k_sizes == (16, 4) and mp.owners == (0, 1)
    rec = system_cost(4, mp.k_sizes, 6, mp.owners, mp.tile_cols, cfg)
    d = rec.to_dict()
    # slice 0: array_counts(4, 16, 6): 2 chunks x tiles (4, 2): preload 12, stream 16, fill 32 -> 60
    # slice 1: array_counts(4, 4, 6):  1 chunk  x tiles (4, 2): preload 6,  stream 8,  fill 16 -> 30
    assert (d["cycles_preload"], d["cycles_stream"], d["cycles_fill_drain"]) == (18, 24, 48)
    assert d["slot_cycles"] == 2880  # (60 + 30) * 32
    assert d["macs"] == 480 and d["additions"] == 576  # (336 + 48) + (168 + 24)
    # bytes. slice 0: A 2*4*16*2 = 256, B 16*6*2 = 192, partial sums read 4*6*1*4 = 96 and
    # written 96; it owns tile 0 (4 columns): the 2nd arriving partial sum of each of its 4*4
    # elements is read-modify-written (4*4*1*4 = 64 read + 64 written) and the output written
    # (4*4*2 = 32). read 256+192+96+64 = 608, write 96+64+32 = 192.
    # slice 1: A 2*4*4*2 = 64, B 4*6*2 = 48; owns tile 1 (2 columns): RMW 4*2*4 = 32 + 32,
    # output 4*2*2 = 16. read 64+48+32 = 144, write 32+16 = 48.
    assert (d["dram_bytes_read"], d["dram_bytes_written"]) == (752, 240)
    # ICN: 4-byte partial sums, 16 per packet. Tile 0 (R'=4): 7 packets, 16 elements,
    # 7*8 + 16*4 = 120 bytes; tile 1 (R'=2): 5 packets, 8 elements, 5*8 + 8*4 = 72 bytes.
    # slice 0 keeps tile 0 (7 local packets) and sends tile 1 to slice 1 (1 hop): 5 packets, 72 B
    # slice 1 sends tile 0 to slice 0 (1 hop): 7 packets, 120 B; keeps tile 1 (5 local packets)
    assert (d["icn_packets"], d["icn_local_packets"], d["icn_bytes"], d["icn_hop_bytes"]) == (12, 12, 192, 192)
    assert d["aggregation_additions"] == 48  # 4*6 outputs * 2 active slices
    # time. slice 0: compute 60/2 GHz = 30 ns, memory (608+192)/10 GB/s = 80 ns, ICN 72 B /
    # (16 B * 2 GHz) = 2.25 ns; slice 1: 15 ns, 19.2 ns, 120/32e9 = 3.75 ns.
    assert d["time_compute_s"] == pytest.approx(30e-9, rel=REL)
    assert d["time_memory_s"] == pytest.approx(80e-9, rel=REL)
    assert d["time_icn_s"] == pytest.approx(3.75e-9, rel=REL)
    # tail = (max hops 1 * 2 cycles + S = 2 additions) / 2 GHz = 2 ns; time = 80 + 2 = 82 ns
    assert d["time_s"] == pytest.approx(82e-9, rel=REL)
    # energy: DRAM 992*8*3.7 = 29363.2; compute 480*0.908 + 576*0.227 = 566.592;
    # registers (9728 + 4480) bits * 0.01 = 142.08; ICN 192 B*8*1 hop*0.5 = 768;
    # aggregation 48 * 0.227 = 10.896
    assert d["register_bytes"] == 1776
    for f, v in (("energy_dram_pj", 29363.2), ("energy_compute_pj", 566.592), ("energy_register_pj", 142.08),
                 ("energy_icn_pj", 768.0), ("energy_aggregation_pj", 10.896)):
        assert d[f] == pytest.approx(v, rel=REL), f
    # no buffers here (everything spills to DRAM): no buffer bytes, no buffer energy
    assert d["buffer_bytes_read"] == d["buffer_bytes_written"] == d["energy_buffer_pj"] == 0
    assert d["energy_pj"] == pytest.approx(29363.2 + 566.592 + 142.08 + 768.0 + 10.896, rel=REL)


def test_four_slice_system_hand_computed_icn_bound():
    # M=4, K=20, N=6 on 4 slices, links of 1 byte/cycle so the network dominates.
    cfg = _system(4, link_bytes_per_cycle=1)
    mp = Mapping.even(k=20, n=6, num_slices=4, width=8, rows=4)
    # 3 chunks over 4 slices: K[0:8], K[8:16], K[16:20], nothing; tiles owned by 0*4//2 = 0, 1*4//2 = 2
    assert mp.k_sizes == (8, 8, 4, 0) and mp.owners == (0, 2)
    d = system_cost(4, mp.k_sizes, 6, mp.owners, mp.tile_cols, cfg).to_dict()
    # each active slice: 1 chunk x tiles (4, 2): preload 6, stream 8, fill 16 -> 30 cycles
    assert (d["cycles_preload"], d["cycles_stream"], d["cycles_fill_drain"]) == (18, 24, 48)
    assert d["macs"] == 480  # 192 + 192 + 96
    # bytes (3 active slices, so each owned element gets 2 RMWs after the first partial sum):
    # slice 0: A 2*4*8*2 = 128, B 8*6*2 = 96, owns 4 columns: RMW 4*4*2*4 = 128 (+128), out 32
    #          read 352, write 160
    # slice 1: A 128, B 96, owns nothing: read 224, write 0
    # slice 2: A 2*4*4*2 = 64, B 48, owns 2 columns: RMW 4*2*2*4 = 64 (+64), out 16: read 176, write 80
    assert (d["dram_bytes_read"], d["dram_bytes_written"]) == (752, 240)
    # ICN on a 2x2 mesh (0 1 / 2 3): hops 0->2 = 1, 1->0 = 1, 1->2 = 2, 2->0 = 1.
    # slice 0: tile 0 local (7), tile 1 -> 2: 5 packets, 72 B, 1 hop
    # slice 1: tile 0 -> 0: 7 packets, 120 B, 1 hop; tile 1 -> 2: 5 packets, 72 B, 2 hops
    # slice 2: tile 0 -> 0: 7 packets, 120 B, 1 hop; tile 1 local (5); slice 3 sends nothing
    assert d["icn_packets"] == 24 and d["icn_local_packets"] == 12
    assert d["icn_bytes"] == 384  # 72 + 192 + 120
    assert d["icn_hop_bytes"] == 456  # 72 + (120 + 144) + 120
    assert d["aggregation_additions"] == 72  # 4*6 * 3 active slices
    # time: compute 30/2e9 = 15 ns; memory max slice 0: 512 B / 10 GB/s = 51.2 ns;
    # ICN: slice 1 sends the most (192 B), but slice 0 receives tile 0 from slices 1 and 2
    # (2 x 120 B = 240 B; slice 2 receives 2 x 72 B): 240 B / (1 B * 2 GHz) = 120 ns -> network-bound.
    # tail = (max hops 2 * 2 cycles + fan-in 3: the owner adds 3 partial sums) / 2 GHz = 3.5 ns
    assert d["time_compute_s"] == pytest.approx(15e-9, rel=REL)
    assert d["time_memory_s"] == pytest.approx(51.2e-9, rel=REL)
    assert d["time_icn_s"] == pytest.approx(120e-9, rel=REL)
    assert d["time_s"] == pytest.approx(123.5e-9, rel=REL)
    assert d["energy_icn_pj"] == pytest.approx(456 * 8 * 0.5, rel=REL)  # 1824 pJ
    assert d["energy_aggregation_pj"] == pytest.approx(72 * 0.227, rel=REL)  # 16.344 pJ


@pytest.mark.parametrize("num_slices,topology,m,k,n", [
    (1, "mesh", 5, 17, 9), (2, "ring", 7, 40, 11), (4, "mesh", 3, 64, 13), (8, "crossbar", 6, 90, 10),
])
def test_system_time_is_max_of_components_plus_tail(num_slices, topology, m, k, n):
    cfg = _system(num_slices, topology=topology)
    mp = Mapping.even(k=k, n=n, num_slices=num_slices, width=8, rows=4)
    d = system_cost(m, mp.k_sizes, n, mp.owners, mp.tile_cols, cfg).to_dict()
    icn = cfg.interconnect
    active = [s for s in range(num_slices) if mp.k_sizes[s]]
    max_hops = max(icn.hops(s, o, num_slices) for s in active for o in mp.owners)
    tail = (max_hops * icn.hop_latency + len(active)) / 2e9  # fan-in: every active slice
    comp = max(d["time_compute_s"], d["time_memory_s"], d["time_icn_s"])
    assert d["time_s"] == pytest.approx(comp + tail, rel=REL)
    # per-slice maxima: recompute from the units
    f = 2e9
    t_c = max(array_counts(m, ks, n, cfg.array).cycles for ks in mp.k_sizes) / f
    per = packetize_per_slice(k_sizes=mp.k_sizes, owners=mp.owners, n=n, tile_cols=4, m=m, cfg=cfg)
    tr = slice_traffic(m=m, plc=placement(k_sizes=mp.k_sizes, n=n, tile_cols=4, cfg=cfg), owners=mp.owners,
                       row_block=m, cfg=cfg)
    assert [x.bytes for x in tr.counts] == [x.bytes for x in per]
    t_i = max(max(x.bytes, r) for x, r in zip(per, tr.received_bytes)) / (icn.link_bytes_per_cycle * f)
    assert d["time_compute_s"] == pytest.approx(t_c, rel=REL)
    assert d["time_icn_s"] == pytest.approx(t_i, rel=REL)
    # every byte sent is received once
    assert sum(tr.received_bytes) == sum(x.bytes for x in per)
    # the sums over slices of the array counts
    assert d["cycles"] == sum(array_counts(m, ks, n, cfg.array).cycles for ks in mp.k_sizes)
    assert d["macs"] == m * k * n


def test_compute_scale_divides_compute_time_only():
    mp = Mapping.even(k=20, n=6, num_slices=2, width=8, rows=4)
    base = system_cost(4, mp.k_sizes, 6, mp.owners, 4, _system(2)).to_dict()
    fast = system_cost(4, mp.k_sizes, 6, mp.owners, 4, _system(2).replace(compute_scale=2.5)).to_dict()
    assert fast["time_compute_s"] == pytest.approx(base["time_compute_s"] / 2.5, rel=REL)  # 12 ns
    for f in ("time_memory_s", "time_icn_s", "cycles", "slot_cycles", "dram_bytes", "energy_pj"):
        assert fast[f] == base[f], f


# --------------------------------------------------------------------------- peaks, roofline


def test_peak_flops_of_presets_equal_the_papers():
    # NeuroTrainer Sec. 5: 2.5 GHz x 15 PEs x 32 MACs x 2 pairs x 2 = 4.8 TOPS (16-bit FF),
    # 2.4 TOPS for the 32-bit SR mode of BP/UP.
    assert peak_flops(hw.presets.get("neurotrainer_module_ff")) == 4.8e12
    assert peak_flops(hw.presets.get("neurotrainer_module_bp")) == 2.4e12
    # Memory Slices Sec. 3.2: 256 x 8 multipliers at 2 GHz, 2 FLOPs per MAC
    assert peak_flops(hw.presets.get("memory_slices")) == 2 * 256 * 8 * 2e9 == 8.192e12
    assert peak_flops(hw.presets.get("slices_hmc2")) == 512 * 8.192e12
    assert peak_flops(hw.presets.get("slices_hmc1_2x")) == 128 * 2 * 8.192e12
    assert peak_bandwidth(hw.presets.get("slices_hmc2")) == 512 * 10e9
    assert peak_bandwidth(hw.presets.get("slices_hbm")) == 512 * 16e9
    # NeuroTrainer Sec. 3 / 5.2: HMC 1.0 has "16 vaults" of "10GByte/sec" (Memory Slices gives none)
    assert peak_bandwidth(hw.presets.get("slices_hmc1")) == 512 * 10e9
    assert hw.HMC1_VAULT.bandwidth_gbps == hw.NEUROTRAINER_VAULT.bandwidth_gbps == 10.0
    # NeuroTrainer Sec. 5.2: "16 vaults x 10GByte/sec" (15 PE vaults and the common data vault)
    assert peak_bandwidth(hw.presets.get("neurotrainer_module_ff")) == 16 * 10e9


@pytest.mark.parametrize("preset,m,k,n", [
    ("slices_hmc2", 64, 4096, 1024), ("slices_hbm_2.5x", 8, 300, 70), ("neurotrainer_module_ff", 128, 9216, 4096),
])
def test_roofline_fields_are_consistent(preset, m, k, n):
    cfg = hw.presets.get(preset)
    a = cfg.array
    mp = Mapping.even(k=k, n=n, num_slices=cfg.num_slices, width=a.width, rows=a.rows)
    rec = system_cost(m, mp.k_sizes, n, mp.owners, mp.tile_cols, cfg)
    r = roofline(rec, cfg)
    d = rec.to_dict()
    assert r["peak_flops"] == peak_flops(cfg) and r["peak_bandwidth"] == peak_bandwidth(cfg)
    assert r["intensity"] == d["flops"] / d["dram_bytes"] == d["intensity"]
    assert r["attainable_flops"] == min(r["peak_flops"], r["intensity"] * r["peak_bandwidth"])
    assert r["achieved_flops"] == d["flops"] / d["time_s"]
    assert r["balance_point"] == r["peak_flops"] / r["peak_bandwidth"]
    assert 0 < r["achieved_flops"] <= r["attainable_flops"] * (1 + 1e-12)


@pytest.mark.parametrize("m,k,n", [(4, 20, 6), (1, 1, 1), (256, 8, 4), (33, 77, 5), (512, 64, 16)])
def test_utilization_is_macs_over_slots(m, k, n):
    arr = _small_array()
    mp = Mapping.even(k=k, n=n, num_slices=2, width=8, rows=4)
    for rec in (array_cost(m, k, n, arr), system_cost(m, mp.k_sizes, n, mp.owners, 4, _system(2))):
        d = rec.to_dict()
        assert 0 < d["utilization"] <= 1
        assert d["utilization"] == d["macs"] / d["slot_cycles"]
    # full tiles and long streams approach 1: 2R' + M - 1 + L with R'=4, M=512 -> 512/(8+511+6)
    c = array_counts(512, 8, 4, arr)
    assert c.macs / c.slot_cycles == pytest.approx(512 / 525, rel=REL)
    assert CostRecord.zero().to_dict()["utilization"] == 0.0


# --------------------------------------------------------------------------- records


def test_records_add_fieldwise_and_total():
    a = array_cost(4, 20, 6, _small_array())
    b = array_cost(3, 9, 5, _small_array()).replace(overflow=CostRecord.make(overflow=2).overflow)
    s = (a + b).to_dict()
    da, db = a.to_dict(), b.to_dict()
    for f in FIELDS:
        assert s[f] == da[f] + db[f], f
    assert s["cycles"] == da["cycles"] + db["cycles"]
    assert total([a, b]).to_dict() == s
    assert total({"ff": a, "bp": b}).to_dict() == s
    assert total([]).to_dict() == CostRecord.zero().to_dict()
    assert (a + CostRecord.zero()).to_dict() == da
    assert all(float(getattr(CostRecord.zero(), f)) == 0.0 for f in FIELDS)
    r = CostRecord.make(macs=3, overflow=1)
    assert r.macs.dtype == jnp.float64 and float(r.macs) == 3 and float(r.nan) == 0
    with pytest.raises(TypeError, match="cycles_total"):
        CostRecord.make(cycles_total=1)
    assert a.__add__(1) is NotImplemented


# --------------------------------------------------------------------------- transformations

_Q = FixedFormat(bits=8, frac=4)
_ACC = FixedFormat(bits=32, frac=8)


def _fast_system(num_slices: int = 8) -> hw.SystemConfig:
    """8-bit operands (K * 128 * 128 fits the 32-bit stages: the fast path, no ordered
    compile) and an 8-bit output that saturates on this data: data-dependent overflow events."""
    arr = hw.ArrayConfig(rows=4, width=8, a_format=_Q, b_format=_Q, accumulator_format=_ACC, output_format=_Q,
                         accumulator_buffer_kib=0)
    agg = hw.AggregationConfig(packet_format=_ACC, accumulator_format=_ACC, output_format=_Q)
    return hw.SystemConfig(array=arr, num_slices=num_slices, aggregation=agg)


M, K, N = 4, 70, 6


@pytest.fixture(scope="module")
def operands():
    rng = np.random.default_rng(7)
    a = jnp.asarray(rng.integers(-128, 128, (M, K)), jnp.int32)
    b = jnp.asarray(rng.integers(-128, 128, (K, N)), jnp.int32)
    return a, b


@pytest.fixture(scope="module")
def plain(operands):
    a, b = operands
    res, rec = costed_system_matmul(a, b, _fast_system())
    return res, rec


def test_plain_call_has_events_and_shape_costs(plain):
    res, rec = plain
    d = rec.to_dict()
    assert d["overflow"] > 0  # the 8-bit output saturates: a data-dependent field
    assert d["macs"] == M * K * N
    assert d["icn_packets"] == float(res.icn.packets) and d["icn_bytes"] == float(res.icn.bytes)


def test_shape_record_without_running_equals_running(plain):
    res, rec = plain
    mp = Mapping.even(k=K, n=N, num_slices=8, width=8, rows=4)
    assert res.mapping == mp
    shape_only = system_cost(M, mp.k_sizes, N, mp.owners, mp.tile_cols, _fast_system())
    events = ("overflow", "nan", "inf", "random_bits")
    want = rec.to_dict()
    got = shape_only.to_dict()
    for f in FIELDS:
        assert got[f] == (0.0 if f in events else want[f]), f
    with_events = system_cost(M, mp.k_sizes, N, mp.owners, mp.tile_cols, _fast_system(), events=res.events)
    assert with_events.to_dict() == want


def test_eval_shape_gives_record_shapes(operands):
    a, b = operands
    out = jax.eval_shape(lambda a, b: costed_system_matmul(a, b, _fast_system())[1], a, b)
    assert isinstance(out, CostRecord)
    for f in FIELDS:
        s = getattr(out, f)
        assert isinstance(s, jax.ShapeDtypeStruct) and s.shape == () and s.dtype == jnp.float64, f
    specs = (jax.ShapeDtypeStruct((M, K), jnp.int32), jax.ShapeDtypeStruct((K, N), jnp.int32))
    out2 = jax.eval_shape(lambda a, b: costed_array_matmul(a, b, _fast_system().array)[1], *specs)
    assert {getattr(out2, f).shape for f in FIELDS} == {()}


def test_jit_record_equals_plain(operands, plain):
    a, b = operands
    rec = jax.jit(lambda a, b: costed_system_matmul(a, b, _fast_system())[1])(a, b)
    assert rec.macs.dtype == jnp.float64
    assert rec.to_dict() == plain[1].to_dict()


def test_vmap_record_equals_plain_per_element(operands, plain):
    a, b = operands
    a2 = a // 16  # smaller values: fewer overflows
    batch = jnp.stack([a, a2, a])
    recs = jax.jit(jax.vmap(lambda x: costed_system_matmul(x, b, _fast_system())[1]))(batch)
    assert recs.macs.shape == (3,)
    ref2 = costed_system_matmul(a2, b, _fast_system())[1].to_dict()
    for i, ref in enumerate((plain[1].to_dict(), ref2, plain[1].to_dict())):
        assert jax.tree.map(lambda x: x[i], recs).to_dict() == ref, i
    assert ref2["overflow"] < plain[1].to_dict()["overflow"]


@pytest.mark.multidevice
def test_sharded_record_equals_plain(operands, plain):
    a, b = operands
    mesh = default_mesh(devices=8)
    res, rec = costed_system_matmul(a, b, _fast_system(), mesh=mesh)
    assert rec.to_dict() == plain[1].to_dict()
    np.testing.assert_array_equal(np.asarray(res.out), np.asarray(plain[0].out))


@pytest.mark.multidevice
def test_sharded_record_equals_single_device_on_the_ordered_path(operands):
    # products requantized to 12 bits (6 fraction bits): order matters, the hardware-order
    # path runs (per-slice scans, all_to_all of the packets) and its events are summed over
    # the devices. Both calls jitted (the eager call is equal too, but slow to dispatch).
    p = FixedFormat(bits=12, frac=6)
    acc = FixedFormat(bits=32, frac=6)
    arr = hw.ArrayConfig(rows=4, width=8, a_format=_Q, b_format=_Q, product_format=p, accumulator_format=acc,
                         output_format=_Q)
    cfg = hw.SystemConfig(array=arr, num_slices=8,
                          aggregation=hw.AggregationConfig(packet_format=acc, accumulator_format=acc, output_format=_Q))
    a, b = operands
    one_res, one = jax.jit(lambda a, b: costed_system_matmul(a, b, cfg))(a, b)
    res, rec = jax.jit(lambda a, b: costed_system_matmul(a, b, cfg, mesh=default_mesh(devices=8)))(a, b)
    assert bool(one_res.ordered) and bool(res.ordered)
    assert one.to_dict()["overflow"] > 0
    assert rec.to_dict() == one.to_dict()
    np.testing.assert_array_equal(np.asarray(res.out), np.asarray(one_res.out))


def test_grad_aux_record_equals_plain(operands, plain):
    from pimjax.nn._emulated import PhaseConfig, TrainingHardware, decode_events, emulated_dot, zero_probe
    from pimjax.nn._layers import matmul_costs

    phase = PhaseConfig(system=_fast_system())
    hwt = TrainingHardware(ff=phase, bp=phase, up=phase)
    # x and w are the plain call's codes / 16: exact in the 8-bit Q4 operand format, so the
    # forward phase runs the plain call's system matmul on the same codes (no quantization
    # events) and its record must be the plain call's record.
    a, b = operands
    x = a.astype(jnp.float32) / 16
    w = b.astype(jnp.float32) / 16
    probe = zero_probe()

    def loss(w, probe):
        y, ev = emulated_dot(x, w, hwt, seed=5, probe=probe)
        return jnp.sum(y * y), matmul_costs(M, K, N, hwt, {"ff": ev})

    (gw, gprobe), recs = jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True))(w, probe)
    assert gw.shape == w.shape
    assert recs["ff"].to_dict() == plain[1].to_dict()
    # the three phases: FF (M,K,N), BP (M,N,K), UP (K,M,N), each M*K*N MACs; the aux carries
    # the shape-derived BP/UP records, their events come back through the probe's gradient
    assert [recs[p].to_dict()["macs"] for p in ("ff", "bp", "up")] == [M * K * N] * 3
    with_events = matmul_costs(M, K, N, hwt, {"bp": gprobe[0], "up": gprobe[1]})
    for p, (pm, pk, pn) in (("bp", (M, N, K)), ("up", (K, M, N))):
        mp = Mapping.even(k=pk, n=pn, num_slices=8, width=8, rows=4)
        want = system_cost(pm, mp.k_sizes, pn, mp.owners, 4, _fast_system()).to_dict()
        assert recs[p].to_dict() == want, p
        got = with_events[p].to_dict()
        assert {f: got[f] for f in FIELDS if f != "overflow"} == {f: want[f] for f in FIELDS if f != "overflow"}
    ev = decode_events(gprobe)
    assert with_events["bp"].to_dict()["overflow"] == int(ev[0, 0])
    assert with_events["up"].to_dict()["overflow"] == int(ev[1, 0])
    assert total(recs).to_dict()["macs"] == 3 * M * K * N


# --------------------------------------------------------------------------- SCALE-Sim cross-check


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_crosscheck_scalesim_script(tmp_path, capsys):
    mod = _load_script("crosscheck_scalesim")
    summary = mod.main(["--out", str(tmp_path)])
    path = tmp_path / "crosscheck_scalesim.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 == summary["rows"]  # 4 default shapes x 2 arrays
    assert tuple(rows[0]) == mod.COLUMNS
    by = {(int(r["m"]), int(r["k"]), int(r["n"]), r["array"]): r for r in rows}
    r = by[(64, 8, 256, "memory_slices_256x8")]
    # pimjax: one tile, R' = 256: 2*256 + 64 - 1 + 6 = 581
    assert int(r["pim_cycles"]) == 581 and int(r["pim_tiles"]) == 1
    # SCALE-Sim WS on 256 x 8 (K on 256 rows): ceil(8/256)*ceil(256/8) = 32 folds of
    # 2*256 + 8 + 64 - 2 = 582 -> 18624; OS: ceil(64/256)*ceil(256/8) = 32 folds of 8+256+8-2 = 270
    assert (int(r["ws_folds"]), int(r["ws_cycles"])) == (32, 18624)
    assert (int(r["os_folds"]), int(r["os_cycles"])) == (32, 8640)
    # WS on 8 x 256 (pimjax's mapping): 1 fold of 2*8 + 256 + 64 - 2 = 334;
    # 334 - (d_preload (8-256) + d_reduction (8-1-6) + d_partial 0) = 334 + 247 = 581
    assert (int(r["ws_t_folds"]), int(r["ws_t_cycles"])) == (1, 334)
    assert (int(r["d_preload"]), int(r["d_reduction"]), int(r["d_partial"])) == (-248, 1, 0)
    r = by[(100, 20, 300, "32x32")]
    # pimjax 32 x 32, L = 3 + 5: 1 K-chunk x 10 N-tiles (9 of 32, 1 of 12):
    # 9*(64 + 99 + 8) + (24 + 99 + 8) = 1539 + 131 = 1670
    assert int(r["pim_cycles"]) == 1670
    # SCALE-Sim WS 32 x 32: 1 * 10 folds of 64 + 32 + 100 - 2 = 194 -> 1940
    assert int(r["ws_cycles"]) == int(r["ws_t_cycles"]) == 1940
    for r in rows:
        assert int(r["pim_tiles"]) == int(r["ws_t_folds"])
        assert int(r["ws_t_cycles"]) - int(r["d_preload"]) - int(r["d_reduction"]) - int(r["d_partial"]) \
            == int(r["pim_cycles"])
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1])["crosscheck"] == "scalesim"
    assert "memory_slices_256x8" in out[2]


def test_crosscheck_scalesim_custom_shapes(tmp_path):
    mod = _load_script("crosscheck_scalesim")
    mod.main(["--out", str(tmp_path / "sub"), "--shapes", "1,1,1", "7,9,513"])
    with open(tmp_path / "sub" / "crosscheck_scalesim.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["m"], r["k"], r["n"]) for r in rows] == [("1", "1", "1")] * 2 + [("7", "9", "513")] * 2
    # 1x1x1 on 256x8: 2*1 + 1 - 1 + 6 = 8 cycles
    assert rows[0]["pim_cycles"] == "8"
    assert math.isclose(float(rows[0]["pim_over_ws_t"]), round(8 / (2 * 8 + 256 + 1 - 2), 4))


def test_accumulator_buffer_keeps_partial_sums_on_chip():
    # M=4, K=20, N=6 on 4x8: tiles hold 4x4 and 4x2 partial sums of 4 bytes (64 and 32 B).
    big = _small_array().replace(accumulator_buffer_kib=1.0)  # 1024 B: both fit, nothing spills
    c = array_counts(4, 20, 6, big)
    assert c.acc_bytes_read == 0 and c.acc_bytes_written == 0
    assert c.cycles == 90 and c.b_bytes == 240  # one block: the schedule of the spilling case
    # 48 B: a row of the widest tile takes 4 x 4 = 16 B, so blocks of 48 // 16 = 3 rows (3 + 1):
    # every block re-runs the 6 partitions (3 K-chunks x 2 tiles) and re-reads B, nothing spills.
    mid = _small_array().replace(accumulator_buffer_kib=48 / 1024)
    c = array_counts(4, 20, 6, mid)
    assert c.acc_bytes_read == 0 and c.acc_bytes_written == 0
    assert c.tiles == 12  # 2 blocks x 6 partitions
    assert c.preload_cycles == 2 * 3 * (4 + 2)  # 36
    assert c.stream_cycles == 4 * 6  # every row passes every partition once: 24
    assert c.fill_drain_cycles == 2 * 3 * ((4 - 1 + 6) + (2 - 1 + 6))  # 96
    assert c.b_bytes == 2 * 240  # B (20 x 6 x 2 B) read for each block
    assert c.a_bytes == 320 and c.macs == 480
    # the 192 B each way that spill without a buffer are read and written in the buffer instead
    assert c.acc_buffer_bytes_read == c.acc_buffer_bytes_written == 192
    # 12 B: not one row of the 4-column tile fits (16 B): no blocks, that tile spills; with M = 1
    # the 2-column tile's 1 x 2 x 4 = 8 B fit and do not spill.
    small = _small_array().replace(accumulator_buffer_kib=12 / 1024)
    c = array_counts(1, 20, 6, small)
    assert c.acc_bytes_read == c.acc_bytes_written == 1 * 4 * (3 - 1) * 4  # 32 B each way
    assert c.tiles == 6 and c.b_bytes == 240


def test_segment_counts_weight_reuse_hand_computed():
    arr = _small_array()  # R=4, W=8, L=6, 2-byte B
    one = (Segment(cols=4, chunks=1, k=8),)  # one partition of 8 x 4: fits register B
    # 3 calls of M=4 rows, weights reloaded every call: 3 x (4 preload + 4 stream + 4-1+6 fill)
    c = segment_counts(4, one, arr, calls=3)
    assert (c.preload_cycles, c.stream_cycles, c.fill_drain_cycles, c.cycles) == (12, 12, 27, 51)
    assert c.b_bytes == 3 * 8 * 4 * 2 and c.a_bytes == 3 * 4 * 8 * 2 and c.macs == 3 * 128
    # the partition stays in register B across the calls: preloaded once, read from memory once
    c = segment_counts(4, one, arr, calls=3, weights_resident=True, register_resident=True)
    assert (c.preload_cycles, c.stream_cycles, c.fill_drain_cycles, c.cycles) == (4, 12, 27, 43)
    assert c.b_bytes == 64
    assert c.register_bits == 32 * 16 + 12 * 32 * 16  # 32 B words loaded once; A shifts as before
    # two partitions (K = 16): register B must be reloaded every call (2 x 4 preload cycles);
    # resident in a weight buffer, B is read from memory once
    two = (Segment(cols=4, chunks=2, k=16),)
    c = segment_counts(4, two, arr, calls=3, weights_resident=True, weights_buffered=True)
    assert c.preload_cycles == 3 * 2 * 4 and c.b_bytes == 16 * 4 * 2
    assert segment_counts(4, two, arr, calls=3).b_bytes == 3 * 16 * 4 * 2


def _reuse_system(wbuf_kib: float) -> hw.SystemConfig:
    return _system(1).replace(weight_buffer_kib=wbuf_kib)


def test_system_weight_reuse_across_calls_hand_computed():
    # M=4, K=8, N=4 on one slice of the 4x8 array, 3 calls: one partition (8 x 4, 64 B of B)
    mp = Mapping.even(k=8, n=4, num_slices=1, width=8, rows=4)
    base = system_cost(4, mp.k_sizes, 4, mp.owners, 4, _reuse_system(0), calls=3).to_dict()
    once = system_cost(4, mp.k_sizes, 4, mp.owners, 4, _reuse_system(0)).to_dict()
    for f in FIELDS:  # no reuse: three times one call
        assert base[f] == pytest.approx(3 * once[f], rel=REL), f
    assert base["cycles"] == 51 and base["dram_bytes_read"] == 3 * (64 + 64)  # A 64 + B 64 per call
    # same weights, nothing interleaved: the partition stays in register B (no buffer needed)
    reg = system_cost(4, mp.k_sizes, 4, mp.owners, 4, _reuse_system(0), calls=3, reuse_weights=True).to_dict()
    assert reg["cycles"] == 43 and reg["cycles_preload"] == 4
    assert reg["dram_bytes_read"] == 3 * 64 + 64
    # another layer's 100 B interleaved: register B is overwritten; without a weight buffer
    # nothing stays (as base), with 164 B of buffer B stays there (read once) but is preloaded
    # into register B every call
    other = system_cost(4, mp.k_sizes, 4, mp.owners, 4, _reuse_system(0), calls=3, reuse_weights=True,
                        other_weights=100).to_dict()
    assert other == base
    buf = system_cost(4, mp.k_sizes, 4, mp.owners, 4, _reuse_system(164 / 1024), calls=3, reuse_weights=True,
                      other_weights=100).to_dict()
    assert buf["cycles"] == 51 and buf["dram_bytes_read"] == 3 * 64 + 64
    short = system_cost(4, mp.k_sizes, 4, mp.owners, 4, _reuse_system(163 / 1024), calls=3, reuse_weights=True,
                        other_weights=100).to_dict()
    assert short == base  # 64 + 100 B do not fit 163 B
    # time: 3 calls, each with its tail (0 hops, fan-in 1: 0.5 ns)
    assert reg["time_s"] == pytest.approx(max(43 / 2e9, (3 * 64 + 64 + 3 * 32) / 10e9) + 3 * 0.5e-9, rel=REL)
    with pytest.raises(ValueError, match="calls"):
        system_cost(4, mp.k_sizes, 4, mp.owners, 4, _reuse_system(0), calls=0)


def test_aggregation_buffer_spill_threshold_hand_computed():
    # M=1, K=20, N=6 on 2 slices (slice 0: K[0:16], 2 chunks; slice 1: K[16:20]), tile owners 0, 1.
    # A row of the widest tile's running sums is 4 columns x 4 B = 16 B: a 15 B aggregation
    # buffer cannot hold it (every arriving partial sum after the first is a read-modify-write,
    # Fig. 6 step 9), a 16 B buffer can (the sums stay on chip, only the output is written).
    mp = Mapping.even(k=20, n=6, num_slices=2, width=8, rows=4)
    spill = system_cost(1, mp.k_sizes, 6, mp.owners, 4, _system(2).replace(aggregation=_agg16(15 / 1024))).to_dict()
    keep = system_cost(1, mp.k_sizes, 6, mp.owners, 4, _system(2).replace(aggregation=_agg16(16 / 1024))).to_dict()
    # no spill: slice 0 reads A 2*1*16*2 = 64, B 192, its own partial sums (accumulator buffer 0)
    # 1*(4+2)*1*4 = 24; slice 1 reads A 16, B 48 -> 344; written: partial sums 24 + outputs
    # (1*4 + 1*2) * 2 B = 12 -> 36
    assert (keep["dram_bytes_read"], keep["dram_bytes_written"]) == (344, 36)
    # spill: + the RMW of the second partial sum of each of the 4 + 2 outputs, 4 B each way
    assert (spill["dram_bytes_read"], spill["dram_bytes_written"]) == (344 + 24, 36 + 24)
    assert keep["cycles"] == spill["cycles"] and keep["icn_bytes"] == spill["icn_bytes"]
    assert keep["time_memory_s"] == pytest.approx(max(64 + 192 + 24 + 24 + 8, 16 + 48 + 4) / 10e9, rel=REL)


def test_diagonal_ownership_spreads_aggregation_hand_computed():
    # M=4, K=16, N=4 on 2 slices (one K-chunk each), one 4 x 4 tile; 1-byte/cycle links.
    mp = Mapping.even(k=16, n=4, num_slices=2, width=8, rows=4)
    assert mp.owners == (0,)
    tile = _system(2, link_bytes_per_cycle=1)
    diag = tile.replace(ownership="diagonal")
    # "tile": slice 1 sends all 7 diagonals (1,2,3,4,3,2,1 elements, one 64-byte packet each)
    # to slice 0: 7*8 + 16*4 = 120 B; slice 0 receives 120 B and writes all 16 outputs.
    t = system_cost(4, mp.k_sizes, 4, mp.owners, 4, tile).to_dict()
    # "diagonal": diagonals 0, 2, 4, 6 (1+3+3+1 = 8 elements) owned by slice 0, 1, 3, 5
    # (2+4+2 = 8) by slice 1: slice 1 sends 4 packets, 4*8 + 8*4 = 64 B; slice 0 sends 3
    # packets, 3*8 + 8*4 = 56 B; each writes 8 outputs
    d = system_cost(4, mp.k_sizes, 4, mp.owners, 4, diag).to_dict()
    per = packetize_per_slice(k_sizes=mp.k_sizes, owners=mp.owners, n=4, tile_cols=4, m=4, cfg=diag)
    assert [(x.packets, x.local_packets, x.bytes) for x in per] == [(3, 4, 56), (4, 3, 64)]
    assert (t["icn_bytes"], d["icn_bytes"]) == (120, 120)
    assert (t["icn_packets"], d["icn_packets"]) == (7, 7)
    # ICN time: the busiest port: 120 B into slice 0 (tile) vs 64 B each way (diagonal), 1 B/cycle
    assert t["time_icn_s"] == pytest.approx(120 / 2e9, rel=REL)
    assert d["time_icn_s"] == pytest.approx(64 / 2e9, rel=REL)
    # aggregation RMW (no buffer) and outputs follow the owned elements: 16 on slice 0, or 8 + 8
    tr = slice_traffic(m=4, plc=placement(k_sizes=mp.k_sizes, n=4, tile_cols=4, cfg=diag), owners=mp.owners,
                       row_block=4, cfg=diag)
    assert tr.owned == [8, 8] and tr.rmw == [8, 8] and tr.received_bytes == [64, 56]
    assert t["dram_bytes"] == d["dram_bytes"]  # the same bytes, spread over the two memories
    assert d["time_memory_s"] < t["time_memory_s"]


def test_partitions_placement_and_row_groups_hand_computed():
    # Memory Slices Table 4 placement: B of K=20 x N=6 on the 4x8 array has 3 K-chunks x 2 tiles
    # = 6 partitions, dealt in order (tile 0 chunks 0..2, tile 1 chunks 0..2) to 4 slices:
    # [0:1], [1:3], [3:4], [4:6] -> slice 0: tile 0 chunk 0; slice 1: tile 0 chunks 1-2;
    # slice 2: tile 1 chunk 0; slice 3: tile 1 chunks 1-2.
    cfg = _system(4).replace(partitioning="partitions")
    plc = placement(k_sizes=(20, 0, 0, 0), n=6, tile_cols=4, cfg=cfg)
    assert plc.segments == [[(0, Segment(4, 1, 8))], [(0, Segment(4, 2, 12))], [(1, Segment(2, 1, 8))],
                            [(1, Segment(2, 2, 12))]]
    assert plc.contributors == [(0, 1), (2, 3)]
    # row groups: M=8, K=8, N=4 on 2 slices: a single partition. G=1: slice 0 does all 8 rows
    # (4 preload + 8 stream + 9 fill = 21 cycles, reads A 128 + B 64, writes 8*4*2 = 64: 25.6 ns);
    # G=2: each slice takes 4 rows (17 cycles, A 64 + B 64 read, 32 written: 16 ns). The mapper
    # keeps the faster: 16 ns + tail (fan-in 1: 0.5 ns).
    two = _system(2).replace(partitioning="partitions")
    d = system_cost(8, (8, 0), 4, (0,), 4, two).to_dict()
    assert d["time_s"] == pytest.approx(16e-9 + 0.5e-9, rel=REL)
    assert d["cycles"] == 34 and d["macs"] == 8 * 8 * 4
    assert d["dram_bytes_read"] == 2 * (64 + 64) and d["dram_bytes_written"] == 64
    assert d["icn_bytes"] == 0  # each tile is reduced by one slice


def test_system_row_block_uses_both_buffers():
    # K=16 on 2 slices of 8: one chunk each, so only the aggregation buffer matters; its owner
    # holds 1/2 of a block under "diagonal" ownership
    arr = _small_array().replace(accumulator_buffer_kib=16 / 1024)
    cfg = hw.SystemConfig(array=arr, num_slices=2, aggregation=_agg16(32 / 1024))
    plc = placement(k_sizes=(8, 8), n=4, tile_cols=4, cfg=cfg)
    assert system_row_block(100, plc, cfg) == 32 // 16  # tile: 2 rows of 4 x 4 B
    assert system_row_block(100, plc, cfg.replace(ownership="diagonal")) == 4  # 2 x 2 contributors
    # two chunks on one slice: the accumulator buffer (16 B: one row) constrains too
    plc1 = placement(k_sizes=(16, 0), n=4, tile_cols=4, cfg=cfg)
    assert system_row_block(100, plc1, cfg) == 1
    assert system_row_block(100, plc1, cfg.replace(array=arr.replace(accumulator_buffer_kib=0))) == 100


def test_output_split_neurotrainer_hand_computed():
    # two PEs of the NeuroTrainer FF array (32 MACs x 2 operand pairs, 2.5 GHz), 10 GB/s vaults,
    # a 4-byte/cycle bus (10 GB/s), 4-cycle bus latency
    nt = hw.presets.get("neurotrainer_module_ff").replace(num_slices=2)
    # rows split (A 64 x 4 x 2 B = 512 B >= B 4 x 3 x 2 B = 24 B): one 32-row vector per PE,
    # 3 columns x ceil(4 / 2) = 2 cycles each: 6 cycles; B broadcast over the bus (24 B)
    sp = output_split(64, 4, 3, nt)
    assert sp.by_rows and sp.rows == [32, 32] and sp.vectors == [1, 1] and sp.bus_bytes == 24
    d = system_cost(64, (4, 0), 3, (0,), 32, nt).to_dict()
    assert d["cycles"] == 12 and d["cycles_preload"] == d["cycles_fill_drain"] == 0 and d["utilization"] == 1.0
    # per PE: reads its A rows 32*4*2 = 256 B, writes 32*3*2 = 192 B: 44.8 ns; compute 2.4 ns;
    # bus 24 B / 10 GB/s = 2.4 ns; + 4 cycles (1.6 ns)
    assert d["time_memory_s"] == pytest.approx(44.8e-9, rel=REL)
    assert d["time_s"] == pytest.approx(44.8e-9 + 1.6e-9, rel=REL)
    assert (d["dram_bytes_read"], d["dram_bytes_written"], d["icn_bytes"]) == (512 + 24, 384, 24)
    assert d["aggregation_additions"] == 0
    # 768 16-bit products at 2.27 mW / 2.5 GHz / 2 pairs = 0.454 pJ each (NeuroTrainer Table 1,
    # Sec. 3.3.2); the MAC's power includes its accumulate: no add energy on top
    assert d["additions"] > 0 and d["energy_compute_pj"] == pytest.approx(64 * 4 * 3 * 0.454, rel=REL)
    # columns split (A 2 x 4 x 2 = 16 B < B 4 x 6 x 2 = 48 B): 3 columns per PE, 1 x 3 x 2 = 6
    # cycles; each PE reads its 4 x 3 weights (24 B); the bus carries A (16 B) and the merged
    # outputs (2 x 6 x 2 = 24 B): 40 B / 10 GB/s = 4 ns
    d = system_cost(2, (4, 0), 6, (0,), 32, nt).to_dict()
    assert d["cycles"] == 12 and d["icn_bytes"] == 40 and d["time_icn_s"] == pytest.approx(4e-9, rel=REL)
    assert (d["dram_bytes_read"], d["dram_bytes_written"]) == (2 * 24 + 16, 24)
    # write-back after the compute (NeuroTrainer Sec. 3.4, write_back="after_compute"): the PEs
    # compute (2.4 ns) while A is broadcast (1.6 ns), then merge their outputs (24 B, 2.4 ns)
    assert d["time_s"] == pytest.approx(2.4e-9 + 2.4e-9 + 1.6e-9, rel=REL)
    o = system_cost(2, (4, 0), 6, (0,), 32, nt.replace(write_back="overlapped")).to_dict()
    assert o["time_s"] == pytest.approx(4e-9 + 1.6e-9, rel=REL)
    assert packetize(k_sizes=(4, 0), owners=(0,), n=6, tile_cols=32, m=2, cfg=nt).bytes == 40


def test_weight_share_bytes():
    from pimjax.cost import weight_share_bytes

    # K=20 x N=6 (2-byte B) on 2 slices: k_split gives slice 0 K[0:16] of all 6 columns
    assert weight_share_bytes(20, 6, _system(2)) == 16 * 6 * 2
    # partitions: 6 partitions, 3 per slice: slice 0 holds tile 0 (20 x 4), slice 1 tile 1
    assert weight_share_bytes(20, 6, _system(2).replace(partitioning="partitions")) == 20 * 4 * 2
    nt = hw.presets.get("neurotrainer_module_ff").replace(num_slices=2)
    assert weight_share_bytes(4, 6, nt) == 4 * 3 * 2  # column split: each PE holds 3 columns


@pytest.mark.parametrize("preset", ["slices_hmc2", "neurotrainer_module_bp"])
def test_presets_records_survive_jit_vmap_and_eval_shape(preset):
    cfg = hw.presets.get(preset).replace(num_slices=4)
    a = cfg.array
    m, k, n = 40, 300, 70
    mp = Mapping.even(k=k, n=n, num_slices=4, width=a.width, rows=a.rows)

    def rec(x):
        r = system_cost(m, mp.k_sizes, n, mp.owners, mp.tile_cols, cfg, calls=5, reuse_weights=True)
        with jax.enable_x64(True):
            return r.replace(overflow=r.overflow + jnp.sum(x).astype(jnp.float64))

    plain = rec(jnp.zeros(3)).to_dict()
    assert plain["macs"] == 5 * m * k * n and plain["time_s"] > 0
    assert jax.jit(rec)(jnp.zeros(3)).to_dict() == plain
    many = jax.vmap(rec)(jnp.zeros((2, 3)))
    assert jax.tree.map(lambda v: v[1], many).to_dict() == plain
    shapes = jax.eval_shape(rec, jax.ShapeDtypeStruct((3,), jnp.float32))
    assert {getattr(shapes, f).shape for f in FIELDS} == {()}


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("m, k, n, field", [(-1, 16, 8, "m"), (0, 16, 8, "m"), (4, 0, 8, "k"), (4, 16, 0, "n"),
                                            (4, -3, 8, "k")])
def test_array_cost_rejects_impossible_sizes(m, k, n, field):
    with pytest.raises(ValueError, match=rf"^{field} must be an integer >= 1"):
        array_cost(m, k, n, _small_array())
    with pytest.raises(TypeError, match="^m must be an integer"):
        array_cost(4.5, 16, 8, _small_array())


@pytest.mark.parametrize("kw, match", [
    (dict(m=0), r"^m must be an integer >= 1"),
    (dict(m=-3), r"^m must be an integer >= 1"),
    (dict(n=0), r"^n must be an integer >= 1"),
    (dict(tile_cols=0), r"^tile_cols must be an integer >= 1"),
    (dict(k_sizes=(8, -8)), r"^k_sizes\[1\] must be an integer >= 0"),
    (dict(k_sizes=(0, 0)), r"^sum\(k_sizes\) \(K\) must be >= 1"),
    (dict(k_sizes=(8, 8, 8)), r"^k_sizes must have one entry per slice \(2\), got 3"),
    (dict(owners=(5, 0)), r"^owners\[0\] must be a slice index in 0\.\.1, got 5"),
    (dict(owners=(0,)), r"^owners must have one entry per output tile .* = 2\), got 1"),
    (dict(other_weights=-1), r"^other_weights must be an integer >= 0"),
])
def test_system_cost_rejects_impossible_calls(kw, match):
    # the valid call: M=4, K=16 over 2 slices, N=6 in tiles of 4 (2 tiles, owners 0 and 1)
    call = dict(m=4, k_sizes=(8, 8), n=6, owners=(0, 1), tile_cols=4)
    assert system_cost(**call, cfg=_system(2)).to_dict()["time_s"] > 0
    call.update(kw)
    other = call.pop("other_weights", 0)
    for cfg in (_system(2), _system(2).replace(partitioning="partitions")):
        with pytest.raises(ValueError, match=match):
            system_cost(call["m"], call["k_sizes"], call["n"], call["owners"], call["tile_cols"], cfg,
                        other_weights=other)
    if "other_weights" not in kw:
        with pytest.raises(ValueError, match=match):
            packetize_per_slice(**call, cfg=_system(2))
        with pytest.raises(ValueError, match=match):
            packetize(**call, cfg=_system(2))


def test_output_split_system_cost_rejects_impossible_calls():
    nt = hw.presets.get("neurotrainer_module_ff").replace(num_slices=2)
    with pytest.raises(ValueError, match=r"^m must be an integer >= 1"):
        system_cost(-2, (4, 0), 6, (0,), 32, nt)
    with pytest.raises(ValueError, match=r"^k_sizes must have one entry per slice"):
        system_cost(2, (4,), 6, (0,), 32, nt)
    with pytest.raises(ValueError, match=r"^m must be an integer >= 1"):
        packetize(k_sizes=(4, 0), owners=(0,), n=6, tile_cols=32, m=0, cfg=nt)


def test_costed_system_matmul_rejects_empty_rows():
    z = np.zeros((0, 16), np.int16), np.zeros((16, 8), np.int16)
    # system_matmul may refuse first; either way a ValueError names M (the rows of A)
    with pytest.raises(ValueError, match=r"(?i)\bm (must be an integer )?>= 1"):
        costed_system_matmul(*z, _system(2), mesh=default_mesh(devices=1))
    with pytest.raises(ValueError, match=r"^m must be an integer >= 1 \(rows of A\), got 0"):
        packetize(k_sizes=(8, 8), owners=(0, 1), n=8, tile_cols=4, m=0, cfg=_system(2))


@pytest.mark.parametrize("topology,ownership,partitioning", [("mesh", "diagonal", "partitions"),
                                                               ("ring", "tile", "k_split"),
                                                               ("crossbar", "diagonal", "k_split")])
def test_cached_traffic_reads_none_of_the_fields_its_cache_key_resets(topology, ownership, partitioning):
    """``pimjax.cost._model`` caches a row group's placement, row block and traffic under a view of
    the system with the fields that code does not read reset (memory, energy, compute scale,
    weight buffer, write-back, name; the slice count set to the group's). If that code ever read
    one of them, the cache would give the reset value: this fails first."""
    from pimjax.cost._model import _traffic_view
    from pimjax.system import Mapping
    from pimjax.units._interconnect import placement, slice_traffic, system_row_block

    base = hw.presets.get("slices_hmc2").replace(num_slices=8, ownership=ownership, partitioning=partitioning)
    base = base.replace(interconnect=dataclasses.replace(base.interconnect, topology=topology))
    changed = base.replace(memory=hw.presets.get("neurotrainer_module_ff").memory,
                           energy=dataclasses.replace(base.energy, mac_pj=9.0, icn_pj_per_bit_hop=7.0),
                           compute_scale=3.0, weight_buffer_kib=64.0, write_back="after_compute", name="other")
    for m, k, n, groups in ((37, 300, 50, 1), (5, 64, 200, 2), (64, 1000, 24, 4)):
        mp = Mapping.even(k=k, n=n, num_slices=8, width=base.array.width, rows=base.array.rows)
        ks = tuple(mp.k_sizes) if groups == 1 else (k,) + (0,) * (8 // groups - 1)
        owners = tuple(mp.owners)
        seen = []
        for cfg in (base, changed, _traffic_view(base, len(ks)), _traffic_view(changed, len(ks))):
            plc = placement(k_sizes=ks, n=n, tile_cols=mp.tile_cols, cfg=cfg)
            rb = system_row_block(m, plc, cfg)
            seen.append((plc, rb, slice_traffic(m=m, plc=plc, owners=owners, row_block=rb, cfg=cfg)))
        assert all(s == seen[0] for s in seen[1:])
