"""ResNet (He et al. 2016): basic blocks (``"resnet18"``) and bottleneck blocks (``"resnet50"``) on emulated hardware.

Emulated convolutions (projection shortcuts included) and fc; BatchNorm, ReLU, pooling and the
residual additions in float. The CIFAR-style stem for ``input_size < 64`` and the shared knobs
are described in :mod:`pimjax.nn._cnn` (NeuroTrainer, Memory Slices, Memolution evaluate these layer shapes).
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from pimjax.nn._cnn_common import SMALL_INPUT, _ch, _check_common, _Ids, _pool, _run
from pimjax.nn._emulated import TrainingHardware
from pimjax.nn._layers import EmuConv, EmuLinear

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "RESNET_CONFIGS"]

RESNET_CONFIGS: dict[str, tuple[str, tuple[int, ...]]] = {
    # He et al. Table 1: block type and blocks per stage (conv2_x .. conv5_x)
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
}


def _bn(c: int, rngs: nnx.Rngs) -> nnx.BatchNorm:
    # torch defaults: momentum 0.1 (flax: 0.9 = weight of the old running value), eps 1e-5
    return nnx.BatchNorm(c, momentum=0.9, epsilon=1e-5, rngs=rngs)


def _conv(cin, cout, k, s, *, hw, ids, rngs, name):
    p = k // 2
    return EmuConv(cin, cout, (k, k), hw=hw, layer_id=ids(), rngs=rngs, strides=(s, s),
                   padding=((p, p), (p, p)), use_bias=False, name=name)


class BasicBlock(nnx.Module):
    """Two 3x3 convolutions (He et al. Fig. 2 left); 1x1 projection shortcut when shapes change."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int, *, hw, ids, rngs, name: str):
        self.conv1 = _conv(cin, planes, 3, stride, hw=hw, ids=ids, rngs=rngs, name=f"{name}.conv1")
        self.bn1 = _bn(planes, rngs)
        self.conv2 = _conv(planes, planes, 3, 1, hw=hw, ids=ids, rngs=rngs, name=f"{name}.conv2")
        self.bn2 = _bn(planes, rngs)
        if stride != 1 or cin != planes:
            self.down = _conv(cin, planes, 1, stride, hw=hw, ids=ids, rngs=rngs, name=f"{name}.downsample")
            self.down_bn = _bn(planes, rngs)
        else:
            self.down = self.down_bn = None
        self.out_channels = planes

    def __call__(self, x, *, seed, train):
        ura = not train
        h = jax.nn.relu(self.bn1(_run(self.conv1, x, seed), use_running_average=ura))
        h = self.bn2(_run(self.conv2, h, seed), use_running_average=ura)
        sc = x if self.down is None else self.down_bn(_run(self.down, x, seed), use_running_average=ura)
        return jax.nn.relu(h + sc)


