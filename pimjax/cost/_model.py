"""The time and energy model of slice systems, filling :class:`CostRecord` (DESIGN.md sec. 4).

Per slice ``s`` of a system matmul (A: M x K_s streamed, B: K_s x N preloaded), with the array
clock ``f`` (GHz), the slice's memory bandwidth ``BW`` (GB/s), compute scale ``A``:

* compute: ``T_c = cycles_s / (A * f)``, ``cycles_s`` from :func:`pimjax.units.array_counts`
  (per tile pass: ``R'`` preload + ``M`` streaming + ``R' - 1 + L`` fill/drain cycles);
* memory: ``T_m = bytes_s / BW``, ``bytes_s`` = A streamed once per N-tile, B read once, the
  partial sums read and written between K-chunk passes, plus, on owner slices, the aggregation
  engine's read-modify-write of each arriving partial sum and the output write;
* interconnect: ``T_i = icn_bytes_s / (link_bytes_per_cycle * f)`` for the bytes ``s`` sends;
* ``T_s = max(T_c, T_m, T_i)`` (the three streams overlap), and the system time is
  ``max_s T_s + (max_hops * hop_latency + S) / f``: the last packets still cross the network
  and each owner adds ``S`` partial sums per element after the last one arrives.

Energy (pJ): DRAM bits x ``energy_pj_per_bit`` (HMC 3.7, HBM 6: Memory Slices Sec. 6), MACs x
``mac_pj``, tree/accumulator adds x ``add_pj``, register bits x ``register_pj_per_bit``, ICN
bits x hops x ``icn_pj_per_bit_hop``, aggregation adds x ``aggregation_add_pj``.
"""

from __future__ import annotations

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
from pimjax.units._array_counts import array_counts
from pimjax.units._interconnect import packetize_per_slice


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
    """Cost of ``(m x k) @ (k x n)`` on one array with its own memory (no interconnect)."""
    c = array_counts(m, k, n, cfg)
    out_bytes = m * n * _bytes_of(cfg.output_format, 64) if write_output else 0
    rd = c.a_bytes + c.b_bytes + c.acc_bytes_read
    wr = c.acc_bytes_written + out_bytes
    f_hz = cfg.clock_ghz * 1e9
    t_c = c.cycles / f_hz
    t_m = (rd + wr) / (memory.bandwidth_gbps * 1e9)
    adds = c.tree_additions + c.accumulator_additions
    return CostRecord.make(
        macs=c.macs, additions=adds, cycles_preload=c.preload_cycles, cycles_stream=c.stream_cycles,
        cycles_fill_drain=c.fill_drain_cycles, slot_cycles=c.slot_cycles,
        dram_bytes_read=rd, dram_bytes_written=wr, register_bytes=c.register_bits / 8,
        energy_dram_pj=(rd + wr) * 8 * memory.energy_pj_per_bit,
        energy_compute_pj=c.macs * energy.mac_pj + adds * energy.add_pj,
        energy_register_pj=c.register_bits * energy.register_pj_per_bit,
        time_compute_s=t_c, time_memory_s=t_m, time_s=max(t_c, t_m),
        **_events(events),
    )


