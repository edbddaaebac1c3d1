"""Sweep configurations: the static hardware (keys a compile) and the traced numerics (vmapped).

DESIGN.md section 5: shapes are static, numerics may be traced. A sweep configuration is split
into

* :class:`SweepHardware` (static, hashable): datapath kind, array ``rows x width``, number of
  slices, accumulator width, the largest operand widths of the grid (they decide, at trace
  time, whether accumulation provably cannot overflow), whether stochastic rounding may occur,
  and what rescaled noise is scaled by. Each distinct value is one compiled program.
* :class:`NumericPoint` (a pytree of scalars, traced): activation, weight and output bit widths
  and fraction bits, per-layer weight scaling, the rounding mode id, and the noise kind and
  level. A batch of them (leaves with a leading axis) is vmapped inside one program.

:class:`SweepGrid` expands lists of values (cartesian product, or zipped) into groups
``SweepHardware -> [NumericPoint, ...]``; :class:`SweepSpec` is a whole sweep as read from a
TOML or JSON file (model, grid, run options).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import re
from typing import Any, Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

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


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_int(name: str, v: Any, lo: int, hi: int) -> None:
    if not _is_int(v):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}")
    if not lo <= int(v) <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}, got {v}")


def _check_choice(name: str, v: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(v, str) or v not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {v!r}")


# ------------------------------------------------------------------------------------ static


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepHardware:
    """The static part of a swept hardware config: one compiled program per value.

    The datapath of one emulated layer (DESIGN.md section 2): float activations and weights are
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
        _check_int("SweepHardware.rows", self.rows, 1, 1 << 20)
        _check_int("SweepHardware.width", self.width, 1, 4096)
        _check_int("SweepHardware.num_slices", self.num_slices, 1, 1 << 16)
        _check_int("SweepHardware.accumulator_bits", self.accumulator_bits, 2, 32)
        _check_int("SweepHardware.max_act_bits", self.max_act_bits, 1, 24)
        _check_int("SweepHardware.max_weight_bits", self.max_weight_bits, 1, 24)
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
            _check_int(f"NumericPoint.{f}", v, lo, hi)
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


# ------------------------------------------------------------------------------------ grid

_INT_AXES = ("act_bits", "act_int_bits", "act_frac", "weight_bits", "weight_int_bits", "weight_frac", "out_bits",
             "out_int_bits", "out_frac", "rows", "width", "num_slices", "accumulator_bits")
_STR_AXES = {"weight_scale": WEIGHT_SCALES, "rounding": SWEEP_ROUNDINGS, "noise_kind": NOISE_KINDS,
             "datapath": DATAPATHS, "noise_over": NOISE_SCALES}