class Bottleneck(nnx.Module):
    """1x1 -> 3x3 (stride here, "ResNet v1.5" as torchvision) -> 1x1 x4; projection shortcut."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int, *, hw, ids, rngs, name: str):
        cout = planes * self.expansion
        self.conv1 = _conv(cin, planes, 1, 1, hw=hw, ids=ids, rngs=rngs, name=f"{name}.conv1")
        self.bn1 = _bn(planes, rngs)
        self.conv2 = _conv(planes, planes, 3, stride, hw=hw, ids=ids, rngs=rngs, name=f"{name}.conv2")
        self.bn2 = _bn(planes, rngs)
        self.conv3 = _conv(planes, cout, 1, 1, hw=hw, ids=ids, rngs=rngs, name=f"{name}.conv3")
        self.bn3 = _bn(cout, rngs)
        if stride != 1 or cin != cout:
            self.down = _conv(cin, cout, 1, stride, hw=hw, ids=ids, rngs=rngs, name=f"{name}.downsample")
            self.down_bn = _bn(cout, rngs)
        else:
            self.down = self.down_bn = None
        self.out_channels = cout

    def __call__(self, x, *, seed, train):
        ura = not train
        h = jax.nn.relu(self.bn1(_run(self.conv1, x, seed), use_running_average=ura))
        h = jax.nn.relu(self.bn2(_run(self.conv2, h, seed), use_running_average=ura))
        h = self.bn3(_run(self.conv3, h, seed), use_running_average=ura)
        sc = x if self.down is None else self.down_bn(_run(self.down, x, seed), use_running_average=ura)
        return jax.nn.relu(h + sc)


class ResNet(nnx.Module):
    """ResNet (He et al. 2016) with float BatchNorm and emulated convolutions / fc.

    ``"resnet18"``: basic blocks (2, 2, 2, 2); ``"resnet50"``: bottleneck blocks (3, 4, 6, 3);
    stage widths 64, 128, 256, 512 (x4 out for bottlenecks) times ``width``; stride 2 at the first
    block of stages 2-4; 1x1 projection shortcuts (emulated, with BN) where shapes change.
    ``depths`` overrides the blocks per stage (e.g. ``"resnet18"`` with ``(3, 4, 6, 3)`` is
    ResNet-34, ``"resnet50"`` with ``(3, 4, 23, 3)`` ResNet-101; ``(1, 1, 1, 1)`` is the cheapest
    network with every kind of layer, for tests).
    Stem: 7x7/2 conv + 3x3/2 max-pool (pad 1) for ``input_size >= 64``, 3x3/1 conv and no pool
    below. Global average pooling, then the emulated fc. BatchNorm normalises with batch
    statistics and updates its running averages when ``train=True``, uses the running averages
    otherwise.
    """

    def __init__(self, config: str = "resnet50", *, hw: TrainingHardware, num_classes: int = 1000,
                 in_channels: int = 3, input_size: int = 224, width: float = 1.0,
                 depths: Sequence[int] | None = None, rngs: nnx.Rngs):
        if config not in RESNET_CONFIGS:
            raise ValueError(f"ResNet config must be one of {sorted(RESNET_CONFIGS)}, got {config!r}")
        _check_common(num_classes=num_classes, in_channels=in_channels, input_size=input_size, width=width)
        self.config = config
        self.num_classes, self.in_channels, self.input_size, self.width = num_classes, in_channels, input_size, width
        self.small = input_size < SMALL_INPUT
        kind, default_depths = RESNET_CONFIGS[config]
        depths = tuple(int(d) for d in (default_depths if depths is None else depths))
        if len(depths) != 4 or min(depths) < 1:
            raise ValueError(f"depths must be 4 positive block counts (one per stage), got {depths}")
        self.depths = depths
        block_cls = BasicBlock if kind == "basic" else Bottleneck
        ids = _Ids()
        c0 = _ch(64, width)
        if self.small:
            self.conv1 = _conv(in_channels, c0, 3, 1, hw=hw, ids=ids, rngs=rngs, name="conv1")
        else:
            self.conv1 = _conv(in_channels, c0, 7, 2, hw=hw, ids=ids, rngs=rngs, name="conv1")
        self.bn1 = _bn(c0, rngs)
        blocks = []
        cin = c0
        for si, (planes, depth) in enumerate(zip((64, 128, 256, 512), depths)):
            for bi in range(depth):
                stride = 2 if (si > 0 and bi == 0) else 1
                b = block_cls(cin, _ch(planes, width), stride, hw=hw, ids=ids, rngs=rngs,
                              name=f"layer{si + 1}.{bi}")
                blocks.append(b)
                cin = b.out_channels
        self.blocks = nnx.List(blocks)
        self.fc = EmuLinear(cin, num_classes, hw=hw, layer_id=ids(), rngs=rngs, name="fc")
        self.num_layers = ids.n

    def __call__(self, x: jax.Array, *, seed: Any, train: bool = False) -> jax.Array:
        h = jax.nn.relu(self.bn1(_run(self.conv1, x, seed), use_running_average=not train))
        if not self.small:
            # 3x3/2 pad-1 max-pool; h >= 0 after ReLU, so zero padding equals -inf padding
            h = _pool(jnp.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0))), 3, 2)
        for b in self.blocks:
            h = b(h, seed=seed, train=train)
        h = jnp.mean(h, axis=(1, 2))
        return _run(self.fc, h, seed)
