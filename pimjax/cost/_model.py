"""The time and energy model of slice systems, filling :class:`CostRecord` (docs/design.md section 4).

The formulas, with the papers' sections behind each, are in ``docs/cost_model.md``. In short,
for a system matmul (A: M x K streamed, B: K x N stationary) on ``S`` slices with the array
clock ``f``, a slice's memory bandwidth ``BW`` and compute scale ``A_c``:

* placement (``SystemConfig.partitioning``): ``"k_split"`` (the mapping's K-ranges),
  ``"partitions"`` (Memory Slices Sec. 4.1 / Table 4: the ``W x R`` partitions of B dealt in
  order to the slices; the mapper also tries splitting the rows of A over ``G`` groups of
  ``S / G`` slices and keeps the fastest, Sec. 6 "optimizes each layer separately"), or
  ``"output_split"`` (NeuroTrainer's module, :func:`_output_split_cost`);
* per slice ``s``: ``T_c = cycles_s / (A_c f)`` (:func:`pimjax.units._array_counts.segment_counts`:
  preload, streaming and fill/drain of its partitions over the row blocks whose partial sums fit
  its accumulator buffer), ``T_m = bytes_s / BW`` (A re-streamed per tile, B unless resident,
  spilled partial sums, the owner's aggregation spill and output writes), ``T_i =
  max(sent_s, received_s) / (link_bytes_per_cycle f)`` (:func:`pimjax.units._interconnect.slice_traffic`);
* ``T_s = max(T_c, T_m, T_i)`` (the three streams overlap); the matmul takes
  ``max_s T_s + (max_hops * hop_latency + A_max) / f`` per call: the last packets still cross the
  network and the owner adds the ``A_max`` (largest fan-in of a tile) partial sums of an element.
* ``calls`` consecutive calls with the same weights (``reuse_weights``) load a slice's share of B
  once when it stays resident (register B for a single partition, else the weight buffer with
  the interleaved layers' shares ``other_weights``).

Energy (pJ): DRAM bits x ``energy_pj_per_bit`` (HMC 3.7, HBM 6: Memory Slices Sec. 6), MACs x
``mac_pj``, tree/accumulator adds x ``add_pj``, register bits x ``register_pj_per_bit``, ICN
bits x hops x ``icn_pj_per_bit_hop``, aggregation adds x ``aggregation_add_pj``, on-chip buffer
bits (read + written) x ``buffer_pj_per_bit``.

On-chip buffers (pimjax assumptions; Memory Slices Sec. 3.2 uses none) are a memory level of
their own (``buffer_bytes_read``, ``buffer_bytes_written``), counted where they replace DRAM
traffic: partial sums kept in the accumulator buffer between K-chunk passes, running sums of
arriving partial sums in the aggregation buffer (the read-modify-writes a spill would make in
DRAM), register-B reloads from the weight buffer and the words written into it on their way
from memory. They cost energy, not time (their bandwidth is assumed to keep up).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from pimjax.hw._array import ArrayConfig
from pimjax.hw._memory import HMC2_VAULT, EnergyConfig, MemoryConfig
from pimjax.hw._system import SystemConfig
from pimjax.numerics import NumericEvents
from pimjax.cost._record import CostRecord
from pimjax.system import system_matmul
from pimjax.units import systolic_matmul
from pimjax.units._array_counts import ArrayCounts, array_counts, segment_counts
from pimjax.units._interconnect import (check_matmul_call, check_size, output_split, placement, slice_traffic,
                                        system_row_block)


def _events(ev: NumericEvents | None) -> dict[str, Any]:
    if ev is None:
        return {}
    with jax.enable_x64(True):
        return {f: jnp.asarray(getattr(ev, f)).astype(jnp.float64) for f in ("overflow", "nan", "inf", "random_bits")}


def _bytes_of(fmt, default_bits: int) -> int:
    return -(-(default_bits if fmt is None else int(fmt.bits)) // 8)


def array_cost(m: int, k: int, n: int, cfg: ArrayConfig, *, memory: MemoryConfig = HMC2_VAULT,
               energy: EnergyConfig = EnergyConfig(), events: NumericEvents | None = None,
               write_output: bool = True) -> CostRecord:
    """Cost of ``(m x k) @ (k x n)`` on one array with its own memory (no interconnect).

    Raises:
      ValueError: ``m``, ``k`` or ``n`` is not >= 1.
    """
    check_size("m", m, what=" (rows of A)")
    check_size("k", k, what=" (columns of A, rows of B)")
    check_size("n", n, what=" (columns of B)")
    c = array_counts(m, k, n, cfg)
    out_bytes = m * n * _bytes_of(cfg.output_format, 64) if write_output else 0
    rd = c.a_bytes + c.b_bytes + c.acc_bytes_read
    wr = c.acc_bytes_written + out_bytes
    f_hz = cfg.clock_ghz * 1e9
    t_c = c.cycles / f_hz
    t_m = (rd + wr) / (memory.bandwidth_gbps * 1e9)
    adds = c.tree_additions + c.accumulator_additions
    b_rd = c.acc_buffer_bytes_read + c.weight_buffer_bytes_read
    b_wr = c.acc_buffer_bytes_written + c.weight_buffer_bytes_written
    return CostRecord.make(
        macs=c.macs, additions=adds, cycles_preload=c.preload_cycles, cycles_stream=c.stream_cycles,
        cycles_fill_drain=c.fill_drain_cycles, slot_cycles=c.slot_cycles,
        dram_bytes_read=rd, dram_bytes_written=wr, register_bytes=c.register_bits / 8,
        buffer_bytes_read=b_rd, buffer_bytes_written=b_wr,
        energy_dram_pj=(rd + wr) * 8 * memory.energy_pj_per_bit,
        energy_compute_pj=c.macs * energy.mac_pj + adds * energy.add_pj,
        energy_register_pj=c.register_bits * energy.register_pj_per_bit,
        energy_buffer_pj=(b_rd + b_wr) * 8 * energy.buffer_pj_per_bit,
        time_compute_s=t_c, time_memory_s=t_m, time_s=max(t_c, t_m),
        **_events(events),
    )


def _residency(share: int, partitions: int, *, reuse: bool, other: int, wbuf: float) -> tuple[bool, bool, bool]:
    """(resident across calls, buffered within a call, in register B across calls) of a slice's B share."""
    register = reuse and partitions == 1 and other == 0
    resident = reuse and (register or share + other <= wbuf)
    return resident, share <= wbuf, register