_OPTIONAL = ("act_frac", "weight_frac", "out_frac")
GRID_MODES = ("product", "zip")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepGrid:
    """Lists of values to sweep; every field is a tuple (lists are accepted and converted).

    Numeric axes (traced, one program): ``act_bits`` with ``act_frac`` (or, when ``act_frac`` is
    None, ``act_int_bits``: ``frac = bits - int_bits``), the same for ``weight_*`` (used when
    ``weight_scale`` is ``"fixed"``) and ``out_*`` (``out_bits`` 0: exact accumulator output),
    ``rounding``, ``noise_kind``, ``noise_level``. Static axes (one program each): ``datapath``,
    ``rows``, ``width``, ``num_slices``, ``accumulator_bits``, ``noise_over``.

    ``mode="product"`` takes the cartesian product of all axes; ``"zip"`` pairs the i-th values
    of all axes (each of length 1 or the common length). Duplicates are dropped (``"none"``
    noise ignores its level; ``"native"`` datapaths ignore the numeric formats).

    >>> g = SweepGrid(act_bits=[4, 8], weight_bits=[2, 4], noise_kind=["none", "fixed"], noise_level=[0.0, 0.1])
    >>> [len(v) for v in g.groups().values()]
    [12]
    """

    act_bits: tuple = (16,)
    act_int_bits: tuple = (6,)
    act_frac: tuple | None = None
    weight_bits: tuple = (16,)
    weight_scale: tuple = ("layer",)
    weight_int_bits: tuple = (1,)
    weight_frac: tuple | None = None
    out_bits: tuple = (0,)
    out_int_bits: tuple = (8,)
    out_frac: tuple | None = None
    rounding: tuple = ("nearest_even",)
    noise_kind: tuple = ("none",)
    noise_level: tuple = (0.0,)
    datapath: tuple = ("fixed",)
    rows: tuple = (256,)
    width: tuple = (8,)
    num_slices: tuple = (1,)
    accumulator_bits: tuple = (32,)
    noise_over: tuple = ("example",)
    mode: str = "product"

    def __post_init__(self) -> None:
        _check_choice("SweepGrid.mode", self.mode, GRID_MODES)
        for f in self.axes():
            v = getattr(self, f)
            if v is None:
                if f not in _OPTIONAL:
                    raise TypeError(f"SweepGrid.{f} must be a list of values, got None")
                continue
            if isinstance(v, (str, bytes)) or not isinstance(v, (list, tuple)):
                v = (v,)
            v = tuple(v)
            if not v:
                raise ValueError(f"SweepGrid.{f} must hold at least one value")
            for x in v:
                if f in _STR_AXES:
                    _check_choice(f"SweepGrid.{f}", x, _STR_AXES[f])
                elif f == "noise_level":
                    if isinstance(x, bool) or not isinstance(x, (int, float)):
                        raise TypeError(f"SweepGrid.noise_level values must be real numbers, got {x!r}")
                    if not math.isfinite(float(x)) or not 0 <= float(x) <= 1e6:
                        raise ValueError(f"SweepGrid.noise_level values must be in [0, 1e6], got {x!r}")
                else:
                    lo, hi = {"act_bits": (1, 24), "weight_bits": (1, 24), "out_bits": (0, 32), "rows": (1, 1 << 20),
                              "width": (1, 4096), "num_slices": (1, 1 << 16), "accumulator_bits": (2, 32)}.get(f, (-64, 64))
                    _check_int(f"SweepGrid.{f} values", x, lo, hi)
            object.__setattr__(self, f, tuple(float(x) if f == "noise_level" else x for x in v))
        if self.mode == "zip":
            lens = {len(getattr(self, f)) for f in self.axes() if getattr(self, f) is not None} - {1}
            if len(lens) > 1:
                raise ValueError(f"SweepGrid axes must have length 1 or one common length in zip mode, got lengths {sorted(lens)}")
        for pre in ("act", "weight", "out"):  # derived fraction bits must be valid fixed-point fraction bits
            if getattr(self, f"{pre}_frac") is None:
                for b in getattr(self, f"{pre}_bits"):
                    for ib in getattr(self, f"{pre}_int_bits"):
                        if not -64 <= b - ib <= 64:
                            raise ValueError(f"SweepGrid.{pre}_int_bits: fraction bits {pre}_bits - {pre}_int_bits "
                                             f"= {b} - {ib} out of -64..64")

    @classmethod
    def axes(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.name != "mode")

    def _rows(self) -> list[dict[str, Any]]:
        names = [f for f in self.axes()]
        vals = [getattr(self, f) if getattr(self, f) is not None else (None,) for f in names]
        if self.mode == "product":
            combos = itertools.product(*vals)
        else:
            n = max(len(v) for v in vals)
            combos = (tuple(v[i] if len(v) > 1 else v[0] for v in vals) for i in range(n))
        return [dict(zip(names, c)) for c in combos]

    def configs(self) -> list[tuple[SweepHardware, NumericPoint]]:
        """Every distinct ``(static hardware, point)``, in grid order."""
        rows = self._rows()
        groups: dict[tuple, dict[str, Any]] = {}
        for r in rows:  # static bounds per static group: max widths, stochastic
            skey = tuple(r[f] for f in ("datapath", "rows", "width", "num_slices", "accumulator_bits", "noise_over"))
            g = groups.setdefault(skey, {"a": 1, "w": 1, "st": False, "r": set(), "n": set(), "o": False})
            g["a"], g["w"] = max(g["a"], r["act_bits"]), max(g["w"], r["weight_bits"])
            g["st"] = g["st"] or r["rounding"] == "stochastic"
            g["r"].add(r["rounding"])
            g["n"].add(r["noise_kind"])
            g["o"] = g["o"] or r["out_bits"] > 0
        out, seen = [], set()
        for r in rows:
            skey = tuple(r[f] for f in ("datapath", "rows", "width", "num_slices", "accumulator_bits", "noise_over"))
            g = groups[skey]
            native = r["datapath"] == "native"
            hw = SweepHardware(datapath=r["datapath"], rows=r["rows"], width=r["width"], num_slices=r["num_slices"],
                               accumulator_bits=r["accumulator_bits"], max_act_bits=g["a"], max_weight_bits=g["w"],
                               stochastic=bool(g["st"]) and not native, noise_over=r["noise_over"],
                               rounding=None if native or len(g["r"]) > 1 else r["rounding"],
                               noise_kind=None if len(g["n"]) > 1 else r["noise_kind"],
                               output_stage=bool(g["o"]) and not native)

            def frac(pre: str) -> int:
                return r[f"{pre}_frac"] if r[f"{pre}_frac"] is not None else r[f"{pre}_bits"] - r[f"{pre}_int_bits"]

            kind = r["noise_kind"]
            level = 0.0 if kind == "none" else r["noise_level"]
            if native:  # numeric formats do not apply: one canonical point
                p = NumericPoint.make(act_bits=1, act_frac=0, weight_bits=1, weight_scale="fixed",
                                      noise_kind=kind, noise_level=level)
            else:
                scale = r["weight_scale"]
                p = NumericPoint.make(act_bits=r["act_bits"], act_frac=frac("act"), weight_bits=r["weight_bits"],
                                      weight_frac=frac("weight") if scale == "fixed" else 0, weight_scale=scale,
                                      out_bits=r["out_bits"], out_frac=frac("out") if r["out_bits"] else 0,
                                      rounding=r["rounding"], noise_kind=kind, noise_level=level)
            k = config_key(hw, p)
            if k not in seen:
                seen.add(k)
                out.append((hw, p))
        return out

    def groups(self) -> dict[SweepHardware, list[NumericPoint]]:
        """The configs grouped by static hardware (one compiled program per group), in grid order."""
        out: dict[SweepHardware, list[NumericPoint]] = {}
        for hw, p in self.configs():
            out.setdefault(hw, []).append(p)
        return out

    def __len__(self) -> int:
        return len(self.configs())


