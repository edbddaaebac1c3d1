"""The sweep grid: lists of values expanded into ``SweepHardware -> [NumericPoint, ...]`` groups.

:class:`SweepGrid` takes the cartesian product (or the zip) of its axes, derives the static
bounds of each hardware group and drops duplicate configs; :func:`config_fields` and
:func:`config_key` name one config in a results table (what resuming a sweep matches rows by).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Mapping

import numpy as np

from pimjax._checks import check_int
from pimjax.apps.sweep._config import (DATAPATHS, STATIC_FIELDS, SWEEP_ROUNDINGS, TRACED_FIELDS, WEIGHT_SCALES,
                                       NumericPoint, SweepHardware, _check_choice)
from pimjax.hw import NOISE_KINDS, NOISE_SCALES

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
                    check_int(f"SweepGrid.{f} values", x, lo, hi)
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


__all__ = ["GRID_MODES", "SweepGrid", "config_fields", "config_key", "fields_key"]