def weight_share_bytes(k: int, n: int, cfg: SystemConfig) -> int:
    """Bytes of B (``k x n``) that the most loaded slice holds under ``cfg``'s placement.

    What an interleaved layer occupies in every slice's weight storage (see ``other_weights``
    of :func:`system_cost`). Under ``"partitions"`` the placement of one row group (all slices).
    """
    from pimjax.system import Mapping

    check_size("k", k)
    check_size("n", n)

    arr = cfg.array
    b_b = _bytes_of(arr.b_format, 32)
    if cfg.partitioning == "output_split":
        sp = output_split(1, k, n, cfg)  # an FC layer's split; a row split duplicates all of B in every PE
        return k * n * b_b if sp.by_rows else k * max(sp.cols) * b_b
    mp = Mapping.even(k=k, n=n, num_slices=cfg.num_slices, width=arr.width, rows=arr.rows)
    plc = _placement(tuple(mp.k_sizes), n, mp.tile_cols, _traffic_view(cfg, cfg.num_slices))
    return max((sum(seg.k * seg.cols for _, seg in segs) * b_b for segs in plc.segments), default=0)


@functools.lru_cache(maxsize=256)
def _traffic_view(cfg: SystemConfig, slices: int) -> SystemConfig:
    """``cfg`` as the placement, row blocks and traffic of ``slices`` slices see it: the fields they
    do not read (memory, energy, compute scale, weight buffer, write-back, name) reset and the
    slices set, so that systems differing only in those, and a row group of a larger system, share
    :func:`_slice_classes`' cache (all of it a function of the fields kept)."""
    return cfg.replace(num_slices=slices, memory=HMC2_VAULT, energy=EnergyConfig(), compute_scale=1.0,
                       weight_buffer_kib=0.0, write_back="overlapped", name="")


@functools.lru_cache(maxsize=1024)
def _placement(ks: tuple[int, ...], n: int, tile_cols: int, cfg: SystemConfig):
    """:func:`placement`, cached for :func:`_slice_classes` and :func:`weight_share_bytes` (read only)."""
    return placement(k_sizes=ks, n=n, tile_cols=tile_cols, cfg=cfg)


