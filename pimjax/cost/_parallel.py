"""Cost of data and model parallelism over several slice systems (:func:`pimjax.system.parallel_matmul`).

A node (:class:`~pimjax.hw.ParallelConfig`) of ``N`` units runs ``C = A @ B`` (A: M x K, B:
K x N_out) split as :func:`~pimjax.system.parallel_matmul` splits it. Unit ``u`` with work runs
its share, ``(M_u, K, N_out)`` (``"data"``) or ``(M, K_u, N_out)`` (``"model"``), as a
:func:`pimjax.cost.system_cost` call of ``config.unit`` with the even slice mapping its
``system_matmul`` uses (that record includes the unit writing its output, the partial of
``"model"``, to its own memory). The units run concurrently:

* work, cycles, bytes per memory level, interconnect traffic and energy: the sum over the
  units (plus the host's DRAM traffic below);
* ``time_compute_s``, ``time_memory_s``, ``time_icn_s``: the slowest unit's (maximum over the
  units) of each;
* ``time_s = max_u T_u + T_reduction + T_copy_back`` (the host sync cannot overlap the units'
  kernels, nor its two steps each other: AMD Sec. 5.4, Fig. 10);
* numeric events: those given (the node's, from :class:`~pimjax.system.ParallelResult`).

``"data"`` (AMD Sec. 5.1): every unit holds a copy of the whole model ("Each PIM GPU gets a
subset of the data and works on the full model") and reads all of B from its own memory: the
record counts B once per active unit (``N`` copies' capacity; programming the copies is not
costed). No sync: ``T_reduction = T_copy_back = 0``.

``"model"`` (AMD Sec. 5.4, Fig. 10): with ``A`` active units (``A = N`` unless a unit's K-range
is empty), ``e_p`` the bytes of a unit's output element (its aggregation output format,
8 when exact, as :func:`system_cost` writes it), ``e_o`` those of the host's output format (8 when exact),
``r_p = M N_out e_p`` and ``r_o = M N_out e_o``:

* reduction: the host reads the ``A`` partials (``A r_p`` DRAM bytes read), adds them
  (``(A - 1) M N_out`` host additions, counted in ``aggregation_additions``) and writes the
  result to unit 0 (``r_o`` bytes written);
  ``T_reduction = max((A - 1) M N_out / P_host, (r_p + r_o) / BW_hs)`` (unit 0's stack link
  carries its partial and the result; AMD's ``2 R / BW_hs`` for ``r_p = r_o = R``);
* copy-back: the other ``N - 1`` units fetch the result from unit 0 (``(N - 1) r_o`` bytes read
  there and as many written into their own memories), concurrently, each at the remote
  bandwidth ``BW_r``: ``T_copy_back = r_o / BW_r`` (0 when ``N = 1``);
* the host's DRAM bytes cost ``8 x unit.memory.energy_pj_per_bit`` pJ each; its additions no
  energy (the AMD paper gives no energy for the host GPU: "In the future, we plan to perform
  detailed evaluations of energy efficiency", Sec. 7).

``P_host``, ``BW_hs`` (host bandwidth per stack) and ``BW_r`` (remote PIM access) come from
``config.sync_node`` (default: AMD Table 1's 4PIM / 8PIM nodes: 650 GFLOPS per stack, 160 GB/s
per stack, 40 GB/s remote; see :func:`pimjax.hw.amd_node`); both formulas are
:func:`pimjax.cost.model_parallel_sync`, the FC sync of :func:`pimjax.cost.model_parallel_time`.
Even with one unit the host reads the partial and writes the result (it applies the output
stage): ``T_reduction = (r_p + r_o) / BW_hs``.

>>> from pimjax import hw
>>> from pimjax.numerics import fx
>>> unit = hw.presets.get("slices_hmc2").replace(num_slices=16)
>>> host = hw.AggregationConfig(packet_format=None, accumulator_format=fx(32, 8), output_format=fx(16, 8))
>>> cfg = hw.ParallelConfig(unit=unit, num_units=4, host=host)
>>> s = host_sync(128, 4096, 4096, cfg)
>>> s.dram_bytes_read == 4 * 128 * 4096 * 2 + 3 * 128 * 4096 * 2, round(s.copy_back_s * 1e6, 2)
(True, 26.21)
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from pimjax.cost._model import _bytes_of, _events, system_cost
from pimjax.cost._multipim import model_parallel_sync
from pimjax.cost._record import CostRecord, total
from pimjax.hw._parallel import ParallelConfig
from pimjax.numerics import NumericEvents
from pimjax.system._mapping import Mapping
from pimjax.system._parallel import parallel_matmul, unit_splits
from pimjax.units._interconnect import check_size


class HostSync(NamedTuple):
    """The host's share of a call (module docstring): times in seconds, bytes, additions."""

    reduction_s: float
    copy_back_s: float
    dram_bytes_read: int
    dram_bytes_written: int
    additions: int

    @property
    def sync_s(self) -> float:
        return self.reduction_s + self.copy_back_s


