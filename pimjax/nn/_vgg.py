"""VGG (Simonyan & Zisserman 2015, configurations A = ``"vgg11"`` and D = ``"vgg16"``) on emulated hardware.

Emulated 3x3 convolutions and dense layers, ReLU and max pooling in float, no batch norm; the
CIFAR-style variant for ``input_size < 64`` and the shared knobs are described in
:mod:`pimjax.nn._cnn` (NeuroTrainer, Memory Slices, Memolution evaluate these layer shapes).
"""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from pimjax.nn._cnn_common import _HE, SMALL_INPUT, _ch, _check_common, _dense_head, _Ids, _pool, _run
from pimjax.nn._emulated import TrainingHardware
from pimjax.nn._layers import EmuConv, EmuLinear

__all__ = ["VGG", "VGG_CONFIGS"]

VGG_CONFIGS: dict[str, tuple[int | str, ...]] = {
    # Simonyan & Zisserman Table 1, configurations A (11 layers) and D (16 layers); "M" = 2x2 max-pool
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
}


class VGG(nnx.Module):
    """VGG (Simonyan & Zisserman 2015, configurations A = ``"vgg11"`` and D = ``"vgg16"``), no BN.

    3x3/1 convolutions (pad 1) and 2x2/2 max-pools as in :data:`VGG_CONFIGS`, then three dense
    layers. ``input_size >= 64``: adaptive average pooling to 7x7, classifier
    ``7*7*C -> classifier_width -> classifier_width -> num_classes`` with default
    ``round(4096 * width)``. ``input_size < 64`` (CIFAR VGG): a pool is skipped when the map is
    already 1x1, the classifier reads the flattened map, default ``round(512 * width)`` units.
    """

    def __init__(self, config: str = "vgg16", *, hw: TrainingHardware, num_classes: int = 1000,
                 in_channels: int = 3, input_size: int = 224, width: float = 1.0,
                 classifier_width: int | None = None, rngs: nnx.Rngs):
        if config not in VGG_CONFIGS:
            raise ValueError(f"VGG config must be one of {sorted(VGG_CONFIGS)}, got {config!r}")
        _check_common(num_classes=num_classes, in_channels=in_channels, input_size=input_size, width=width)
        self.config = config
        self.num_classes, self.in_channels, self.input_size, self.width = num_classes, in_channels, input_size, width
        self.small = input_size < SMALL_INPUT
        ids = _Ids()
        convs, plan = [], []
        cin, side, block, idx = in_channels, input_size, 1, 1
        for v in VGG_CONFIGS[config]:
            if v == "M":
                if side >= 2:
                    plan.append("pool")
                    side //= 2
                elif not self.small:
                    raise ValueError(f"input_size {input_size} too small for {config}")
                block, idx = block + 1, 1
                continue
            cout = _ch(v, width)
            convs.append(EmuConv(cin, cout, (3, 3), hw=hw, layer_id=ids(), rngs=rngs,
                                 padding=((1, 1), (1, 1)), name=f"features.conv{block}_{idx}",
                                 kernel_init=_HE))
            plan.append("conv")
            cin, idx = cout, idx + 1
        self.convs = nnx.List(convs)
        self.plan = tuple(plan)
        if self.small:
            feat = side * side * cin
            hidden = classifier_width if classifier_width is not None else _ch(512, width)
        else:
            feat = 7 * 7 * cin
            hidden = classifier_width if classifier_width is not None else _ch(4096, width)
        dims = [feat, hidden, hidden, num_classes]
        self.fcs = nnx.List([EmuLinear(dims[i], dims[i + 1], hw=hw, layer_id=ids(), rngs=rngs,
                                       name=f"classifier.fc{i + 1}", kernel_init=_HE if i < 2 else None)
                             for i in range(3)])
        self.num_layers = ids.n

    def __call__(self, x: jax.Array, *, seed: Any, train: bool = False) -> jax.Array:
        h = x
        convs = iter(self.convs)
        for step in self.plan:
            if step == "pool":
                h = _pool(h, 2, 2)
            else:
                h = jax.nn.relu(_run(next(convs), h, seed))
        return _dense_head(self.fcs, h, seed, None if self.small else 7)
