"""The configuration of a training run (:class:`TrainConfig`, validated at construction) and the
part of it a resumed run must match (:func:`run_config`)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax

from pimjax.apps.train._nonfinite import NONFINITE_POLICIES
from pimjax.hw import MAX_UNITS
from pimjax.nn import PRECISIONS, WEIGHTS

OPTIMIZERS = ("adam", "sgd", "momentum")
EVENTS = ("overflow", "nan", "inf", "random_bits")
_MORE_DEVICES = ("; on a CPU, run with XLA_FLAGS=--xla_force_host_platform_device_count={n} in the "
                 "environment to get {n} CPU devices")
RUNTIME_FIELDS = ("devices", "out_dir", "checkpoint_every", "resume", "overwrite", "max_steps", "progress",
                  "on_nonfinite")
"""TrainConfig fields a resumed run may change: where, how long and how visibly it runs, and
over how many devices (1 and N devices give the same bits). Every other field (the model, data,
hardware, optimizer, seed, and ``epochs``, which sets the learning-rate schedule) makes the run
and must match its checkpoint's (:func:`run_config`)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """A training run (every field validated; see ``pimjax train --help``)."""

    model: str = "alexnet"
    dataset: str = "digits"
    precision: str = "neurotrainer"
    weights: str = "auto"
    weight_bits: int = 24
    weight_frac: int = 16
    slices: int = 1
    modules: int = 1
    devices: int = 1
    rows: int = 256
    width: int = 8
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 2e-3
    optimizer: str = "adam"
    seed: int = 0
    input_size: int = 16
    model_width: float = 0.25
    out_dir: str | None = None
    checkpoint_every: int = 0
    resume: bool = False
    overwrite: bool = False
    max_steps: int | None = None
    progress: bool = True
    on_nonfinite: str = "stop"

    def __post_init__(self) -> None:
        if self.on_nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"TrainConfig.on_nonfinite must be one of {NONFINITE_POLICIES}, got {self.on_nonfinite!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"TrainConfig.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.weights not in WEIGHTS:
            raise ValueError(f"TrainConfig.weights must be one of {WEIGHTS}, got {self.weights!r}")
        if isinstance(self.weight_bits, bool) or not isinstance(self.weight_bits, int) or not 2 <= self.weight_bits <= 24:
            raise ValueError(f"TrainConfig.weight_bits must be an integer in [2, 24], got {self.weight_bits!r}")
        if isinstance(self.weight_frac, bool) or not isinstance(self.weight_frac, int) or not 0 <= self.weight_frac <= 30:
            raise ValueError(f"TrainConfig.weight_frac must be an integer in [0, 30], got {self.weight_frac!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        for f, lo in (("slices", 1), ("modules", 1), ("devices", 1), ("rows", 1), ("width", 1), ("epochs", 1),
                      ("batch_size", 1), ("input_size", 4), ("checkpoint_every", 0), ("seed", 0)):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"TrainConfig.{f} must be an integer >= {lo}, got {v!r}")
        if self.modules > MAX_UNITS:
            raise ValueError(f"TrainConfig.modules must be in 1..{MAX_UNITS}, got {self.modules}")
        if self.batch_size % self.modules:
            raise ValueError(f"TrainConfig.batch_size ({self.batch_size}) must be divisible by TrainConfig.modules "
                             f"({self.modules}): each module trains on a contiguous 1/modules of every batch, "
                             f"the evaluation batches (of batch_size) too")
        if self.slices % self.devices:
            raise ValueError(f"TrainConfig.slices ({self.slices}) must be a multiple of TrainConfig.devices ({self.devices})")
        if self.devices > len(jax.devices()):
            raise ValueError(f"TrainConfig.devices must be at most the {len(jax.devices())} available devices, got "
                             f"{self.devices}" + _MORE_DEVICES.format(n=self.devices))
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < 10):
            raise ValueError(f"TrainConfig.learning_rate must be in (0, 10), got {self.learning_rate!r}")
        if not (isinstance(self.model_width, (int, float)) and 0 < self.model_width <= 4):
            raise ValueError(f"TrainConfig.model_width must be in (0, 4], got {self.model_width!r}")
        if self.max_steps is not None and (not isinstance(self.max_steps, int) or self.max_steps < 0):
            raise ValueError(f"TrainConfig.max_steps must be a non-negative integer or None, got {self.max_steps!r}")
        if self.seed >= 2**32:
            raise ValueError(f"TrainConfig.seed must be an integer in [0, 2**32 - 1], got {self.seed!r}")
        if self.out_dir is not None and not isinstance(self.out_dir, (str, os.PathLike)):
            raise TypeError(f"TrainConfig.out_dir must be a path or None, got {self.out_dir!r}")
        for f in ("resume", "overwrite", "progress"):
            if not isinstance(getattr(self, f), bool):
                raise TypeError(f"TrainConfig.{f} must be a bool, got {getattr(self, f)!r}")
        if self.resume and self.overwrite:
            raise ValueError("TrainConfig.resume and TrainConfig.overwrite exclude each other (continue the run "
                             "in out_dir, or replace it)")
        if not self.out_dir and (self.resume or self.overwrite or self.checkpoint_every):
            field = "resume" if self.resume else "overwrite" if self.overwrite else "checkpoint_every"
            raise ValueError(f"TrainConfig.{field} needs TrainConfig.out_dir (the directory of the checkpoints), "
                             f"got out_dir={self.out_dir!r}")


def hardware_label(cfg: TrainConfig) -> str:
    """``"N slices"`` (``"1 slice"``), or ``"M modules x N slices"`` with several modules (for titles)."""
    slices = f"{cfg.slices} slice{'s' if cfg.slices != 1 else ''}"
    return f"{cfg.modules} modules x {slices}" if cfg.modules > 1 else slices


def run_config(cfg: TrainConfig) -> dict[str, Any]:
    """The fields of ``cfg`` that make the run (all but :data:`RUNTIME_FIELDS`)."""
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name not in RUNTIME_FIELDS}
