"""The small CNN family of Yang & Sze's depth vs filter-size study: ``cnn_d{depth}_k{kernel}_c{channels}``.

Yang & Sze ("Fixed Noise Resilience - Network Depth / Filter Size"): the trend for
digital accelerators is to "increase number of layers (network depth) + reduce filter size";
they report that deeper networks lose accuracy faster under noise and that larger filters are
more robust. :class:`SmallCNN` gives both knobs: ``depth`` convolutions ``kernel x kernel``
(stride 1, SAME padding, ``channels`` output channels each, ReLU) with a 2x2 max-pool after conv
``ceil(depth / 2)`` and after the last conv, then one dense layer to the classes. Every conv and
the dense layer are emulated layers (im2col matmuls on the hardware). The name fixes the
channels (:func:`pimjax.nn.make_cnn` does not apply its ``width`` to this family).
"""

from __future__ import annotations

import math
import re
from typing import Any

import jax
from flax import nnx

from pimjax.nn._cnn_common import _HE, _run
from pimjax.nn._emulated import TrainingHardware
from pimjax.nn._layers import EmuConv, EmuLinear, max_pool_with_index

_NAME = re.compile(r"^cnn_d(\d+)_k(\d+)_c(\d+)$")


class SmallCNN(nnx.Module):
    """``depth`` k x k convolutions (``channels`` each), two 2x2 max-pools, one dense layer.

    Args:
      depth, kernel, channels: the family's knobs (module docstring).
      hw: hardware of every emulated layer (float training: ``training_hardware("native")``).
      num_classes, in_channels, input_size: data (NHWC, square; ``input_size`` divisible by 4).
      rngs: initialisation (He normal, for the ReLU stack).
    """

    def __init__(self, *, depth: int, kernel: int, channels: int, hw: TrainingHardware, num_classes: int = 10,
                 in_channels: int = 1, input_size: int = 8, rngs: nnx.Rngs):
        for name, v, lo in (("depth", depth, 1), ("kernel", kernel, 1), ("channels", channels, 1),
                            ("num_classes", num_classes, 1), ("in_channels", in_channels, 1), ("input_size", input_size, 4)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"SmallCNN.{name} must be an integer >= {lo}, got {v!r}")
        self.depth, self.kernel, self.channels = depth, kernel, channels
        self.num_classes, self.in_channels, self.input_size = num_classes, in_channels, input_size
        self.pool_after = tuple(sorted({math.ceil(depth / 2) - 1, depth - 1}))
        side = input_size // (2 ** len(self.pool_after))
        if side < 1:
            raise ValueError(f"SmallCNN.input_size {input_size} too small for {len(self.pool_after)} 2x2 pools")
        convs, cin = [], in_channels
        for i in range(depth):
            convs.append(EmuConv(cin, channels, (kernel, kernel), hw=hw, layer_id=i, rngs=rngs, padding="SAME",
                                 name=f"conv{i + 1}", kernel_init=_HE))
            cin = channels
        self.convs = nnx.List(convs)
        self.fc = EmuLinear(side * side * channels, num_classes, hw=hw, layer_id=depth, rngs=rngs, name="fc")
        self.num_layers = depth + 1

    def __call__(self, x: jax.Array, *, seed: Any, train: bool = False) -> jax.Array:
        h = x
        for i, conv in enumerate(self.convs):
            h = jax.nn.relu(_run(conv, h, seed))
            if i in self.pool_after:
                h, _ = max_pool_with_index(h, 2)
        return _run(self.fc, h.reshape(h.shape[0], -1), seed)


def parse_name(name: str) -> tuple[int, int, int] | None:
    """``(depth, kernel, channels)`` of a ``cnn_d*_k*_c*`` name, else None.

    >>> parse_name("cnn_d4_k3_c16")
    (4, 3, 16)
    """
    m = _NAME.match(name)
    return tuple(int(g) for g in m.groups()) if m else None


__all__ = ["SmallCNN", "parse_name"]
