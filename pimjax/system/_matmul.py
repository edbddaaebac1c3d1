"""The multi-slice system matmul, with slices sharded over JAX devices (``jax.shard_map``).

``C = act(A @ B)`` on ``S`` memory slices (Memory Slices Sec. 4.1-4.2, Fig. 5-6): slice ``s``
multiplies its K-range on its own array (docs/design.md section 2 steps 1-3), requantizes its final
accumulator to the packet format and sends it; the owner's aggregation engine adds the packets
in ascending slice index (step 4) and applies activation and output format (step 5).

The ``S`` slices are laid over the ``D`` devices of a mesh axis (``S`` a multiple of ``D``),
``S / D`` consecutive slices per device. The result is bit-identical for every ``D``:

* **fast** (order cannot matter: no rounding before the output stage and, from the formats or
  the data, no stage can overflow): K is split evenly over the devices, every device computes
  its exact partial product with one GEMM and the partials meet in one ``psum`` of exact
  integers (int32 when the stage limits prove they fit).
* **ordered** (otherwise): each device runs its slices' arrays (``lax.map``), rounds packets,
  and an ``all_to_all`` hands every device all ``S`` packets of its block of output columns in
  slice order; the device adds them in that order. The output stage then runs on the global
  array, so random words do not depend on ``D``.

Across hosts: call ``jax.distributed.initialize()`` on every host, build the mesh over
``jax.devices()`` (all hosts' devices), e.g. ``jax.make_mesh((len(jax.devices()),), ("slices",))``,
and call :func:`system_matmul` with it from every host with the same arguments; ``shard_map``
and its collectives then span the hosts unchanged.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from pimjax.hw._system import SystemConfig
from pimjax.numerics import NumericEvents, fold_key
from pimjax.system._mapping import Mapping
from pimjax.units._aggregation import finish, packet_key, reduce_packets, to_packets
from pimjax.units._exact_gemm import exact_matmul, resolve_method
from pimjax.units._interconnect import ICNCounts, packetize
from pimjax.units._array_operands import check_operands, check_static_formats, jit_operands
from pimjax.units._systolic import _accumulate, _bound_limit, _data_bound_ok, _order_free
from pimjax.units._backend import accelerator_paths

_SLICE_STREAM = 21


@partial(jax.tree_util.register_dataclass, data_fields=["out", "events", "icn", "ordered"], meta_fields=["mapping"])
@dataclasses.dataclass(frozen=True)
class SystemResult:
    """Result of a system matmul.

    Attributes:
      out: (M, N) output codes in the aggregation output format (float values for float
        datapaths).
      events: numeric events of all slices, packets and the aggregation engine.
      icn: interconnect counts (:class:`~pimjax.units.ICNCounts` of float64 scalars).
      ordered: True when the hardware-order path ran.
      mapping: the mapping used (static, printable).
    """

    out: jax.Array
    events: NumericEvents
    icn: ICNCounts
    ordered: jax.Array
    mapping: Mapping


def default_mesh(axis_name: str = "slices", devices: int = 1) -> Mesh:
    """A 1-D mesh over the first ``devices`` devices."""
    devs = jax.devices()
    if devices > len(devs):
        raise ValueError(f"devices must be at most the {len(devs)} available devices, got {devices}")
    return Mesh(np.array(devs[:devices]), (axis_name,))


def _system_order_free(cfg: SystemConfig) -> bool:
    if cfg.array.is_float or not _order_free(cfg.array):
        return False
    agg = cfg.aggregation
    pf = agg.packet_format
    if pf is not None and pf.frac != cfg.array.tree_frac:
        return False
    nonneg = not cfg.array.a_format.signed and not cfg.array.b_format.signed
    return all(f is None or f.signed or nonneg for f in (pf, agg.accumulator_format))


def _system_limit(cfg: SystemConfig) -> int:
    lims = [_bound_limit(cfg.array)]
    for f in (cfg.aggregation.packet_format, cfg.aggregation.accumulator_format):
        if f is not None:
            lims.append(f.max_code)
    return min(lims)


def _single_packet_passes(cfg: SystemConfig) -> bool:
    """True when one fixed-point slice's packet reaches the engine's accumulator unchanged.

    One slice, no packet format (the packet is the slice's final accumulator) and an engine
    accumulator whose range holds the array accumulator's: every path leaves the slice's
    accumulator in its format's range (the ordered path applies its overflow rule after every
    addition, the fast and rounded-products paths run only where no stage can overflow), so
    adding the one packet to zero cannot overflow and the reduction is the identity with no
    events; it is not compiled.
    """
    arr, agg = cfg.array, cfg.aggregation
    af, ef = arr.accumulator_format, agg.accumulator_format
    return (cfg.num_slices == 1 and not arr.is_float and agg.packet_format is None and af is not None
            and ef is not None and ef.min_code <= af.min_code and af.max_code <= ef.max_code)


def _slice_operands(a, b, mapping: Mapping, width: int):
    """A as (S, M, Kp) and B as (S, Kp, N), each slice's K-range zero-padded to Kp (a multiple
    of ``width``: the longest range's chunks, see :func:`_slice_chunks`)."""
    k = a.shape[1]
    kp = max(max(mapping.k_sizes), 1)
    kp = -(-kp // width) * width
    if mapping.num_slices == 1:  # one slice holds all of K: pad, no gather
        return jnp.pad(a, ((0, 0), (0, kp - k)))[None], jnp.pad(b, ((0, kp - k), (0, 0)))[None]
    idx = np.full((mapping.num_slices, kp), k, dtype=np.int32)  # k = index of a zero column
    for s, (lo, hi) in enumerate(mapping.k_ranges):
        idx[s, : hi - lo] = np.arange(lo, hi)
    a_pad = jnp.concatenate([a, jnp.zeros((a.shape[0], 1), a.dtype)], axis=1)
    b_pad = jnp.concatenate([b, jnp.zeros((1, b.shape[1]), b.dtype)], axis=0)
    a_sl = jnp.transpose(a_pad[:, idx], (1, 0, 2))  # (S, M, Kp)
    b_sl = b_pad[idx]  # (S, Kp, N)
    return a_sl, b_sl


def _slice_chunks(mapping: Mapping, width: int) -> tuple[np.ndarray, int]:
    """The K-chunks each slice's array runs (``ceil(k_s / width)``) and the padded count of
    :func:`_slice_operands` (``Kp / width``)."""
    chunks = np.array([-(-ks // width) for ks in mapping.k_sizes], np.int64)
    return chunks, max(int(chunks.max()), 1)


def system_matmul(
    a: jax.Array,
    b: jax.Array,
    config: SystemConfig,
    *,
    mesh: Mesh | None = None,
    mapping: Mapping | None = None,
    key: Any = None,
    method: str = "auto",
    axis_name: str = "slices",
) -> SystemResult:
    """``C = act(A @ B)`` on ``config.num_slices`` slices, bit for bit (docs/design.md section 2).

    Args:
      a: (M, K) codes of ``config.array.a_format`` (float values for a float datapath).
      b: (K, N) codes of ``config.array.b_format``.
      config: the system.
      mesh: a mesh with axis ``axis_name`` over D devices (``num_slices % D == 0``); default:
        one device.
      mapping: K-ranges and output owners (default :meth:`Mapping.even`).
      key: ``jax.random`` key or int seed for stochastic stages.
      method: exact GEMM method of the fast path (``"auto"``, ``"f64"``, ``"int8"``).
      axis_name: the mesh axis the slices are laid over.

    Returns:
      :class:`SystemResult`. M and N must be at least 1 (ValueError). Its events are exact
      int64 counts, summed over the slices, the packets and the aggregation engine.

    Random bits (``events.random_bits``): slice ``s`` with a K-range of ``k_s`` elements
    draws, in each of its own ``ceil(k_s / width)`` K-chunks, one word per multiplier slot
    (``M x width x N``, the zero-padded lanes of its ragged last chunk included) for a
    stochastic product stage and ``M x N`` for a stochastic tree stage; the chunks of zero
    padding that give every slice the longest slice's length are not counted (the slice's
    array does not run them). Each slice's packet rounding then draws ``M x N`` words and a
    stochastic aggregation output stage ``M x N``. Every word counts ``min(d, r)`` bits
    (``d``: the fraction bits its stage drops, clipped at 0; ``r``: the array's
    ``stochastic.bits``). The count is the same on every path and for any number of devices.

    Operands are checked as in :func:`pimjax.units.systolic_matmul`
    (:func:`pimjax.units.check_operands`): codes outside ``config.array.a_format`` /
    ``b_format`` raise ValueError, or under ``jit`` / ``vmap`` are saturated or wrapped by the
    operand format and counted as overflow events. Formats must be static (TypeError; traced
    numerics are swept with :mod:`pimjax.apps.sweep`).
    """
    if not isinstance(config, SystemConfig):
        raise TypeError(f"config must be a SystemConfig, got {type(config).__name__}")
    agg = config.aggregation
    check_static_formats(
        [(f"AggregationConfig.{f}", getattr(agg, f)) for f in ("packet_format", "accumulator_format", "output_format")]
        + [("LUTConfig.entry_format", agg.lut.entry_format if agg.lut is not None else None)], "system_matmul")
    arr = config.array
    a, b, ev0 = check_operands(a, b, arr, who="system_matmul")
    method = resolve_method(method)
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        raise ValueError(f"system_matmul needs M >= 1 and N >= 1 (a mapping and its packets have at least one "
                         f"output row and column), got a {a.shape} and b {b.shape}")
    s_count = config.num_slices
    if mapping is None:
        mapping = Mapping.even(k=k, n=n, num_slices=s_count, width=arr.width, rows=arr.rows)
    if not isinstance(mapping, Mapping):
        raise TypeError(f"mapping must be a Mapping, got {type(mapping).__name__}")
    if mapping.k != k or mapping.n != n or mapping.num_slices != s_count:
        raise ValueError(
            f"mapping is for K={mapping.k}, N={mapping.n}, {mapping.num_slices} slices; "
            f"the call has K={k}, N={n}, num_slices={s_count}"
        )
    if mapping.tile_cols != arr.rows:
        raise ValueError(
            f"mapping.tile_cols ({mapping.tile_cols}) must equal the array's rows ({arr.rows}): an output "
            "tile is the columns of N one array holds"
        )
    if mesh is None:
        mesh = default_mesh(axis_name)
    if axis_name not in mesh.shape:
        raise ValueError(f"mesh has no axis {axis_name!r} (axes: {tuple(mesh.shape)})")
    d = mesh.shape[axis_name]
    if s_count % d:
        raise ValueError(
            f"SystemConfig.num_slices ({s_count}) must be a multiple of the {d} devices on mesh axis {axis_name!r}"
        )
    icn = packetize(k_sizes=mapping.k_sizes, owners=mapping.owners, n=n, tile_cols=mapping.tile_cols,
                    m=m, cfg=config)

    a, b, key, jittable = jit_operands(a, b, arr, key)
    kw = dict(config=config, mesh=mesh, mapping=mapping, axis=axis_name, method=method)
    if jittable:
        out, ev, ok = _system_jit(a, b, key, **kw, accelerator=accelerator_paths())
    else:
        out, ev, ok = _system_core(a, b, key, **kw)
    ev = ev0.merge(ev)
    with jax.enable_x64(True):
        icn_arr = ICNCounts(*(jnp.asarray(v, jnp.float64) for v in icn))
    return SystemResult(out, ev, icn_arr, ~ok, mapping)


@partial(jax.jit, static_argnames=("config", "mesh", "mapping", "axis", "method", "accelerator"))
def _system_jit(a, b, key, *, config, mesh, mapping, axis, method, accelerator):
    """:func:`_system_core` as one program per shape and configuration (an eager call compiles
    once; under a trace it inlines). ``accelerator`` keys the cache by the paths taken."""
    del accelerator
    return _system_core(a, b, key, config=config, mesh=mesh, mapping=mapping, axis=axis, method=method)


def _system_core(a, b, key, *, config: SystemConfig, mesh: Mesh, mapping: Mapping, axis: str, method: str):
    """The datapath of :func:`system_matmul` on checked codes: ``(out, events, fast_path_ok)``."""
    arr = config.array
    k = a.shape[1]
    n = b.shape[1]
    mode = "ordered"
    ok = jnp.asarray(False)
    if _system_order_free(config):
        limit = _system_limit(config)
        fa, fb = arr.a_format, arr.b_format
        static_bound = k * max(-fa.min_code, fa.max_code) * max(-fb.min_code, fb.max_code)
        if static_bound <= limit:
            mode, ok = "fast", jnp.asarray(True)
        else:
            mode, ok = "cond", _data_bound_ok(a, b, limit)
    acc, ev = _run(a, b, ok, mapping, cfg=config, mesh=mesh, axis=axis, key=key, method=method,
                   n=n, mode=mode)
    out, ev2 = finish(acc, config, key=key)
    ev = ev.merge(ev2)
    if mesh.shape[axis] > 1:
        # Replicate the result: what follows (float ops of a model) then runs unpartitioned,
        # so its reduction orders, and bits, are those of a single device.
        rep = NamedSharding(mesh, P())
        out = jax.lax.with_sharding_constraint(out, rep)
        ev = NumericEvents(*(jax.lax.with_sharding_constraint(x, rep) for x in ev))
    return out, ev, ok


def _psum_events(ev: NumericEvents, axis: str) -> NumericEvents:
    with jax.enable_x64(True):
        return NumericEvents(*(jax.lax.psum(x.astype(jnp.int64), axis) for x in ev))


def _run(a, b, ok, mapping: Mapping, *, cfg: SystemConfig, mesh: Mesh, axis: str, key: Any, method: str,
         n: int, mode: str):
    """The aggregated accumulator (M, N): one ``shard_map`` over the slice axis, or, on one
    device, the same steps without collectives (the fast path then multiplies A and B whole:
    order cannot matter)."""
    arr = cfg.array
    d = mesh.shape[axis]
    s_loc = cfg.num_slices // d
    n_pad = -(-n // d) * d
    blk = n_pad // d
    chunks, nc_pad = _slice_chunks(mapping, arr.width)
    # One slice in "cond" mode: its ordered branch runs only where the system's bound (over the
    # same K, stage limits at least as strict) failed, so the slice's array compiles no fast
    # branch of its own (same bits: where that bound holds, both paths are exact).
    bound_failed = mode == "cond" and cfg.num_slices == 1

    def slice_packets(s, a_s, b_s):
        """Slice ``s``'s packets and events, from its K-range zero-padded to ``nc_pad`` chunks."""
        skey = None if key is None else fold_key(fold_key(key, _SLICE_STREAM), s)
        acc, ev, _ = _accumulate(a_s, b_s, arr, skey, method, bound_failed)
        # The padding chunks change no value (zero products round to zero whatever the word),
        # but the slice's array runs only its own chunks: count only their random bits (every
        # path counts the same number per chunk, see _accumulate: the division is exact).
        # int64 throughout (this runs inside the callers' x64 scopes); the count may be traced
        # (rounding modes swept), so it is not a Python int.
        with jax.enable_x64(True):
            rb = ev.random_bits.astype(jnp.int64) // nc_pad * jnp.asarray(chunks, jnp.int64)[s]
        ev = ev._replace(random_bits=rb)
        pk, pev = to_packets(acc, cfg, key=packet_key(key, cfg, s))
        return pk, ev.merge(pev)

    def ordered_body(a_loc, b_loc):
        first = jax.lax.axis_index(axis) * s_loc
        packets, evs = jax.lax.map(lambda xs: slice_packets(first + xs[0], xs[1], xs[2]),
                                   (jnp.arange(s_loc), a_loc, b_loc))
        ev = NumericEvents(*(jnp.sum(x, dtype=jnp.int64) for x in evs))
        if n_pad != n:
            packets = jnp.pad(packets, ((0, 0), (0, 0), (0, n_pad - n)))
        packets = packets.reshape(s_loc, packets.shape[1], d, blk)
        # every device receives all S slices' packets for its column block, in slice order
        packets = jax.lax.all_to_all(packets, axis, split_axis=2, concat_axis=0, tiled=True)
        packets = packets.reshape(cfg.num_slices, packets.shape[1], blk)
        acc, rev = reduce_packets(packets, cfg)
        return acc, ev.merge(rev)

    def exact_whole(a, b):
        return exact_matmul(a, b, a_bits=arr.a_format.bits, b_bits=arr.b_format.bits,
                            a_signed=arr.a_format.signed, b_signed=arr.b_format.signed,
                            method=method), NumericEvents.zero()

    def ordered_single(a, b):
        a_sl, b_sl = _slice_operands(a, b, mapping, arr.width)
        if _single_packet_passes(cfg):
            acc, ev = slice_packets(0, a_sl[0], b_sl[0])
            return acc.astype(jnp.int64), ev.to_int64()
        packets, evs = jax.lax.map(lambda xs: slice_packets(*xs), (jnp.arange(cfg.num_slices), a_sl, b_sl))
        ev = NumericEvents(*(jnp.sum(x, dtype=jnp.int64) for x in evs))
        acc, rev = reduce_packets(packets, cfg)
        return acc, ev.merge(rev)

    if d == 1:
        with jax.enable_x64(True):
            if mode == "fast":
                return exact_whole(a, b)
            if mode == "cond":
                return jax.lax.cond(ok, exact_whole, ordered_single, a, b)
            return ordered_single(a, b)

    limit_small = _system_order_free(cfg) and _system_limit(cfg) < 2**31

    def fast_sharded(a, b):
        # Order cannot matter: split K evenly over the devices (whatever the slice mapping),
        # one exact GEMM per device, one psum of exact integers (int32 when every partial
        # sum provably fits: sum_k |a||b| <= the 32-bit stage limits).
        k = a.shape[1]
        kp = -(-k // d) * d
        if kp != k:
            a = jnp.pad(a, ((0, 0), (0, kp - k)))
            b = jnp.pad(b, ((0, kp - k), (0, 0)))

        def body(a_loc, b_loc):
            with jax.enable_x64(True):
                part = exact_matmul(a_loc, b_loc, a_bits=arr.a_format.bits, b_bits=arr.b_format.bits,
                                    a_signed=arr.a_format.signed, b_signed=arr.b_format.signed, method=method)
                part = part.astype(jnp.int32) if limit_small else part
                return jax.lax.psum(part, axis).astype(jnp.int64)

        with jax.enable_x64(True):
            acc = jax.shard_map(body, mesh=mesh, in_specs=(P(None, axis), P(axis, None)), out_specs=P(),
                                check_vma=False)(a, b)
        return acc, NumericEvents.zero()

    def ordered_sharded(a, b):
        with jax.enable_x64(True):
            a_sl, b_sl = _slice_operands(a, b, mapping, arr.width)

        def body(a_loc, b_loc):
            with jax.enable_x64(True):
                acc, ev = ordered_body(a_loc, b_loc)
                return acc, _psum_events(ev, axis)

        with jax.enable_x64(True):
            acc, ev = jax.shard_map(body, mesh=mesh, in_specs=(P(axis), P(axis)),
                                    out_specs=(P(None, axis), P()), check_vma=False)(a_sl, b_sl)
        return acc[:, :n], ev

    # Pin the operands replicated: the devices' K-split must not propagate back into the
    # (float) computation that produced them, whose bits would then depend on D.
    rep = NamedSharding(mesh, P())
    a = jax.lax.with_sharding_constraint(a, rep)
    b = jax.lax.with_sharding_constraint(b, rep)
    with jax.enable_x64(True):
        if mode == "fast":
            return fast_sharded(a, b)
        if mode == "cond":
            return jax.lax.cond(ok, fast_sharded, ordered_sharded, a, b)
        return ordered_sharded(a, b)


__all__ = ["SystemResult", "default_mesh", "system_matmul"]