def _check(m: int, k: int, n: int, config: Any) -> None:
    if not isinstance(config, ParallelConfig):
        raise TypeError(f"config must be a ParallelConfig, got {type(config).__name__}")
    check_size("m", m, what=" (rows of A)")
    check_size("k", k, what=" (columns of A, rows of B)")
    check_size("n", n, what=" (columns of B)")


def host_sync(m: int, k: int, n: int, config: ParallelConfig, *,
              k_ranges: Sequence[Sequence[int]] | None = None) -> HostSync:
    """The host's reduction and copy-back of a ``"model"`` call (all zero for ``"data"``)."""
    _check(m, k, n, config)
    splits = unit_splits(m, k, n, config, k_ranges)
    if config.scheme == "data":
        return HostSync(0.0, 0.0, 0, 0, 0)
    active = sum(1 for lo, hi in splits if hi > lo)
    others = config.num_units - 1
    r_p = m * n * _bytes_of(config.unit.aggregation.output_format, 64)
    r_o = m * n * _bytes_of(config.host.output_format, 64)
    red, copy = model_parallel_sync(partials=active, output_elements=m * n, partial_bytes=r_p, result_bytes=r_o,
                                    node=config.sync_node, copies=1 if others else 0)
    return HostSync(red, copy, active * r_p + others * r_o, r_o + others * r_o, (active - 1) * m * n)


def parallel_cost(m: int, k: int, n: int, config: ParallelConfig, *, events: NumericEvents | None = None,
                  k_ranges: Sequence[Sequence[int]] | None = None) -> CostRecord:
    """Cost of ``(m x k) @ (k x n)`` on the node ``config`` (module docstring).

    Args:
      m, k, n: the call's shape.
      config: the node.
      events: numeric events to put in the record.
      k_ranges: the units' K-ranges (``"model"``; default: even, as
        :func:`~pimjax.system.parallel_matmul`).

    Raises:
      TypeError: ``config`` is no :class:`~pimjax.hw.ParallelConfig`.
      ValueError: a bad shape (each >= 1) or bad ``k_ranges``.
    """
    _check(m, k, n, config)
    splits = unit_splits(m, k, n, config, k_ranges)
    unit = config.unit
    arr = unit.array
    cache: dict[tuple[int, int], CostRecord] = {}
    records = []
    for lo, hi in splits:
        if hi == lo:
            continue  # idle
        mu, ku = (hi - lo, k) if config.scheme == "data" else (m, hi - lo)
        if (mu, ku) not in cache:
            mp = Mapping.even(k=ku, n=n, num_slices=unit.num_slices, width=arr.width, rows=arr.rows)
            cache[(mu, ku)] = system_cost(mu, mp.k_sizes, n, mp.owners, mp.tile_cols, unit)
        records.append(cache[(mu, ku)])
    sync = host_sync(m, k, n, config, k_ranges=k_ranges)
    host_bytes = sync.dram_bytes_read + sync.dram_bytes_written
    host = CostRecord.make(dram_bytes_read=sync.dram_bytes_read, dram_bytes_written=sync.dram_bytes_written,
                           aggregation_additions=sync.additions,
                           energy_dram_pj=host_bytes * 8 * unit.memory.energy_pj_per_bit)
    rec = total(records) + host
    with jax.enable_x64(True):  # the records' fields may be traced (under jit): jnp, not float()
        slowest = {f: jnp.max(jnp.stack([getattr(r, f) for r in records]))
                   for f in ("time_compute_s", "time_memory_s", "time_icn_s", "time_s")}
        slowest["time_s"] = slowest["time_s"] + (sync.reduction_s + sync.copy_back_s)
    made = CostRecord.make(**slowest, **_events(events))
    names = list(slowest) + (["overflow", "nan", "inf", "random_bits"] if events is not None else [])
    return rec.replace(**{f: getattr(made, f) for f in names})


def costed_parallel_matmul(a: Any, b: Any, config: ParallelConfig, **kw: Any):
    """:func:`pimjax.system.parallel_matmul` and its :class:`CostRecord`, in one traced call.

    Returns ``(ParallelResult, CostRecord)``; the record's shape-derived fields come from the
    shapes and the split, its numeric events from the data.
    """
    res = parallel_matmul(a, b, config, **kw)
    m, k, n = res.shape
    kr = res.splits if config.scheme == "model" else None
    return res, parallel_cost(m, k, n, config, events=res.events, k_ranges=kr)


__all__ = ["HostSync", "costed_parallel_matmul", "host_sync", "parallel_cost"]