@functools.lru_cache(maxsize=4096)
def _slice_classes(rows: int, ks: tuple[int, ...], n: int, owners: tuple[int, ...] | None, tile_cols: int,
                   cfg: SystemConfig) -> tuple:
    """What a row group's costs need of its placement and traffic, independent of the calls and the reuse.

    Returns ``(row_block, classes, agg_spill, agg_adds, max_hops, icn, fan_in)``: ``classes``, in order of
    first slice, holds ``((segs, share, parts, rmw, owned, sent, received), count)`` for the slices
    alike in those; ``agg_adds`` and ``icn`` (packets, local, bytes, hop bytes) are per call.
    Cached: the mapper and the layers of a model ask for the same placement and traffic many
    times (other call counts, reuse, weight buffers); the values are plain ints and tuples.
    """
    arr = cfg.array
    plc = _placement(ks, n, tile_cols, cfg)
    rb = system_row_block(rows, plc, cfg)
    tr = slice_traffic(m=rows, plc=plc, owners=owners, row_block=rb, cfg=cfg)
    agg_b = _bytes_of(cfg.aggregation.accumulator_format, 64)
    b_b = _bytes_of(arr.b_format, 32)
    multi = [len(c) for c in plc.contributors if len(c) > 1]
    agg_share = (min(multi) if cfg.ownership == "diagonal" else 1) if multi else 1
    # owners keep a block's running sums on chip when their share fits the aggregation buffer
    agg_spill = bool(multi) and min(rows, rb) * max(plc.tile_cols) * agg_b > cfg.aggregation.buffer_kib * 1024 * agg_share
    # A slice's costs depend only on its segments and its traffic: slices alike in those (most
    # of a large system) are costed once and counted as often as they occur. Every total is a
    # sum of Python ints (exact, so n * x is x added n times) and the times are maxima.
    alike: dict[tuple, int] = {}
    sent = [c.bytes for c in tr.counts]
    for s, segs_t in enumerate(plc.segments):
        if not segs_t and not tr.owned[s] and not tr.received_bytes[s]:
            continue
        key = (tuple([seg for _, seg in segs_t]), tr.rmw[s], tr.owned[s], sent[s], tr.received_bytes[s])
        alike[key] = alike.get(key, 0) + 1
    classes = tuple(((segs, sum(seg.k * seg.cols for seg in segs) * b_b, sum(seg.chunks for seg in segs),
                      rmw, owned, snt, received), cnt)
                    for (segs, rmw, owned, snt, received), cnt in alike.items())
    agg_adds = rows * sum(plc.tile_cols[t] * len(c) for t, c in enumerate(plc.contributors))
    icn = tuple(sum(x[i] for x in tr.counts) for i in range(4))
    fan_in = max((len(c) for c in plc.contributors), default=0)
    return rb, classes, agg_spill, agg_adds, tr.max_hops, icn, fan_in


@functools.lru_cache(maxsize=16384)
def _segment_counts(rows: int, segs: tuple, arr: ArrayConfig, rb: int, calls: int, resident: bool, buffered: bool,
                    register: bool) -> ArrayCounts:
    """:func:`segment_counts` of a slice, cached: the slices of many systems and row splits hold the same segments."""
    return segment_counts(rows, segs, arr, row_block=rb, calls=calls, weights_resident=resident,
                          weights_buffered=buffered, register_resident=register)