def system_cost(m: int, k_sizes: tuple[int, ...], n: int, owners: tuple[int, ...], tile_cols: int,
                cfg: SystemConfig, *, events: NumericEvents | None = None) -> CostRecord:
    """Cost of one system matmul from its shapes and mapping (see module docstring)."""
    arr = cfg.array
    s_count = len(k_sizes)
    icn = packetize_per_slice(k_sizes=k_sizes, owners=owners, n=n, tile_cols=tile_cols, m=m, cfg=cfg)
    active = sum(1 for s in k_sizes if s)
    agg_b = _bytes_of(cfg.aggregation.accumulator_format, 64)
    out_b = _bytes_of(cfg.aggregation.output_format, 64)
    f_hz = arr.clock_ghz * 1e9
    bw = cfg.memory.bandwidth_gbps * 1e9
    link = cfg.interconnect.link_bytes_per_cycle * f_hz
    # columns owned by each slice
    owned_cols = [0] * s_count
    for t, o in enumerate(owners):
        owned_cols[o] += min(n, (t + 1) * tile_cols) - t * tile_cols
    tot = dict(macs=0, adds=0, pre=0, stream=0, fill=0, slots=0, rd=0, wr=0, reg=0)
    t_c_max = t_m_max = t_i_max = t_s_max = 0.0
    max_hops = 0
    for s in range(s_count):
        c = array_counts(m, k_sizes[s], n, arr)
        agg_rmw = max(0, m * owned_cols[s] * (active - 1)) * agg_b  # read + write each after the first
        rd = c.a_bytes + c.b_bytes + c.acc_bytes_read + agg_rmw
        wr = c.acc_bytes_written + agg_rmw + m * owned_cols[s] * out_b
        t_c = c.cycles / (cfg.compute_scale * f_hz)
        t_m = (rd + wr) / bw
        t_i = icn[s].bytes / link
        t_c_max, t_m_max, t_i_max = max(t_c_max, t_c), max(t_m_max, t_m), max(t_i_max, t_i)
        t_s_max = max(t_s_max, t_c, t_m, t_i)
        for o in set(owners):
            if k_sizes[s]:
                max_hops = max(max_hops, cfg.interconnect.hops(s, o, s_count))
        tot["macs"] += c.macs
        tot["adds"] += c.tree_additions + c.accumulator_additions
        tot["pre"] += c.preload_cycles
        tot["stream"] += c.stream_cycles
        tot["fill"] += c.fill_drain_cycles
        tot["slots"] += c.slot_cycles
        tot["rd"] += rd
        tot["wr"] += wr
        tot["reg"] += c.register_bits
    agg_adds = m * n * active
    tail = (max_hops * cfg.interconnect.hop_latency + s_count) / f_hz
    icn_packets = sum(x.packets for x in icn)
    icn_local = sum(x.local_packets for x in icn)
    icn_bytes = sum(x.bytes for x in icn)
    icn_hop_bytes = sum(x.hop_bytes for x in icn)
    e = cfg.energy
    return CostRecord.make(
        macs=tot["macs"], additions=tot["adds"], aggregation_additions=agg_adds,
        cycles_preload=tot["pre"], cycles_stream=tot["stream"], cycles_fill_drain=tot["fill"],
        slot_cycles=tot["slots"], dram_bytes_read=tot["rd"], dram_bytes_written=tot["wr"],
        register_bytes=tot["reg"] / 8, icn_packets=icn_packets, icn_local_packets=icn_local,
        icn_bytes=icn_bytes, icn_hop_bytes=icn_hop_bytes,
        energy_dram_pj=(tot["rd"] + tot["wr"]) * 8 * cfg.memory.energy_pj_per_bit,
        energy_compute_pj=tot["macs"] * e.mac_pj + tot["adds"] * e.add_pj,
        energy_register_pj=tot["reg"] * e.register_pj_per_bit,
        energy_icn_pj=icn_hop_bytes * 8 * e.icn_pj_per_bit_hop,
        energy_aggregation_pj=agg_adds * e.aggregation_add_pj,
        time_compute_s=t_c_max, time_memory_s=t_m_max, time_icn_s=t_i_max, time_s=t_s_max + tail,
        **_events(events),
    )


def peak_flops(cfg: SystemConfig | ArrayConfig) -> float:
    """Peak FLOP/s (2 per MAC): rows x width x clock x compute scale x slices."""
    if isinstance(cfg, ArrayConfig):
        return 2.0 * cfg.rows * cfg.width * cfg.clock_ghz * 1e9
    return peak_flops(cfg.array) * cfg.compute_scale * cfg.num_slices


def peak_bandwidth(cfg: SystemConfig) -> float:
    """Aggregate peak memory bandwidth of the system in bytes/s."""
    return cfg.memory.bandwidth_gbps * 1e9 * cfg.num_slices


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
