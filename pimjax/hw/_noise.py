"""Analog non-idealities as noise on a layer's output activations: ``NoiseConfig``.

Yang & Sze, "Noise Resilience": zero-mean Gaussian noise is injected into the output
activations of every layer "to account for the noise in the input activations, weights, and
computation"; the weights are not retrained. Two kinds:

* ``"fixed"``: the standard deviation is ``std`` in activation units, whatever the activations'
  magnitude ("Fixed noise: Noise has fixed standard deviation and does not change with
  magnitude of the activations");
* ``"rescaled"``: the standard deviation is ``std`` times the maximum magnitude of the layer's
  output activations ("Rescaled noise: Standard deviation of noise scales with respect to the
  maximum magnitude of the activations", after Gokmen 2016), the maximum taken over each
  example's outputs of the layer (``over="example"``, batch-size independent) or over the
  whole output tensor of the batch (``over="tensor"``).

``"none"`` switches the noise off. The draw itself (a key per layer, the exact float arithmetic)
is :func:`pimjax.nn.add_output_noise`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

NOISE_KINDS: tuple[str, ...] = ("none", "fixed", "rescaled")
"""Noise kinds, in the order of their integer ids (a swept, traced kind is an id)."""

NOISE_SCALES: tuple[str, ...] = ("example", "tensor")
"""What the maximum magnitude of rescaled noise is taken over."""

MAX_NOISE_STD = 1e6


def noise_kind_id(kind: Any) -> Any:
    """The integer id of a noise kind name; ids (also traced ones) pass through.

    >>> noise_kind_id("rescaled")
    2
    """
    if isinstance(kind, str):
        if kind not in NOISE_KINDS:
            raise ValueError(f"noise kind must be one of {NOISE_KINDS}, got {kind!r}")
        return NOISE_KINDS.index(kind)
    if isinstance(kind, bool) or isinstance(kind, float):
        raise TypeError(f"noise kind must be a name or an integer id, got {kind!r}")
    if isinstance(kind, int):
        if not 0 <= kind < len(NOISE_KINDS):
            raise ValueError(f"noise kind id must be in 0..{len(NOISE_KINDS) - 1}, got {kind}")
    return kind


def check_noise_std(name: str, v: Any) -> None:
    """Raises TypeError/ValueError unless ``v`` is a finite real number in [0, 1e6]."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__} {v!r}")
    if not math.isfinite(float(v)) or not 0.0 <= float(v) <= MAX_NOISE_STD:
        raise ValueError(f"{name} must be a finite number in [0, {MAX_NOISE_STD:g}], got {v!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoiseConfig:
    """Zero-mean Gaussian noise on every emulated layer's output activations (Yang & Sze).

    Part of the hardware a model runs on (:class:`pimjax.nn.TrainingHardware` ``noise``): it is
    added to the array's output (the layer's matmul result, before the bias and the
    nonlinearity) in the forward pass, in evaluation, and in training when the training
    hardware carries it (the gradient passes straight through the noise). Reproducible: the
    noise of a layer is a function of the layer's seed only.

    Args:
      kind: ``"fixed"``, ``"rescaled"`` or ``"none"`` (module docstring).
      std: standard deviation: absolute (``"fixed"``) or relative to the maximum magnitude of
        the layer's outputs (``"rescaled"``); a finite number in [0, 1e6].
      over: for ``"rescaled"``: the maximum is taken over each ``"example"`` (all axes but the
        first) or over the whole ``"tensor"``.

    Example:
      >>> from pimjax.hw import NoiseConfig
      >>> NoiseConfig(kind="rescaled", std=0.05)
      NoiseConfig(kind='rescaled', std=0.05, over='example')
    """

    kind: str = "fixed"
    std: float = 0.0
    over: str = "example"

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in NOISE_KINDS:
            raise ValueError(f"NoiseConfig.kind must be one of {NOISE_KINDS}, got {self.kind!r}")
        check_noise_std("NoiseConfig.std", self.std)
        if not isinstance(self.over, str) or self.over not in NOISE_SCALES:
            raise ValueError(f"NoiseConfig.over must be one of {NOISE_SCALES}, got {self.over!r}")

    @property
    def kind_id(self) -> int:
        """The integer id of ``kind`` (:data:`NOISE_KINDS`)."""
        return NOISE_KINDS.index(self.kind)

    def replace(self, **changes: Any) -> "NoiseConfig":
        """``dataclasses.replace`` with validation."""
        return dataclasses.replace(self, **changes)


__all__ = ["MAX_NOISE_STD", "NOISE_KINDS", "NOISE_SCALES", "NoiseConfig", "check_noise_std", "noise_kind_id"]