class _Group:
    """Costs of one row group: ``rows`` rows of A on the slices of a placement, for ``calls`` calls."""

    def __init__(self, rows: int, ks: tuple[int, ...], n: int, owners, tile_cols: int, cfg: SystemConfig, *,
                 calls: int, reuse: bool, other: int):
        arr = cfg.array
        rb, classes, agg_spill, agg_adds, max_hops, icn, self.fan_in = _slice_classes(
            rows, ks, n, owners, tile_cols, _traffic_view(cfg, len(ks)))
        agg_b = _bytes_of(cfg.aggregation.accumulator_format, 64)
        out_b = _bytes_of(cfg.aggregation.output_format, 64)
        f_hz = arr.clock_ghz * 1e9
        bw = cfg.memory.bandwidth_gbps * 1e9
        link = cfg.interconnect.link_bytes_per_cycle * f_hz
        wbuf = cfg.weight_buffer_kib * 1024
        self.tot = dict(macs=0, adds=0, pre=0, stream=0, fill=0, slots=0, rd=0, wr=0, reg=0, brd=0, bwr=0)
        self.t_c = self.t_m = self.t_i = self.t_s = 0.0
        for (segs, share, parts, rmw, owned, sent, received), n_alike in classes:
            flags = _residency(share, parts, reuse=reuse, other=other, wbuf=wbuf)
            c = _segment_counts(rows, segs, arr, rb, calls, *flags)
            agg_rmw = calls * rmw * agg_b if agg_spill else 0  # read + write each after the first
            agg_kept = 0 if agg_spill else calls * rmw * agg_b  # the same, in the aggregation buffer
            rd = c.a_bytes + c.b_bytes + c.acc_bytes_read + agg_rmw
            wr = c.acc_bytes_written + agg_rmw + calls * owned * out_b
            t_c = c.cycles / (cfg.compute_scale * f_hz)
            t_m = (rd + wr) / bw
            t_i = calls * max(sent, received) / link
            self.t_c, self.t_m, self.t_i = max(self.t_c, t_c), max(self.t_m, t_m), max(self.t_i, t_i)
            self.t_s = max(self.t_s, t_c, t_m, t_i)
            t = self.tot
            t["macs"] += n_alike * c.macs
            t["adds"] += n_alike * (c.tree_additions + c.accumulator_additions)
            t["pre"] += n_alike * c.preload_cycles
            t["stream"] += n_alike * c.stream_cycles
            t["fill"] += n_alike * c.fill_drain_cycles
            t["slots"] += n_alike * c.slot_cycles
            t["rd"] += n_alike * rd
            t["wr"] += n_alike * wr
            t["reg"] += n_alike * c.register_bits
            t["brd"] += n_alike * (c.acc_buffer_bytes_read + c.weight_buffer_bytes_read + agg_kept)
            t["bwr"] += n_alike * (c.acc_buffer_bytes_written + c.weight_buffer_bytes_written + agg_kept)
        self.agg_adds = calls * agg_adds
        self.max_hops = max_hops
        self.icn = [calls * x for x in icn]  # packets, local, bytes, hop bytes


