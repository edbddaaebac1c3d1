"""Data and model parallelism over several slice systems under a host (AMD paper Sec. 5).

A node (:class:`~pimjax.hw.ParallelConfig`) has ``N`` identical units, each a whole memory-slice
system (``config.unit``, computing with :func:`pimjax.system.system_matmul`, docs/design.md section 2
steps 1-5), and a host. ``C = A @ B`` with A (M x K), B (K x N_out):

``"data"`` (AMD Sec. 5.1, forward pass: "the input batch ... is partitioned across PIMs. Each
PIM GPU gets a subset of the data and works on the full model"):

1. A's rows are split into ``N`` contiguous blocks of ``p = ceil(M / N)`` rows: unit ``u`` gets
   rows ``[min(M, u p), min(M, (u + 1) p))``; a unit left with no rows is idle.
2. Unit ``u`` runs ``system_matmul(A_u, B, config.unit, key=fold_key(key, u), mesh=mesh)`` with
   the whole of B (every unit holds a copy of the model), its full datapath included (its
   aggregation's activation and output format).
3. The output is the units' outputs stacked in row order. There is no sync.

``"model"`` (AMD Sec. 5.4, Fig. 7: FC model parallelism; also NeuroTrainer Sec. 5.3, the
synchronous data-parallel weight update, which is the same K-split with K = batch):

1. K is split over the ``N`` units in contiguous ranges of whole ``W``-chunks (``W`` the unit
   array's width), as :meth:`Mapping.even` splits K over slices: the ``ceil(K / W)`` chunks go
   as evenly as possible, earlier units taking the extra chunk, the last range ends at K; or
   ranges given by ``k_ranges`` (validated as :class:`Mapping`'s). A unit with an empty range
   is idle and sends nothing.
2. Unit ``u`` computes its partial ``A[:, K_u] @ B[K_u, :]`` with ``system_matmul`` (its
   aggregation must be identity without LUT: ``config.unit`` checks it); its output codes are
   in the unit aggregation's output format (``partial_frac`` fraction bits), float values of
   its dtype on a float datapath.
3. The host is an aggregation engine (:mod:`pimjax.units._aggregation`) whose packets are the
   partials: it requantizes each partial to ``host.packet_format`` (``packet_rounding``; an
   exact format passes the codes on), adds them in ascending unit index into
   ``host.accumulator_format``, starting from 0, with overflow applied (and counted) after
   every addition, applies ``host.activation`` to the exact sum (or looks it up in
   ``host.lut``) and requantizes to ``host.output_format`` (``output_rounding``). Float
   datapaths round to nearest even after every host addition, as the aggregation engine does.

Events: every unit's, plus the host's; a NaN is counted once, where it first appears (a NaN
partial by its unit's output stage; the host counts only the NaNs its own additions make, e.g.
from +Inf and -Inf partials).

Operands are checked once, for the whole node, as :func:`system_matmul` checks them (codes
outside the unit array's formats raise, or under ``jit`` are saturated or wrapped and counted
once in ``events.overflow``; each unit's ``system_matmul`` checks its share again, in range by
then, so nothing is counted twice).

Random words (same key, same bits): unit ``u`` runs with ``fold_key(key, u)`` (its slices then
use their own sub-streams, see :func:`system_matmul`); the host runs with ``host_key =
fold_key(key, 1024)`` (:data:`~pimjax.hw.MAX_UNITS`, never a unit index): the packets of unit
``u`` round with words ``(M, N_out)`` of ``fold_key(fold_key(host_key, 11), u)`` and the output
stage with words ``(M, N_out)`` of ``fold_key(host_key, 12)``, drawn as the unit array's
``stochastic`` config says.

Devices: every unit's ``system_matmul`` receives ``mesh`` (its slices are sharded over the
``D`` devices of ``axis_name``; ``unit.num_slices`` must be a multiple of ``D``); the host's
steps run on the replicated results, so the result is bit-identical for every ``D``. Units of
the same shape run as one ``lax.map`` (one compiled body per distinct shape).
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from pimjax.hw._parallel import MAX_UNITS, ParallelConfig
from pimjax.numerics import NumericEvents, fold_key, needs_random, to_f64_exact
from pimjax.system._mapping import Mapping
from pimjax.system._matmul import SystemResult, system_matmul
from pimjax.units._aggregation import EngineSpec, finish, packet_key, reduce_packets, to_packets
from pimjax.units._interconnect import ICNCounts
from pimjax.units._array_operands import check_operands, check_static_formats

HOST_STREAM = MAX_UNITS
"""Sub-stream of the key the host's roundings draw from (unit ``u`` uses sub-stream ``u``)."""


