"""The cost record: a pytree of float64 ``jnp`` scalars returned next to every result.

Records add up (``a + b``) across layers and phases, and survive ``jit``, ``vmap``, ``grad``
and ``shard_map`` because they are ordinary arrays computed inside the traced computation.
Shape-derived fields are exact integers (float64 holds integers up to 2**53 exactly);
data-dependent fields (overflow, NaN, Inf, random bits) come from the data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_FIELDS = (
    # work
    "macs", "additions", "aggregation_additions",
    # array cycles (summed over slices)
    "cycles_preload", "cycles_stream", "cycles_fill_drain", "slot_cycles",
    # bytes per memory level (DRAM; the on-slice buffers, pimjax assumptions; registers)
    "dram_bytes_read", "dram_bytes_written", "register_bytes", "buffer_bytes_read", "buffer_bytes_written",
    # interconnect
    "icn_packets", "icn_local_packets", "icn_bytes", "icn_hop_bytes",
    # energy by component (pJ)
    "energy_dram_pj", "energy_compute_pj", "energy_register_pj", "energy_icn_pj", "energy_aggregation_pj",
    "energy_buffer_pj",
    # time (s): each op's components, and its time after overlap
    "time_compute_s", "time_memory_s", "time_icn_s", "time_s",
    # numeric events
    "overflow", "nan", "inf", "random_bits",
)


@jax.jit
def _add_fields(a: list, b: list) -> list:
    """Field-wise sum of two records' leaves: one dispatch for all fields when called eagerly
    (the analytic cost model adds thousands of records), inlined inside a trace."""
    return [x + y for x, y in zip(a, b)]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CostRecord:
    """What the emulated hardware spends (all fields float64 scalars; see module docstring).

    Memory levels: DRAM (``dram_bytes_read``, ``dram_bytes_written``), the on-slice SRAM
    buffers (``buffer_bytes_read``, ``buffer_bytes_written``: the accumulator, aggregation and
    weight buffers together, pimjax assumptions, docs/cost_model.md section 5) and the
    registers (``register_bytes``: register B loads and register A shifts).

    Derived: :attr:`utilization` (MACs over multiplier slots of the busy arrays),
    :attr:`energy_pj` (every ``energy_*_pj`` field), :attr:`flops` (2 per MAC),
    :attr:`intensity` (FLOPs per DRAM byte).
    """

    macs: Any
    additions: Any
    aggregation_additions: Any
    cycles_preload: Any
    cycles_stream: Any
    cycles_fill_drain: Any
    slot_cycles: Any
    dram_bytes_read: Any
    dram_bytes_written: Any
    register_bytes: Any
    buffer_bytes_read: Any
    buffer_bytes_written: Any
    icn_packets: Any
    icn_local_packets: Any
    icn_bytes: Any
    icn_hop_bytes: Any
    energy_dram_pj: Any
    energy_compute_pj: Any
    energy_register_pj: Any
    energy_icn_pj: Any
    energy_aggregation_pj: Any
    energy_buffer_pj: Any
    time_compute_s: Any
    time_memory_s: Any
    time_icn_s: Any
    time_s: Any
    overflow: Any
    nan: Any
    inf: Any
    random_bits: Any

    @classmethod
    def zero(cls) -> "CostRecord":
        with jax.enable_x64(True):
            z = jnp.zeros((), jnp.float64)
        return cls(*([z] * len(_FIELDS)))

    @classmethod
    def make(cls, **values: Any) -> "CostRecord":
        """A record with the given fields (others zero), as float64 scalars."""
        unknown = set(values) - set(_FIELDS)
        if unknown:
            raise TypeError(f"unknown CostRecord fields: {sorted(unknown)}")
        vals = [values.get(f, 0) for f in _FIELDS]
        with jax.enable_x64(True):
            if all(isinstance(v, (int, float, np.integer, np.floating)) for v in vals):
                # concrete numbers (the analytic cost model): one transfer of one array, unstacked
                # in one dispatch (same float64 values)
                return cls(*jax.device_put(np.asarray([np.float64(v) for v in vals], np.float64)))
            return cls(*(jnp.asarray(v, jnp.float64) for v in vals))

    def __add__(self, other: "CostRecord") -> "CostRecord":
        if not isinstance(other, CostRecord):
            return NotImplemented
        with jax.enable_x64(True):
            return CostRecord(*_add_fields([getattr(self, f) for f in _FIELDS], [getattr(other, f) for f in _FIELDS]))

    def replace(self, **changes: Any) -> "CostRecord":
        return dataclasses.replace(self, **changes)

    @property
    def cycles(self):
        with jax.enable_x64(True):
            return self.cycles_preload + self.cycles_stream + self.cycles_fill_drain

    @property
    def utilization(self):
        with jax.enable_x64(True):
            return jnp.where(self.slot_cycles > 0, self.macs / jnp.maximum(self.slot_cycles, 1), 0.0)

    @property
    def energy_pj(self):
        with jax.enable_x64(True):
            return (self.energy_dram_pj + self.energy_compute_pj + self.energy_register_pj
                    + self.energy_icn_pj + self.energy_aggregation_pj + self.energy_buffer_pj)

    @property
    def flops(self):
        with jax.enable_x64(True):
            return 2 * self.macs

    @property
    def dram_bytes(self):
        with jax.enable_x64(True):
            return self.dram_bytes_read + self.dram_bytes_written

    @property
    def intensity(self):
        """Operational intensity: FLOPs per DRAM byte (roofline x-axis)."""
        with jax.enable_x64(True):
            return jnp.where(self.dram_bytes > 0, self.flops / jnp.maximum(self.dram_bytes, 1), jnp.inf)

    def to_dict(self) -> dict[str, float]:
        """Python floats of every field and the derived quantities (for tables and JSON)."""
        out = {f: float(getattr(self, f)) for f in _FIELDS}
        for d in ("cycles", "utilization", "energy_pj", "flops", "dram_bytes", "intensity"):
            out[d] = float(getattr(self, d))
        return out


def total(records: Any) -> CostRecord:
    """Sum of an iterable (or dict values) of records."""
    vals = records.values() if isinstance(records, dict) else records
    acc = CostRecord.zero()
    for r in vals:
        acc = acc + r
    return acc


FIELDS = _FIELDS