def config_fields(hw: SweepHardware, p: NumericPoint) -> dict[str, Any]:
    """The columns that name one config in a results table (static then traced fields)."""
    d = hw.to_dict()
    d.update(p.to_dict())
    d["noise_level"] = float(str(np.float32(d["noise_level"])))  # shortest repr of the float32 level
    return d


def config_key(hw: SweepHardware, p: NumericPoint) -> str:
    """A canonical string of one config (what resuming a sweep matches rows by)."""
    return fields_key(config_fields(hw, p))


def fields_key(fields: Mapping[str, Any]) -> str:
    parts = []
    for f in STATIC_FIELDS + TRACED_FIELDS:
        v = fields.get(f)
        if v in ("", None):
            v = None
        if f == "noise_level":
            v = repr(float(np.float32(float(v))))
        parts.append(f"{f}={v}")
    return ";".join(parts)


# ------------------------------------------------------------------------------------ spec

_MODEL_RE = re.compile(r"^cnn_d(\d+)_k(\d+)_c(\d+)$")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """The network a sweep evaluates, trained in float32 on the digits data (not retrained).

    Args:
      name: ``"cnn_d{depth}_k{kernel}_c{channels}"`` (the small CNN family of
        :mod:`pimjax.apps.sweep.models`, Yang & Sze's depth / filter-size study) or a pimjax CNN
        (``"alexnet"``, ``"vgg11"``, ``"vgg16"``, ``"resnet18"``, ``"resnet50"``).
      input_size: digits image side (8: the original images; 16, 32: upsampled).
      width: channel multiplier of the pimjax CNNs.
      epochs, batch_size, learning_rate, seed: the float training run.
    """

    name: str = "cnn_d2_k3_c8"
    input_size: int = 8
    width: float = 0.25
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 3e-3
    seed: int = 0

    def __post_init__(self) -> None:
        from pimjax.nn import CNN_MODELS

        if not isinstance(self.name, str) or not (_MODEL_RE.match(self.name) or self.name in CNN_MODELS):
            raise ValueError(f"ModelSpec.name must be 'cnn_d<depth>_k<kernel>_c<channels>' or one of "
                             f"{sorted(CNN_MODELS)}, got {self.name!r}")
        _check_int("ModelSpec.input_size", self.input_size, 4, 256)
        _check_int("ModelSpec.epochs", self.epochs, 0, 10000)
        _check_int("ModelSpec.batch_size", self.batch_size, 1, 1 << 16)
        _check_int("ModelSpec.seed", self.seed, 0, 2**31 - 1)
        for f, hi in (("width", 16.0), ("learning_rate", 10.0)):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= hi:
                raise ValueError(f"ModelSpec.{f} must be a number in (0, {hi}], got {v!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepSpec:
    """A whole sweep: what to evaluate, over which configs, and how to run it.

    Args:
      name: label written into every result row.
      model: the network (:class:`ModelSpec`).
      grid: the configs (:class:`SweepGrid`).
      chunk: configs per compiled call (the vmapped batch; padded to a multiple of ``devices``).
      batch_size: test images per step of the in-program loop over the test set.
      devices: JAX devices the configs are sharded over (0: all).
      seed: evaluation seed (noise and stochastic rounding draws).
      out: CSV path (results are appended; an interrupted sweep resumes).
    """

    name: str = "sweep"
    model: ModelSpec = ModelSpec()
    grid: SweepGrid = SweepGrid()
    chunk: int = 64
    batch_size: int = 150
    devices: int = 1
    seed: int = 0
    out: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.match(r"^[\w.\-]+$", self.name):
            raise ValueError(f"SweepSpec.name must be a non-empty word (letters, digits, _.-), got {self.name!r}")
        if not isinstance(self.model, ModelSpec):
            raise TypeError(f"SweepSpec.model must be a ModelSpec, got {type(self.model).__name__}")
        if not isinstance(self.grid, SweepGrid):
            raise TypeError(f"SweepSpec.grid must be a SweepGrid, got {type(self.grid).__name__}")
        _check_int("SweepSpec.chunk", self.chunk, 1, 1 << 16)
        _check_int("SweepSpec.batch_size", self.batch_size, 1, 1 << 16)
        _check_int("SweepSpec.devices", self.devices, 0, 1 << 16)
        _check_int("SweepSpec.seed", self.seed, 0, 2**32 - 1)
        if self.out is not None and not isinstance(self.out, str):
            raise TypeError(f"SweepSpec.out must be a path string or None, got {self.out!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SweepSpec":
        """From a mapping with optional tables ``model``, ``grid`` and ``run`` (unknown keys are errors)."""
        d = dict(d)
        known = {"name", "model", "grid", "run", "out"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown sweep config keys {sorted(unknown)}; allowed: {sorted(known)}")
        kw: dict[str, Any] = {}
        if "name" in d:
            kw["name"] = d["name"]
        if "out" in d:
            kw["out"] = d["out"]
        kw["model"] = _build(ModelSpec, d.get("model", {}), "model")
        kw["grid"] = _build(SweepGrid, d.get("grid", {}), "grid")
        run = dict(d.get("run", {}))
        allowed = {"chunk", "batch_size", "devices", "seed"}
        if set(run) - allowed:
            raise ValueError(f"unknown [run] keys {sorted(set(run) - allowed)}; allowed: {sorted(allowed)}")
        kw.update(run)
        return cls(**kw)


def _build(cls: type, d: Any, table: str) -> Any:
    if not isinstance(d, Mapping):
        raise TypeError(f"[{table}] must be a table, got {type(d).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown [{table}] keys {sorted(unknown)}; allowed: {sorted(names)}")
    return cls(**dict(d))


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Reads a sweep config from a ``.toml`` (``tomllib``) or ``.json`` file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such sweep config: {path}")
    if path.endswith(".toml"):
        import tomllib

        with open(path, "rb") as f:
            d = tomllib.load(f)
    elif path.endswith(".json"):
        with open(path) as f:
            d = json.load(f)
    else:
        raise ValueError(f"sweep config must be a .toml or .json file, got {path}")
    return SweepSpec.from_dict(d)


__all__ = ["DATAPATHS", "GRID_MODES", "STATIC_FIELDS", "SWEEP_ROUNDINGS", "TRACED_FIELDS", "WEIGHT_SCALES",
           "ModelSpec", "NumericPoint", "SweepGrid", "SweepHardware", "SweepSpec", "as_jax", "config_fields",
           "config_key", "fields_key", "load_spec"]