@partial(jax.tree_util.register_dataclass,
         data_fields=["out", "events", "unit_events", "host_events", "icn", "ordered"],
         meta_fields=["scheme", "splits", "mappings", "shape"])
@dataclasses.dataclass(frozen=True)
class ParallelResult:
    """Result of :func:`parallel_matmul`.

    Attributes:
      out: (M, N) output: for ``"data"`` codes in the unit aggregation's output format, for
        ``"model"`` in the host's output format (float values on a float datapath).
      events: exact int64 :class:`~pimjax.numerics.NumericEvents` of the whole node: the
        operand check, every unit and the host.
      unit_events: per-unit events (each field an int64 array of ``num_units``; 0 for idle
        units).
      host_events: the host's events (packets, reduction, activation and output; zero for
        ``"data"``).
      icn: the units' interconnect counts, summed (float64 scalars).
      ordered: per unit, True where its hardware-order path ran (False for idle units).
      scheme: ``"data"`` or ``"model"``.
      splits: per unit, its ``(start, stop)`` range of A's rows (``"data"``) or of K
        (``"model"``).
      mappings: per unit, the :class:`Mapping` of its ``system_matmul`` (``None`` when idle).
      shape: ``(M, K, N)`` of the call.
    """

    out: jax.Array
    events: NumericEvents
    unit_events: NumericEvents
    host_events: NumericEvents
    icn: ICNCounts
    ordered: jax.Array
    scheme: str
    splits: tuple[tuple[int, int], ...]
    mappings: tuple[Mapping | None, ...]
    shape: tuple[int, int, int]

    @property
    def num_units(self) -> int:
        return len(self.splits)

    @property
    def active(self) -> tuple[int, ...]:
        """Indices of the units that had work."""
        return tuple(u for u, (lo, hi) in enumerate(self.splits) if hi > lo)

    @property
    def unit_shapes(self) -> tuple[tuple[int, int, int] | None, ...]:
        """Per unit, the ``(M_u, K_u, N)`` of its ``system_matmul`` (``None`` when idle)."""
        m, k, n = self.shape
        out = []
        for lo, hi in self.splits:
            if hi == lo:
                out.append(None)
            else:
                out.append((hi - lo, k, n) if self.scheme == "data" else (m, hi - lo, n))
        return tuple(out)