def _row_groups(m: int, groups: int) -> list[tuple[int, int]]:
    """``(rows, count)`` of ``m`` rows dealt to ``groups`` groups in blocks of ``ceil(m / groups)``."""
    per = -(-m // groups)
    full, rest = divmod(m, per)
    return [(per, full)] + ([(rest, 1)] if rest else [])


def _sliced_cost(m: int, k_sizes, n: int, owners, tile_cols: int, cfg: SystemConfig, *, groups: int, calls: int,
                 reuse: bool, other: int):
    """Fields and time of ``calls`` calls with the rows of A split over ``groups`` slice groups."""
    s_g = len(k_sizes) // groups
    ks = tuple(k_sizes) if groups == 1 else (sum(k_sizes),) + (0,) * (s_g - 1)
    # under "partitions" the first contributor of a tile owns it (slice_traffic ignores owners)
    owners = None if owners is None or cfg.partitioning == "partitions" else tuple(owners)
    parts = [(_Group(rows, ks, n, owners, tile_cols, cfg, calls=calls, reuse=reuse, other=other), cnt)
             for rows, cnt in _row_groups(m, groups)]
    tot = {key: sum(g.tot[key] * c for g, c in parts) for key in parts[0][0].tot}
    icn = [sum(g.icn[i] * c for g, c in parts) for i in range(4)]
    t_c, t_m, t_i, t_s = (max(getattr(g, a) for g, _ in parts) for a in ("t_c", "t_m", "t_i", "t_s"))
    max_hops = max(g.max_hops for g, _ in parts)
    fan_in = max(g.fan_in for g, _ in parts)
    tail = calls * (max_hops * cfg.interconnect.hop_latency + fan_in) / (cfg.array.clock_ghz * 1e9)
    agg_adds = sum(g.agg_adds * c for g, c in parts)
    return dict(tot=tot, icn=icn, t_c=t_c, t_m=t_m, t_i=t_i, time=t_s + tail, agg_adds=agg_adds, groups=groups)


def row_group_options(m: int, num_slices: int) -> list[int]:
    """Row groups the ``"partitions"`` mapper tries: powers of two up to the slices and the rows."""
    out, g = [], 1
    while g <= num_slices and g <= max(1, m):
        out.append(g)
        g *= 2
    return out


def system_cost(m: int, k_sizes: tuple[int, ...], n: int, owners: tuple[int, ...], tile_cols: int,
                cfg: SystemConfig, *, events: NumericEvents | None = None, calls: int = 1,
                reuse_weights: bool = False, other_weights: int = 0) -> CostRecord:
    """Cost of ``calls`` consecutive system matmuls of this shape and mapping (module docstring).

    Args:
      m, k_sizes, n, owners, tile_cols: the call (``K = sum(k_sizes)``) and the mapping.
      cfg: the system.
      events: numeric events to put in the record.
      calls: consecutive calls of this matmul costed together (the record is their sum).
      reuse_weights: B is the same in every call (the weights of an LSTM layer called once
        per time step): a slice whose share stays resident reads it from memory once.
      other_weights: bytes per slice of other layers' weights that must stay resident at the
        same time (layers whose calls are interleaved with these).

    Raises:
      ValueError: a bad shape or mapping (``m, n, tile_cols >= 1``; one ``k_sizes`` entry >= 0
        per slice, summing to >= 1; one owner in ``0..num_slices - 1`` per output tile), or a
        bad ``calls`` (>= 1) or ``other_weights`` (>= 0).
    """
    if isinstance(calls, bool) or not isinstance(calls, int) or calls < 1:
        raise ValueError(f"calls must be a positive integer, got {calls!r}")
    check_size("other_weights", other_weights, lo=0, what=" (bytes)")
    check_matmul_call(m=m, k_sizes=k_sizes, n=n, owners=owners, tile_cols=tile_cols, cfg=cfg)
    if cfg.partitioning == "output_split":
        return _output_split_cost(m, sum(k_sizes), n, cfg, events=events, calls=calls,
                                  reuse_weights=reuse_weights, other_weights=other_weights)
    kw = dict(calls=calls, reuse=reuse_weights, other=other_weights)
    if cfg.partitioning == "k_split":
        best = _sliced_cost(m, k_sizes, n, owners, tile_cols, cfg, groups=1, **kw)
    else:  # the mapper takes the fastest row split (Memory Slices Sec. 6: each layer optimized separately)
        best = None
        for g in row_group_options(m, len(k_sizes)):
            r = _sliced_cost(m, k_sizes, n, owners, tile_cols, cfg, groups=g, **kw)
            if best is None or r["time"] < best["time"]:
                best = r
    tot, (icn_packets, icn_local, icn_bytes, icn_hop_bytes) = best["tot"], best["icn"]
    agg_adds = best["agg_adds"]
    e = cfg.energy
    return CostRecord.make(
        macs=tot["macs"], additions=tot["adds"], aggregation_additions=agg_adds,
        cycles_preload=tot["pre"], cycles_stream=tot["stream"], cycles_fill_drain=tot["fill"],
        slot_cycles=tot["slots"], dram_bytes_read=tot["rd"], dram_bytes_written=tot["wr"],
        register_bytes=tot["reg"] / 8, buffer_bytes_read=tot["brd"], buffer_bytes_written=tot["bwr"],
        icn_packets=icn_packets, icn_local_packets=icn_local,
        icn_bytes=icn_bytes, icn_hop_bytes=icn_hop_bytes,
        energy_dram_pj=(tot["rd"] + tot["wr"]) * 8 * cfg.memory.energy_pj_per_bit,
        energy_compute_pj=tot["macs"] * e.mac_pj + tot["adds"] * e.add_pj,
        energy_register_pj=tot["reg"] * e.register_pj_per_bit,
        energy_icn_pj=icn_hop_bytes * 8 * e.icn_pj_per_bit_hop,
        energy_aggregation_pj=agg_adds * e.aggregation_add_pj,
        energy_buffer_pj=(tot["brd"] + tot["bwr"]) * 8 * e.buffer_pj_per_bit,
        time_compute_s=best["t_c"], time_memory_s=best["t_m"], time_icn_s=best["t_i"], time_s=best["time"],
        **_events(events),
    )


def _output_split_cost(m: int, k: int, n: int, cfg: SystemConfig, *, events, calls: int, reuse_weights: bool,
                       other_weights: int) -> CostRecord:
    """NeuroTrainer module (``partitioning="output_split"``), Sec. 3.1, 3.3.4, 3.4.

    Each PE's ``R`` MACs hold ``R`` outputs (a vector over the rows) and add ``W`` products
    to each per cycle (y = a x + y, one operand broadcast to all MACs, the vector from the
    input buffer): ``vectors x cols x ceil(K / W)`` cycles, no preload or skew, partial sums
    never leave the MACs. Memory: the PE's partition of the split operand is read from its
    own vault once per call (its share of B once for all calls when resident), its outputs
    written there (row split); the shared operand is read from the common vault and broadcast
    over the bus (once for all calls when B is the shared operand and stays buffered), and
    column-split outputs are merged to the common vault over the bus. Time per call:
    ``max(max_p T_c, max_p T_m, T_bus) + hop_latency / f``; with ``cfg.write_back ==
    "after_compute"`` (NeuroTrainer presets, Sec. 3.4 / 5.1) the outputs are written after the
    compute: ``max(max_p (max(T_c, T_read) + T_write), T_broadcast) + T_merge + hop_latency / f``. A share resident in a PE's weight
    buffer across the calls is written into it once and read from it at every later call
    (buffer bytes); the PEs' own operand buffers of NeuroTrainer Sec. 3 are not costed.
    """
    arr = cfg.array
    sp = output_split(m, k, n, cfg)
    a_b, b_b = _bytes_of(arr.a_format, 32), _bytes_of(arr.b_format, 32)
    out_b = _bytes_of(cfg.aggregation.output_format, 64)
    f_hz = arr.clock_ghz * 1e9
    bw = cfg.memory.bandwidth_gbps * 1e9
    bus = cfg.interconnect.link_bytes_per_cycle * f_hz
    wbuf = cfg.weight_buffer_kib * 1024
    chunks = -(-k // arr.width)
    tot = dict(macs=0, tree=0, acc=0, cyc=0, rd=0, wr=0, reg=0, brd=0, bwr=0)
    t_c_max = t_m_max = t_pe_max = 0.0
    after = cfg.write_back == "after_compute"
    active = 0
    for p in range(cfg.num_slices):
        rows, cols, vecs = sp.rows[p], sp.cols[p], sp.vectors[p]
        if not rows or not cols:
            continue
        cyc = calls * vecs * cols * chunks
        if sp.by_rows:  # A partition from the PE's vault, outputs written back to it
            rd = calls * rows * k * a_b
            wr = calls * rows * cols * out_b
        else:  # B partition (the PE's weights) from its vault; outputs merged over the bus
            share = k * cols * b_b
            resident = reuse_weights and share + other_weights <= wbuf
            rd = share if resident else calls * share
            wr = 0
            if resident and calls > 1:  # kept in the weight buffer, reread at every later call
                tot["bwr"] += share
                tot["brd"] += (calls - 1) * share
        t_c, t_m = cyc / (cfg.compute_scale * f_hz), (rd + wr) / bw
        t_c_max, t_m_max = max(t_c_max, t_c), max(t_m_max, t_m)
        # after_compute: reads overlap the compute, the outputs' writes follow it (Sec. 3.4)
        t_pe_max = max(t_pe_max, max(t_c, rd / bw) + wr / bw if after else max(t_c, t_m))
        tot["macs"] += calls * rows * k * cols
        tot["tree"] += calls * rows * cols * chunks * (arr.width - 1)
        tot["acc"] += calls * rows * cols * chunks
        tot["cyc"] += cyc
        tot["rd"] += rd
        tot["wr"] += wr
        active += 1
        # operands through the MAC registers: the vector (R x W words of A) and the broadcast
        # scalar (W words of B) every cycle
        tot["reg"] += cyc * (arr.rows * arr.width * 8 * a_b + arr.width * 8 * b_b)
    shared_resident = sp.by_rows and reuse_weights and sp.shared_bytes + other_weights <= wbuf
    shared = sp.shared_bytes if shared_resident else calls * sp.shared_bytes
    if shared_resident and calls > 1:  # every PE keeps the broadcast B in its weight buffer
        tot["bwr"] += active * sp.shared_bytes
        tot["brd"] += active * (calls - 1) * sp.shared_bytes
    bus_bytes = shared + calls * sp.merged * out_b
    tot["rd"] += shared  # the common vault
    tot["wr"] += calls * sp.merged * out_b
    t_bus = bus_bytes / bus
    tail = calls * cfg.interconnect.hop_latency / f_hz
    if after:  # the broadcast streams during the compute; the merge to the common vault follows it
        t_merge = calls * sp.merged * out_b / bus
        time_s = max(t_pe_max, (bus_bytes - calls * sp.merged * out_b) / bus) + t_merge + tail
    else:
        time_s = max(t_c_max, t_m_max, t_bus) + tail
    bursts = -(-bus_bytes // cfg.interconnect.payload_bytes)
    e = cfg.energy
    adds = tot["tree"] + tot["acc"]
    return CostRecord.make(
        macs=tot["macs"], additions=adds, cycles_stream=tot["cyc"], slot_cycles=tot["cyc"] * arr.rows * arr.width,
        dram_bytes_read=tot["rd"], dram_bytes_written=tot["wr"], register_bytes=tot["reg"] / 8,
        buffer_bytes_read=tot["brd"], buffer_bytes_written=tot["bwr"],
        icn_packets=bursts, icn_bytes=bus_bytes, icn_hop_bytes=bus_bytes,
        energy_dram_pj=(tot["rd"] + tot["wr"]) * 8 * cfg.memory.energy_pj_per_bit,
        energy_compute_pj=tot["macs"] * e.mac_pj + adds * e.add_pj,
        energy_register_pj=tot["reg"] * e.register_pj_per_bit,
        energy_icn_pj=bus_bytes * 8 * e.icn_pj_per_bit_hop,
        energy_buffer_pj=(tot["brd"] + tot["bwr"]) * 8 * e.buffer_pj_per_bit,
        time_compute_s=t_c_max, time_memory_s=t_m_max, time_icn_s=t_bus,
        time_s=time_s,
        **_events(events),
    )


def peak_flops(cfg: SystemConfig | ArrayConfig) -> float:
    """Peak FLOP/s (2 per MAC): rows x width x clock x compute scale x slices."""
    if isinstance(cfg, ArrayConfig):
        return 2.0 * cfg.rows * cfg.width * cfg.clock_ghz * 1e9
    return peak_flops(cfg.array) * cfg.compute_scale * cfg.num_slices


def peak_bandwidth(cfg: SystemConfig) -> float:
    """Aggregate peak memory bandwidth of the system in bytes/s.

    One memory per slice; a NeuroTrainer module (``partitioning="output_split"``) also has its
    common data vault (Sec. 3: 16 vaults for 15 PEs).
    """
    vaults = cfg.num_slices + (1 if cfg.partitioning == "output_split" else 0)
    return cfg.memory.bandwidth_gbps * 1e9 * vaults


def roofline(record: CostRecord, cfg: SystemConfig) -> dict[str, float]:
    """Roofline position of a record on ``cfg``: intensity, attainable and achieved FLOP/s."""
    d = record.to_dict()
    peak, bw = peak_flops(cfg), peak_bandwidth(cfg)
    intensity = d["intensity"]
    attainable = min(peak, intensity * bw)
    achieved = d["flops"] / d["time_s"] if d["time_s"] > 0 else 0.0
    return {"intensity": intensity, "attainable_flops": attainable, "achieved_flops": achieved,
            "peak_flops": peak, "peak_bandwidth": bw, "balance_point": peak / bw}


def costed_system_matmul(a: jax.Array, b: jax.Array, config: SystemConfig, **kw: Any):
    """:func:`pimjax.system.system_matmul` and its :class:`CostRecord`, in one traced call.

    Returns ``(SystemResult, CostRecord)``; the record's shape-derived fields come from the
    traced shapes and the mapping, its numeric events from the data.
    """
    res = system_matmul(a, b, config, **kw)
    mp = res.mapping
    cost = system_cost(a.shape[0], mp.k_sizes, b.shape[1], mp.owners, mp.tile_cols, config, events=res.events)
    return res, cost


def costed_array_matmul(a: jax.Array, b: jax.Array, config: ArrayConfig, *, memory: MemoryConfig = HMC2_VAULT,
                        energy: EnergyConfig = EnergyConfig(), **kw: Any):
    """:func:`pimjax.units.systolic_matmul` and its :class:`CostRecord`."""
    res = systolic_matmul(a, b, config, **kw)
    cost = array_cost(a.shape[0], a.shape[1], b.shape[1], config, memory=memory, energy=energy, events=res.events)
    return res, cost
