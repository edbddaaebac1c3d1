"""AlexNet (Krizhevsky et al. 2012, torchvision's single-tower layout) on emulated hardware.

Five emulated convolutions and three emulated dense layers, ReLU and max pooling in float; the
CIFAR-style stem for ``input_size < 64`` and the shared knobs are described in
:mod:`pimjax.nn._cnn` (NeuroTrainer, Memory Slices, Memolution evaluate these layer shapes).
"""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from pimjax.nn._cnn_common import _HE, SMALL_INPUT, _ch, _check_common, _dense_head, _Ids, _pool, _run
from pimjax.nn._emulated import TrainingHardware
from pimjax.nn._layers import EmuConv, EmuLinear

__all__ = ["AlexNet"]


class AlexNet(nnx.Module):
    """AlexNet (Krizhevsky et al. 2012, torchvision's single-tower layout) on emulated hardware.

    Five convolutions (64, 192, 384, 256, 256 channels at ``width=1``) and three dense layers
    (``classifier_width``, ``classifier_width``, ``num_classes``). ``input_size >= 64``:
    11x11/4 (pad 2), 5x5 (pad 2) and 3x3 convs, 3x3/2 max-pools after conv1, conv2, conv5,
    adaptive average pooling to 6x6. ``input_size < 64``: all convs 3x3/1 (pad 1), 2x2/2
    max-pools, no adaptive pooling (needs ``input_size >= 8``).

    Args:
      hw: per-phase hardware of every emulated layer.
      num_classes, in_channels, input_size: data (NHWC, square).
      width: channel multiplier.
      classifier_width: hidden units of the two first dense layers (default ``round(4096 * width)``).
      rngs: parameter initialisation.
    """

    def __init__(self, *, hw: TrainingHardware, num_classes: int = 1000, in_channels: int = 3,
                 input_size: int = 224, width: float = 1.0, classifier_width: int | None = None,
                 rngs: nnx.Rngs):
        _check_common(num_classes=num_classes, in_channels=in_channels, input_size=input_size, width=width)
        self.num_classes, self.in_channels, self.input_size, self.width = num_classes, in_channels, input_size, width
        self.small = input_size < SMALL_INPUT
        ids = _Ids()
        c = [_ch(v, width) for v in (64, 192, 384, 256, 256)]
        if self.small:
            if input_size < 8:
                raise ValueError(f"AlexNet needs input_size >= 8 (three 2x2 pools), got {input_size}")
            specs = [(3, 1, 1)] * 5
            side = input_size // 2 // 2 // 2
        else:
            specs = [(11, 4, 2), (5, 1, 2), (3, 1, 1), (3, 1, 1), (3, 1, 1)]
            side = 6
        convs = []
        cin = in_channels
        for i, ((k, s, p), cout) in enumerate(zip(specs, c)):
            convs.append(EmuConv(cin, cout, (k, k), hw=hw, layer_id=ids(), rngs=rngs, strides=(s, s),
                                 padding=((p, p), (p, p)), name=f"features.conv{i + 1}"))
            cin = cout
        self.convs = nnx.List(convs)
        hidden = classifier_width if classifier_width is not None else _ch(4096, width)
        dims = [side * side * cin, hidden, hidden, num_classes]
        self.fcs = nnx.List([EmuLinear(dims[i], dims[i + 1], hw=hw, layer_id=ids(), rngs=rngs,
                                       name=f"classifier.fc{i + 1}", kernel_init=_HE if i < 2 else None)
                             for i in range(3)])
        self.num_layers = ids.n

    def __call__(self, x: jax.Array, *, seed: Any, train: bool = False) -> jax.Array:
        pool = (lambda h: _pool(h, 2, 2)) if self.small else (lambda h: _pool(h, 3, 2))
        h = x
        for i, conv in enumerate(self.convs):
            h = jax.nn.relu(_run(conv, h, seed))
            if i in (0, 1, 4):
                h = pool(h)
        return _dense_head(self.fcs, h, seed, None if self.small else 6)
