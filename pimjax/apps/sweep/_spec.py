"""A whole sweep as read from a TOML or JSON file: the model, the grid and the run options.

:class:`ModelSpec` names the float-trained network, :class:`SweepSpec` bundles it with a
:class:`~pimjax.apps.sweep.SweepGrid` and how to run it, and :func:`load_spec` reads one from a
``.toml`` or ``.json`` file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any, Mapping

from pimjax._checks import int_field
from pimjax.apps.sweep._grid import SweepGrid

from pimjax.nn._small_cnn import parse_name

_SMALL_CNN_MAX = {"depth": 32, "channels": 4096}  # the family's knobs; the kernel is bounded by input_size


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

        small = parse_name(self.name) if isinstance(self.name, str) else None
        if not isinstance(self.name, str) or not (small or self.name in CNN_MODELS):
            raise ValueError(f"ModelSpec.name must be 'cnn_d<depth>_k<kernel>_c<channels>' or one of "
                             f"{sorted(CNN_MODELS)}, got {self.name!r}")
        int_field(self, "input_size", 4, 256)
        if small:
            depth, kernel, channels = small
            for f, v, hi in (("depth", depth, _SMALL_CNN_MAX["depth"]), ("kernel", kernel, self.input_size),
                             ("channels", channels, _SMALL_CNN_MAX["channels"])):
                if not 1 <= v <= hi:
                    raise ValueError(f"ModelSpec.name {self.name!r}: {f} must be in 1..{hi}"
                                     f"{' (the input size)' if f == 'kernel' else ''}, got {v}")
        int_field(self, "epochs", 0, 10000)
        int_field(self, "batch_size", 1, 1 << 16)
        int_field(self, "seed", 0, 2**31 - 1)
        for f, hi in (("width", 16.0), ("learning_rate", 10.0)):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= hi:
                raise ValueError(f"ModelSpec.{f} must be a number in (0, {hi}], got {v!r}")

    @property
    def run_key(self) -> str:
        """The float training run's fields other than the name, e.g. ``"s8_w0.25_e10_b32_lr0.003_seed0"``.

        Names the cached weights and fills the results' ``model_spec`` column, so a sweep
        resumes only from rows of the same trained network.
        """
        return (f"s{self.input_size}_w{self.width:g}_e{self.epochs}_b{self.batch_size}_"
                f"lr{self.learning_rate:g}_seed{self.seed}")


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
        int_field(self, "chunk", 1, 1 << 16)
        int_field(self, "batch_size", 1, 1 << 16)
        int_field(self, "devices", 0, 1 << 16)
        int_field(self, "seed", 0, 2**32 - 1)
        if self.out is not None and not isinstance(self.out, str):
            raise TypeError(f"SweepSpec.out must be a path string or None, got {self.out!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SweepSpec":
        """From a mapping with optional tables ``model``, ``grid`` and ``run`` (unknown keys are errors)."""
        if not isinstance(d, Mapping):
            raise TypeError(f"a sweep config must be a table (TOML) or an object (JSON) with keys name, model, grid, "
                            f"run, out; got a {type(d).__name__} at its top level")
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
            try:
                d = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"sweep config {path} is not valid JSON: {e}") from None
    else:
        raise ValueError(f"sweep config must be a .toml or .json file, got {path}")
    if not isinstance(d, Mapping):
        raise TypeError(f"sweep config {path}: its top level must be a table (TOML) or an object (JSON) with keys "
                        f"name, model, grid, run, out; got a {type(d).__name__}")
    return SweepSpec.from_dict(d)


__all__ = ["ModelSpec", "SweepSpec", "load_spec"]