def row_splits(m: int, num_units: int) -> tuple[tuple[int, int], ...]:
    """``"data"``: blocks of ``ceil(m / num_units)`` rows, in order (trailing units may be empty).

    >>> row_splits(10, 4)
    ((0, 3), (3, 6), (6, 9), (9, 10))
    >>> row_splits(2, 3)
    ((0, 1), (1, 2), (2, 2))
    """
    p = -(-m // num_units)
    return tuple((min(m, u * p), min(m, (u + 1) * p)) for u in range(num_units))


def k_splits(k: int, n: int, config: ParallelConfig,
             k_ranges: Sequence[Sequence[int]] | None = None) -> tuple[tuple[int, int], ...]:
    """``"model"``: the units' K-ranges, :meth:`Mapping.even`'s rule over the units in whole
    array-width chunks, or ``k_ranges`` validated as :class:`Mapping` validates them.

    >>> from pimjax import hw
    >>> from pimjax.numerics import fx
    >>> host = hw.AggregationConfig(packet_format=None, accumulator_format=fx(32, 8), output_format=None)
    >>> k_splits(100, 5, hw.ParallelConfig(unit=hw.presets.get("slices_hmc2"), num_units=3, host=host))
    ((0, 40), (40, 72), (72, 100))
    """
    arr = config.unit.array
    if k_ranges is None:
        return Mapping.even(k=k, n=n, num_slices=config.num_units, width=arr.width, rows=arr.rows).k_ranges
    if len(k_ranges) != config.num_units:
        raise ValueError(f"k_ranges must have one (start, stop) range per unit ({config.num_units}), "
                         f"got {len(k_ranges)}")
    try:
        return Mapping.explicit(k=k, n=n, k_ranges=k_ranges, rows=arr.rows).k_ranges
    except (TypeError, ValueError) as e:
        raise type(e)(f"k_ranges: {e}") from None


def unit_splits(m: int, k: int, n: int, config: ParallelConfig,
                k_ranges: Sequence[Sequence[int]] | None = None) -> tuple[tuple[int, int], ...]:
    """Every unit's range: of A's rows (``"data"``, :func:`row_splits`; ``k_ranges`` refused) or of
    K (``"model"``, :func:`k_splits`)."""
    if config.scheme == "data":
        if k_ranges is not None:
            raise ValueError("k_ranges applies to scheme 'model' only (scheme 'data' splits A's rows)")
        return row_splits(m, config.num_units)
    return k_splits(k, n, config, k_ranges)


def host_engine(config: ParallelConfig) -> EngineSpec:
    """The host of a ``"model"`` node as an aggregation engine over the units' partials."""
    arr = config.unit.array
    return EngineSpec(config.host, arr.is_float, config.partial_frac, arr.stochastic)


def parallel_matmul(
    a: jax.Array,
    b: jax.Array,
    config: ParallelConfig,
    *,
    mesh: Mesh | None = None,
    key: Any = None,
    method: str = "auto",
    axis_name: str = "slices",
    k_ranges: Sequence[Sequence[int]] | None = None,
) -> ParallelResult:
    """``C = A @ B`` on ``config.num_units`` slice systems, bit for bit (module docstring).

    Args:
      a: (M, K) codes of ``config.unit.array.a_format`` (float values for a float datapath).
      b: (K, N) codes of ``config.unit.array.b_format``.
      config: the node.
      mesh: passed to every unit's :func:`system_matmul` (default: one device).
      key: ``jax.random`` key or int seed for stochastic stages.
      method: exact GEMM method of the units' fast paths.
      axis_name: the mesh axis the units' slices are laid over.
      k_ranges: ``"model"`` only: one ``(start, stop)`` K-range per unit (default: even).

    Returns:
      :class:`ParallelResult`.

    Raises:
      TypeError: ``config`` is no :class:`~pimjax.hw.ParallelConfig`, traced host formats, or
        operands of the wrong kind.
      ValueError: bad shapes (M, K, N >= 1), bad ``k_ranges``, ``k_ranges`` for ``"data"``,
        out-of-range concrete codes, or a stochastic rounding without a key.

    >>> from pimjax import hw
    >>> from pimjax.numerics import fx
    >>> unit = hw.SystemConfig(array=hw.presets.get("memory_slices").replace(rows=4, width=4), num_slices=2,
    ...                        aggregation=hw.AggregationConfig(packet_format=None, accumulator_format=fx(32, 16),
    ...                                                         output_format=None))
    >>> cfg = hw.ParallelConfig(unit=unit, num_units=3, host=hw.AggregationConfig(
    ...     packet_format=None, accumulator_format=fx(32, 16), output_format=None))
    >>> a = np.arange(-30, 33, dtype=np.int16).reshape(3, 21)
    >>> b = np.arange(-50, 55, dtype=np.int16).reshape(21, 5)
    >>> r = parallel_matmul(a, b, cfg)
    >>> r.splits, bool((np.asarray(r.out) == a.astype(np.int64) @ b).all())
    (((0, 8), (8, 16), (16, 21)), True)
    """
    if not isinstance(config, ParallelConfig):
        raise TypeError(f"config must be a ParallelConfig, got {type(config).__name__}")
    unit = config.unit
    if config.scheme == "model":
        h = config.host
        check_static_formats(
            [(f"ParallelConfig.host.{f}", getattr(h, f)) for f in ("packet_format", "accumulator_format",
                                                                     "output_format")]
            + [("ParallelConfig.host.lut.entry_format", h.lut.entry_format if h.lut is not None else None)],
            "parallel_matmul")
        if key is None and not unit.array.is_float:
            for f, fmt in (("packet_rounding", h.packet_format), ("output_rounding", h.output_format)):
                if fmt is not None and needs_random(getattr(h, f)):
                    raise ValueError(f"ParallelConfig.host.{f} {getattr(h, f)!r} needs a key")
    a, b, ev_in = check_operands(a, b, unit.array, who="parallel_matmul")
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        raise ValueError(f"parallel_matmul needs M >= 1 and N >= 1, got a {a.shape} and b {b.shape}")
    splits = unit_splits(m, k, n, config, k_ranges)
    results = _run_units(a, b, config, splits, mesh=mesh, key=key, method=method, axis_name=axis_name)
    active = [u for u, (lo, hi) in enumerate(splits) if hi > lo]
    if config.scheme == "data":
        out = jnp.concatenate([results[u][0] for u in active], axis=0) if len(active) > 1 else results[active[0]][0]
        host_ev = NumericEvents.zero()
    else:
        out, host_ev = _host_reduce([results[u][0] for u in active], active, config, key)
    zero = NumericEvents.zero()
    per_unit = [results[u][1] if u in results else zero for u in range(config.num_units)]
    with jax.enable_x64(True):
        unit_ev = NumericEvents(*(jnp.stack([jnp.asarray(e[i], jnp.int64) for e in per_unit])
                                  for i in range(len(zero))))
        events = ev_in.merge(NumericEvents(*(jnp.sum(x) for x in unit_ev))).merge(host_ev)
        icn = ICNCounts(*(sum(jnp.asarray(results[u][2][i], jnp.float64) for u in active)
                          for i in range(len(ICNCounts._fields))))
        ordered = jnp.stack([jnp.asarray(results[u][3], bool) if u in results else jnp.asarray(False)
                             for u in range(config.num_units)])
    mappings = tuple(results[u][4] if u in results else None for u in range(config.num_units))
    return ParallelResult(out, events, unit_ev, host_ev, icn, ordered, config.scheme, tuple(splits), mappings,
                          (m, k, n))


def _run_units(a, b, config: ParallelConfig, splits, *, mesh, key, method, axis_name):
    """``{u: (out, events, icn, ordered, mapping)}`` of the active units.

    Units with the same operand shapes run as one ``lax.map`` over their index (a traced
    ``u`` gives the same ``fold_key(key, u)`` as a static one).
    """
    unit = config.unit
    data = config.scheme == "data"

    def operands(lo, hi):
        return (a[lo:hi], b) if data else (a[:, lo:hi], b[lo:hi])

    def call(a_u, b_u, ukey) -> SystemResult:
        return system_matmul(a_u, b_u, unit, mesh=mesh, key=ukey, method=method, axis_name=axis_name)

    groups: dict[int, list[int]] = {}
    for u, (lo, hi) in enumerate(splits):
        if hi > lo:
            groups.setdefault(hi - lo, []).append(u)
    results: dict[int, tuple] = {}
    for units in groups.values():
        if len(units) == 1:
            u = units[0]
            r = call(*operands(*splits[u]), None if key is None else fold_key(key, u))
            results[u] = (r.out, r.events, r.icn, r.ordered, r.mapping)
            continue
        size = splits[units[0]][1] - splits[units[0]][0]
        idx = np.array([splits[u][0] for u in units])
        if data:
            a_st = a[idx[:, None] + np.arange(size)[None, :]]  # (G, size, K)
            b_st = None
        else:
            cols = idx[:, None] + np.arange(size)[None, :]
            a_st = jnp.transpose(a[:, cols], (1, 0, 2))  # (G, M, size)
            b_st = b[cols]  # (G, size, N)
        seen: list[Mapping] = []

        def body(xs):
            u, a_u, b_u = xs
            r = call(a_u, b if b_u is None else b_u, None if key is None else fold_key(key, u))
            seen.append(r.mapping)
            return r.out, r.events, r.icn, r.ordered

        outs = jax.lax.map(body, (jnp.asarray(units, jnp.int32), a_st, b_st))
        for g, u in enumerate(units):
            results[u] = tuple(jax.tree_util.tree_map(lambda x, g=g: x[g], outs)) + (seen[0],)
    return results


def _host_reduce(partials, active, config: ParallelConfig, key):
    """The host: each unit's partial to a packet, the ordered sum, activation and output."""
    eng = host_engine(config)
    hkey = None if key is None else fold_key(key, HOST_STREAM)
    ev = NumericEvents.zero()
    packets = []
    for u, p in zip(active, partials):
        with jax.enable_x64(True):
            if eng.is_float:
                p = to_f64_exact(p)  # exact (a plain astype flushes fp32 / bf16 subnormals on XLA:CPU)
            pk, pev = to_packets(p, eng, key=packet_key(hkey, eng, u))
            packets.append(pk.astype(jnp.float64 if eng.is_float else jnp.int64))
        ev = ev.merge(pev)
    with jax.enable_x64(True):
        stacked = jnp.stack(packets)
        acc, rev = reduce_packets(stacked, eng)
    out, oev = finish(acc, eng, key=hkey)
    if eng.is_float:
        # a NaN partial was counted by its unit's output stage and makes its sum NaN: the host
        # counts only the NaNs its own additions make (e.g. +Inf + -Inf partials)
        with jax.enable_x64(True):
            inherited = jnp.sum(jnp.any(jnp.isnan(stacked), axis=0), dtype=jnp.int64)
            oev = oev._replace(nan=jnp.asarray(oev.nan, jnp.int64) - inherited)
    return out, ev.merge(rev).merge(oev)


__all__ = ["HOST_STREAM", "ParallelResult", "host_engine", "k_splits", "parallel_matmul", "row_splits",
           "unit_splits"]
