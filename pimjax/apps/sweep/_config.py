"""Sweep configurations: the static hardware (keys a compile) and the traced numerics (vmapped).

docs/design.md section 5: shapes are static, numerics may be traced. A sweep configuration is split
into

* :class:`SweepHardware` (static, hashable): datapath kind, array ``rows x width``, number of
  slices, accumulator width, the largest operand widths of the grid (they decide, at trace
  time, whether accumulation provably cannot overflow), whether stochastic rounding may occur,
  and what rescaled noise is scaled by. Each distinct value is one compiled program.
* :class:`NumericPoint` (a pytree of scalars, traced): activation, weight and output bit widths
  and fraction bits, per-layer weight scaling, the rounding mode id, and the noise kind and
  level. A batch of them (leaves with a leading axis) is vmapped inside one program.

:class:`~pimjax.apps.sweep.SweepGrid` (:mod:`pimjax.apps.sweep._grid`) expands lists of values
(cartesian product, or zipped) into groups ``SweepHardware -> [NumericPoint, ...]``;
:class:`~pimjax.apps.sweep.SweepSpec` (:mod:`pimjax.apps.sweep._spec`) is a whole sweep as read
from a TOML or JSON file (model, grid, run options).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable

import jax
import jax.numpy as jnp
import numpy as np

from pimjax._checks import check_int, int_field
from pimjax.hw import NOISE_KINDS, NOISE_SCALES
from pimjax.numerics import ROUNDING_MODES

DATAPATHS: tuple[str, ...] = ("fixed", "native")
"""``fixed``: the emulated fixed-point slice datapath; ``native``: float32 ``jnp.dot`` (reference)."""

SWEEP_ROUNDINGS: tuple[str, ...] = ("floor", "toward_zero", "nearest_even", "nearest_away", "stochastic")
"""Rounding modes a sweep may use (those a phase rounds its float operands with)."""

WEIGHT_SCALES: tuple[str, ...] = ("fixed", "layer")
"""``fixed``: weights use the given fraction bits; ``layer``: per-layer power-of-two scale,
``frac = bits - 1 - ceil(log2(max|W|))`` (the layer's largest weight fills the range)."""

TRACED_FIELDS: tuple[str, ...] = ("act_bits", "act_frac", "weight_bits", "weight_frac", "weight_scale", "out_bits",
                                  "out_frac", "rounding", "noise_kind", "noise_level")
STATIC_FIELDS: tuple[str, ...] = ("datapath", "rows", "width", "num_slices", "accumulator_bits", "noise_over")
"""The static fields that change results (result-table columns). The other fields of
:class:`SweepHardware` (``max_act_bits``, ``max_weight_bits``, ``stochastic``, ``rounding``,
``noise_kind``, ``output_stage``) only shape the compiled program: every program that accepts a
point gives the hardware's bits for it."""


def _check_choice(name: str, v: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(v, str) or v not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {v!r}")


# ------------------------------------------------------------------------------------ static


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepHardware:
    """The static part of a swept hardware config: one compiled program per value.

    The datapath of one emulated layer (docs/design.md section 2): float activations and weights are
    quantized to the point's formats with the point's rounding; ``num_slices`` slices of a
    ``rows x width`` array form exact products and adder-tree sums and accumulate them in
    ascending K-chunk order into a ``accumulator_bits``-wide saturating accumulator (fraction
    bits: activation + weight); the aggregation engine adds the slices' partial sums (exact
    packets) in slice order into the same format; the output stage requantizes to the point's
    output format (or passes the accumulator through). Then the point's noise is added.

    Args:
      datapath: ``"fixed"`` (the above) or ``"native"`` (float32 ``jnp.dot``, numerics ignored).
      rows, width: the array (Memory Slices: 256 x 8).
      num_slices: slices every matmul is K-split over (Memory Slices Fig. 5).
      accumulator_bits: width of the array and aggregation accumulators (2..32).
      max_act_bits, max_weight_bits: the largest activation / weight widths of the grid. They
        bound every product at trace time: when ``K * 2**(a-1) * 2**(w-1)`` fits the
        accumulator, accumulation cannot overflow and one exact GEMM computes it; otherwise a
        data bound decides per call between that GEMM and the ordered accumulation.
      stochastic: the grid uses stochastic rounding (random words are then drawn).
      noise_over: what rescaled noise's maximum is taken over (``"example"`` or ``"tensor"``).
      rounding: ``None``: the rounding mode is traced (each point's ``rounding``); a mode name:
        every point of this hardware rounds that way and the program is specialised to it
        (smaller and faster; :meth:`SweepGrid.groups` sets it when a group uses one mode).
      noise_kind: the same for the noise kind (``None``: traced).
      output_stage: ``False``: every point has ``out_bits == 0`` (exact output) and the program
        leaves the output requantization out.
    """

    datapath: str = "fixed"
    rows: int = 256
    width: int = 8
    num_slices: int = 1
    accumulator_bits: int = 32
    max_act_bits: int = 16
    max_weight_bits: int = 16
    stochastic: bool = False
    noise_over: str = "example"
    rounding: str | None = None
    noise_kind: str | None = None
    output_stage: bool = True

    def __post_init__(self) -> None:
        _check_choice("SweepHardware.datapath", self.datapath, DATAPATHS)
        int_field(self, "rows", 1, 1 << 20)
        int_field(self, "width", 1, 4096)
        int_field(self, "num_slices", 1, 1 << 16)
        int_field(self, "accumulator_bits", 2, 32)
        int_field(self, "max_act_bits", 1, 24)
        int_field(self, "max_weight_bits", 1, 24)
        if not isinstance(self.stochastic, (bool, np.bool_)):
            raise TypeError(f"SweepHardware.stochastic must be a bool, got {self.stochastic!r}")
        _check_choice("SweepHardware.noise_over", self.noise_over, NOISE_SCALES)
        if self.rounding is not None:
            _check_choice("SweepHardware.rounding", self.rounding, SWEEP_ROUNDINGS)
            if self.rounding == "stochastic" and not self.stochastic:
                raise ValueError("SweepHardware.rounding 'stochastic' needs SweepHardware.stochastic=True")
        if self.noise_kind is not None:
            _check_choice("SweepHardware.noise_kind", self.noise_kind, NOISE_KINDS)
        if not isinstance(self.output_stage, (bool, np.bool_)):
            raise TypeError(f"SweepHardware.output_stage must be a bool, got {self.output_stage!r}")

    def to_dict(self) -> dict[str, Any]:
        """The result-determining fields (:data:`STATIC_FIELDS`)."""
        return {f: getattr(self, f) for f in STATIC_FIELDS}


# ------------------------------------------------------------------------------------ traced

_POINT_RANGES = {
    "act_bits": (1, 24), "act_frac": (-64, 64), "weight_bits": (1, 24), "weight_frac": (-64, 64),
    "weight_scale": (0, len(WEIGHT_SCALES) - 1), "out_bits": (0, 32), "out_frac": (-64, 64),
    "rounding": (0, len(ROUNDING_MODES) - 1), "noise_kind": (0, len(NOISE_KINDS) - 1),
}
_NAMED = {"weight_scale": WEIGHT_SCALES, "rounding": ROUNDING_MODES, "noise_kind": NOISE_KINDS}


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, kw_only=True)
class NumericPoint:
    """The traced part of a swept config: integer and float scalars (or batches of them).

    Every field is a leaf: ``jax.vmap`` over a :meth:`stack` of points evaluates them all in one
    program. Concrete values are validated at construction (traced ones cannot be).

    Args:
      act_bits, act_frac: activation (array input) format ``Fx(act_bits, act_frac)``.
      weight_bits, weight_frac: weight format; ``weight_frac`` is used when ``weight_scale`` is
        0 (``"fixed"``); with 1 (``"layer"``) each layer's fraction bits are
        ``weight_bits - 1 - ceil(log2(max|W|))``.
      weight_scale: id in :data:`WEIGHT_SCALES`.
      out_bits, out_frac: output format of every layer's matmul; ``out_bits == 0``: the
        aggregated accumulator is passed through exactly.
      rounding: id in :data:`pimjax.numerics.ROUNDING_MODES` (one of :data:`SWEEP_ROUNDINGS`),
        used to quantize activations and weights and at the output stage.
      noise_kind: id in :data:`pimjax.hw.NOISE_KINDS`; noise_level: its standard deviation
        (fixed) or ratio to the maximum magnitude (rescaled), Yang & Sze.
    """

    act_bits: Any
    act_frac: Any
    weight_bits: Any
    weight_frac: Any = 0
    weight_scale: Any = 1
    out_bits: Any = 0
    out_frac: Any = 0
    rounding: Any = 2
    noise_kind: Any = 0
    noise_level: Any = 0.0

    def __post_init__(self) -> None:
        for f, (lo, hi) in _POINT_RANGES.items():
            v = getattr(self, f)
            if isinstance(v, jax.core.Tracer):
                continue
            if isinstance(v, (bool, np.bool_, float)):
                raise TypeError(f"NumericPoint.{f} must be an integer, got {v!r}")
            arr = np.asarray(v)
            if not np.issubdtype(arr.dtype, np.integer):
                raise TypeError(f"NumericPoint.{f} must be an integer, got dtype {arr.dtype}")
            if arr.size and (arr.min() < lo or arr.max() > hi):
                raise ValueError(f"NumericPoint.{f} must be in {lo}..{hi}, got {arr.min()}..{arr.max()}")
        v = self.noise_level
        if not isinstance(v, jax.core.Tracer):
            if isinstance(v, (bool, np.bool_)):
                raise TypeError(f"NumericPoint.noise_level must be a real number, got {v!r}")
            arr = np.asarray(v, dtype=np.float64)
            if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1e6):
                raise ValueError(f"NumericPoint.noise_level must be finite and in [0, 1e6], got {v!r}")

    # pytree: every field is a leaf; unflattening skips validation (leaves may be tracers or
    # placeholders inside JAX transformations)
    def tree_flatten(self):
        return tuple(getattr(self, f) for f in TRACED_FIELDS), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        for f, v in zip(TRACED_FIELDS, children):
            object.__setattr__(obj, f, v)
        return obj

    @classmethod
    def make(cls, *, act_bits: int, act_frac: int, weight_bits: int, weight_frac: int = 0,
             weight_scale: str = "layer", out_bits: int = 0, out_frac: int = 0, rounding: str = "nearest_even",
             noise_kind: str = "none", noise_level: float = 0.0) -> "NumericPoint":
        """One point from Python values, modes by name (validated).

        >>> p = NumericPoint.make(act_bits=8, act_frac=4, weight_bits=4, noise_kind="fixed", noise_level=0.1)
        >>> p.to_dict()["noise_kind"], int(p.weight_scale)
        ('fixed', 1)
        """
        _check_choice("NumericPoint.weight_scale", weight_scale, WEIGHT_SCALES)
        _check_choice("NumericPoint.rounding", rounding, SWEEP_ROUNDINGS)
        _check_choice("NumericPoint.noise_kind", noise_kind, NOISE_KINDS)
        for f, v in (("act_bits", act_bits), ("act_frac", act_frac), ("weight_bits", weight_bits),
                     ("weight_frac", weight_frac), ("out_bits", out_bits), ("out_frac", out_frac)):
            lo, hi = _POINT_RANGES[f]
            check_int(f"NumericPoint.{f}", v, lo, hi)
        if isinstance(noise_level, bool) or not isinstance(noise_level, (int, float)):
            raise TypeError(f"NumericPoint.noise_level must be a real number, got {noise_level!r}")
        return cls(act_bits=np.int32(act_bits), act_frac=np.int32(act_frac), weight_bits=np.int32(weight_bits),
                   weight_frac=np.int32(weight_frac), weight_scale=np.int32(WEIGHT_SCALES.index(weight_scale)),
                   out_bits=np.int32(out_bits), out_frac=np.int32(out_frac),
                   rounding=np.int32(ROUNDING_MODES.index(rounding)),
                   noise_kind=np.int32(NOISE_KINDS.index(noise_kind)), noise_level=np.float32(noise_level))

    @staticmethod
    def stack(points: Iterable["NumericPoint"]) -> "NumericPoint":
        """A batch (leading axis) of points, int32 / float32 leaves."""
        points = list(points)
        if not points:
            raise ValueError("NumericPoint.stack needs at least one point")
        kw = {}
        for f in TRACED_FIELDS:
            dt = np.float32 if f == "noise_level" else np.int32
            kw[f] = np.stack([np.asarray(getattr(p, f), dt) for p in points])
        return NumericPoint(**kw)

    def __len__(self) -> int:
        shape = np.shape(self.act_bits)
        if not shape:
            raise TypeError("a single NumericPoint has no length (stack points into a batch)")
        return int(shape[0])

    def index(self, i: Any) -> "NumericPoint":
        """Point(s) ``i`` of a batch (numpy indexing)."""
        return NumericPoint(**{f: np.asarray(getattr(self, f))[i] for f in TRACED_FIELDS})

    def unstack(self) -> list["NumericPoint"]:
        return [self.index(i) for i in range(len(self))]

    def to_dict(self) -> dict[str, Any]:
        """Python values of a single point, modes by name."""
        out: dict[str, Any] = {}
        for f in TRACED_FIELDS:
            v = np.asarray(getattr(self, f))
            if v.shape:
                raise TypeError("to_dict needs a single point; use unstack() on a batch")
            out[f] = _NAMED[f][int(v)] if f in _NAMED else (float(v) if f == "noise_level" else int(v))
        return out


def as_jax(point: NumericPoint) -> NumericPoint:
    """The point with ``jnp`` int32 / float32 leaves (what a compiled program is called with)."""
    return NumericPoint(**{f: jnp.asarray(getattr(point, f), jnp.float32 if f == "noise_level" else jnp.int32)
                           for f in TRACED_FIELDS})


__all__ = ["DATAPATHS", "STATIC_FIELDS", "SWEEP_ROUNDINGS", "TRACED_FIELDS", "WEIGHT_SCALES", "NumericPoint",
           "SweepHardware", "as_jax"]
