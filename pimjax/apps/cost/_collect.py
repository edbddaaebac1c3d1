"""Collecting per-layer, per-phase cost records from a model after a step, and printing them.

Emulated layers sow ``nnx.Intermediate`` values ``"cost"`` (phase -> CostRecord, FF events
included) and own a ``CostProbe`` whose gradient carries the BP/UP events (encoded exactly,
:func:`pimjax.nn.probe_events`); this module joins the two by module path. Every sum here is
formed in float64 inside an x64 scope: event counts and shape-derived fields stay exact
integers below 2**53.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from pimjax.cost import CostRecord
from pimjax.nn import PHASES, probe_events
from pimjax.nn._layers import CostProbe


def _path_key(path: tuple) -> str:
    return "/".join(str(p) for p in path)


def _sum_calls(value: Any) -> dict[str, CostRecord]:
    """A sown value: one dict summed over the layer's calls (``add_costs``), a tuple of per-call
    dicts (``sow``'s default), or stacked under a scan; summed to one dict."""
    calls = value if isinstance(value, (tuple, list)) else (value,)
    total: dict[str, CostRecord] = {}
    with jax.enable_x64(True):  # float64 sums (outside the scope they would be float32)
        for c in calls:
            for ph, rec in c.items():
                if rec.macs.ndim:  # stacked by a scan: sum over the leading axis
                    rec = jax.tree.map(lambda x: jnp.sum(jnp.asarray(x, jnp.float64), axis=0), rec)
                total[ph] = total[ph] + rec if ph in total else rec
    return total


def collect_costs(intermediates: nnx.State, probe_grads: nnx.State) -> dict[str, dict[str, CostRecord]]:
    """Joins sown cost intermediates with probe gradients: layer path -> phase -> record."""
    costs: dict[str, dict[str, CostRecord]] = {}
    for path, leaf in nnx.to_flat_state(intermediates):
        if not path or path[-1] != "cost":
            continue
        value = leaf.get_value() if hasattr(leaf, "get_value") else leaf.value
        costs[_path_key(path[:-1])] = _sum_calls(value)
    for path, leaf in nnx.to_flat_state(probe_grads):
        if not path or path[-1] != "probe":
            continue
        key = _path_key(path[:-1])
        if key not in costs:
            continue
        g = leaf.get_value() if hasattr(leaf, "get_value") else leaf.value
        events = probe_events(g)  # exact int64 counts
        with jax.enable_x64(True):
            for ph in ("bp", "up"):
                r, ev = costs[key][ph], events[ph]
                f64 = lambda c: c.astype(jnp.float64)  # noqa: E731
                costs[key][ph] = r.replace(overflow=r.overflow + f64(ev.overflow), nan=r.nan + f64(ev.nan),
                                           inf=r.inf + f64(ev.inf), random_bits=r.random_bits + f64(ev.random_bits))
    return costs


class CostLayout:
    """Packs a step's cost table into one float64 array inside the jitted step, and back.

    ``pack`` runs at trace time: it remembers the table's structure (layers, phases, record
    fields) and returns the concatenation of every leaf, one output buffer instead of hundreds
    of scalars. ``wrap`` pairs a packed array with that structure (:class:`PackedCosts`).
    """

    def __init__(self) -> None:
        self.treedef: Any = None

    def pack(self, costs: dict[str, dict[str, CostRecord]]) -> jax.Array:
        leaves, treedef = jax.tree.flatten(costs)
        self.treedef = treedef
        with jax.enable_x64(True):
            if not leaves:
                return jnp.zeros((0,), jnp.float64)
            return jnp.stack([jnp.asarray(x, jnp.float64).reshape(()) for x in leaves])

    def wrap(self, packed: jax.Array) -> "PackedCosts":
        if self.treedef is None:
            raise RuntimeError("CostLayout.wrap before the step was traced")
        return PackedCosts(packed, self.treedef)


@dataclasses.dataclass(frozen=True)
class PackedCosts:
    """A step's cost table as one float64 array; :meth:`unpack` gives layer -> phase -> record."""

    packed: jax.Array
    treedef: Any

    def unpack(self) -> dict[str, dict[str, CostRecord]]:
        with jax.enable_x64(True):
            vals = jnp.asarray(self.packed, jnp.float64)
            return jax.tree.unflatten(self.treedef, [vals[i] for i in range(vals.shape[0])])

    def block_until_ready(self) -> "PackedCosts":
        jax.block_until_ready(self.packed)
        return self


def add_costs(a: dict | None, b: dict) -> dict:
    """Layer/phase-wise sum of two cost tables (``a`` may be None)."""
    if a is None:
        return b
    return {layer: {ph: a[layer][ph] + b[layer][ph] for ph in b[layer]} for layer in b}


def cost_rows(costs: dict[str, dict[str, CostRecord]]) -> list[dict[str, Any]]:
    """Tidy rows (layer, phase, metric fields) for CSV/JSON."""
    rows = []
    for layer, phases in costs.items():
        for ph in PHASES:
            if ph in phases:
                d = phases[ph].to_dict()
                rows.append({"layer": layer, "phase": ph, **d})
    return rows


def format_cost_table(costs: dict[str, dict[str, CostRecord]], title: str = "") -> str:
    """A readable per-layer, per-phase table: MACs, cycles, utilization, time, energy, events
    (overflows and random bits as exact integers)."""
    hdr = f"{'layer':<28} {'phase':<5} {'GMACs':>9} {'Mcycles':>9} {'util':>6} {'time ms':>9} " \
          f"{'energy mJ':>10} {'DRAM MB':>9} {'ICN MB':>8} {'ovfl':>9} {'SR bits':>14}"
    lines = [title, hdr, "-" * len(hdr)] if title else [hdr, "-" * len(hdr)]
    tot = {ph: CostRecord.zero() for ph in PHASES}
    for layer, phases in costs.items():
        for ph in PHASES:
            if ph not in phases:
                continue
            r = phases[ph]
            tot[ph] = tot[ph] + r
            lines.append(_row(layer, ph, r.to_dict()))
    lines.append("-" * len(hdr))
    for ph in PHASES:
        lines.append(_row("TOTAL", ph, tot[ph].to_dict()))
    return "\n".join(lines)


def _row(layer: str, ph: str, d: dict) -> str:
    return (f"{layer[-28:]:<28} {ph:<5} {d['macs'] / 1e9:9.4f} {d['cycles'] / 1e6:9.3f} {d['utilization']:6.3f} "
            f"{d['time_s'] * 1e3:9.4f} {d['energy_pj'] / 1e9:10.4f} {d['dram_bytes'] / 1e6:9.3f} "
            f"{d['icn_bytes'] / 1e6:8.3f} {int(d['overflow']):>9d} {int(d['random_bits']):>14d}")
