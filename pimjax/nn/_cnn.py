"""Convolutional networks whose every conv and dense matmul runs on the emulated hardware.

AlexNet, VGG (``"vgg11"``, ``"vgg16"``) and ResNet (``"resnet18"`` with basic blocks,
``"resnet50"`` with bottleneck blocks), as the papers train and cost them (NeuroTrainer,
Memory Slices, Memolution evaluate these layer shapes). Convolutions are :class:`EmuConv`
(im2col, one GEMM per layer in each of FF, BP and UP) and dense layers :class:`EmuLinear`;
everything else is float: ReLU, average pooling, BatchNorm (ResNet), and max pooling through
:func:`max_pool_with_index` (the argmax index is kept for the backward pass, NeuroTrainer
Sec. 3.3.3). Dropout is left out so that a training step is a function of ``(params, batch,
seed)`` only.

Every model takes NHWC images of ``input_size x input_size x in_channels`` and is called as
``model(x, *, seed, train=False) -> logits``; ``seed`` (a uint32) drives the stochastic rounding
of all layers (each layer folds in its own ``layer_id``). ``layer_id`` runs 0..L-1 over the
emulated layers in construction order, which is also the order of :func:`~pimjax.nn.gemm_shapes`.

Knobs shared by all models:

* ``width``: multiplier of every channel count (``max(1, round(c * width))``); ``1.0`` is the
  published network, ``0.125`` or ``1/16`` trains on a CPU.
* ``input_size``: square input side. ImageNet-style stems for ``input_size >= 64``; for smaller
  images (16 x 16 or 32 x 32 digits, CIFAR) the stems are adapted the way the common CIFAR
  variants of torchvision's models do it:

  - AlexNet (< 64): 3x3 stride-1 convolutions throughout and three 2x2 max-pools (after conv1,
    conv2 and conv5) instead of the 11x11/4 stem and 3x3/2 pools; the classifier reads the
    flattened ``(input_size // 8)**2 * 256`` features directly (no adaptive pooling).
  - VGG (< 64): the same 3x3 convolutions, but a 2x2 max-pool is skipped when the feature map
    is already 1x1 (16 x 16 inputs keep 4 of the 5 pools); no adaptive pooling, the classifier
    reads the flattened ``final_side**2 * 512`` features and defaults to ``512 * width`` units
    (the CIFAR VGG classifier) instead of 4096.
  - ResNet (< 64): 3x3 stride-1 stem convolution and no stem max-pool (the CIFAR ResNet of
    He et al. Sec. 4.2 as implemented in the usual torchvision ports); stages as in ImageNet.

  For ``input_size >= 64`` AlexNet and VGG end with torchvision's adaptive average pooling to
  6x6 / 7x7 (bins ``[floor(i*H/o), ceil((i+1)*H/o))``), ResNet with global average pooling.

:func:`~pimjax.nn.gemm_shapes` lists every emulated layer's GEMM ``(name, M, K, N)`` (FF: ``(M x K) @
(K x N)``) for a batch size by tracing the forward pass with :func:`jax.eval_shape` (no FLOPs
run); :func:`abstract_cnn` builds a model with :func:`flax.nnx.eval_shape` so that even the
full-size networks cost nothing to "construct" for costing.

Homes: the models in :mod:`pimjax.nn._alexnet`, :mod:`pimjax.nn._vgg` and :mod:`pimjax.nn._resnet`;
what they share (layer ids, GEMM recording, pooling) in :mod:`pimjax.nn._cnn_common`; this
module holds the registry (:data:`CNN_MODELS`, :func:`make_cnn`, :func:`abstract_cnn`).
"""

from __future__ import annotations

from typing import Any, Callable

from flax import nnx

from pimjax.nn._alexnet import AlexNet
from pimjax.nn._emulated import TrainingHardware
from pimjax.nn._resnet import ResNet
from pimjax.nn._small_cnn import SmallCNN, parse_name
from pimjax.nn._vgg import VGG

__all__ = ["CNN_MODELS", "make_cnn", "abstract_cnn"]


def _vgg(config: str) -> Callable[..., VGG]:
    def make(**kw) -> VGG:
        return VGG(config, **kw)

    make.__name__ = make.__qualname__ = config
    return make


def _resnet(config: str) -> Callable[..., ResNet]:
    def make(**kw) -> ResNet:
        return ResNet(config, **kw)

    make.__name__ = make.__qualname__ = config
    return make


#: name -> constructor taking the keyword arguments of :func:`make_cnn` (except ``name``).
CNN_MODELS: dict[str, Callable[..., nnx.Module]] = {
    "alexnet": AlexNet,
    "vgg11": _vgg("vgg11"),
    "vgg16": _vgg("vgg16"),
    "resnet18": _resnet("resnet18"),
    "resnet50": _resnet("resnet50"),
}


def make_cnn(name: str, *, hw: TrainingHardware, num_classes: int = 1000, in_channels: int = 3,
             input_size: int = 224, width: float = 1.0, rngs: nnx.Rngs, **kwargs: Any) -> nnx.Module:
    """Build a model of :data:`CNN_MODELS` (extra keywords, e.g. ``classifier_width``, pass through),
    or of the small family ``cnn_d{depth}_k{kernel}_c{channels}`` (:mod:`pimjax.nn._small_cnn`;
    its name fixes the channels, ``width`` does not apply)."""
    small = parse_name(name) if isinstance(name, str) else None
    if small is not None:
        d, k, c = small
        return SmallCNN(depth=d, kernel=k, channels=c, hw=hw, num_classes=num_classes, in_channels=in_channels,
                        input_size=input_size, rngs=rngs)
    if name not in CNN_MODELS:
        raise ValueError(f"unknown CNN {name!r}; choose one of {sorted(CNN_MODELS)} or cnn_d<depth>_k<kernel>_c<channels>")
    return CNN_MODELS[name](hw=hw, num_classes=num_classes, in_channels=in_channels, input_size=input_size,
                            width=width, rngs=rngs, **kwargs)


def abstract_cnn(name: str, *, hw: TrainingHardware, num_classes: int = 1000, in_channels: int = 3,
                 input_size: int = 224, width: float = 1.0, seed: int = 0, **kwargs: Any) -> nnx.Module:
    """:func:`make_cnn` under :func:`flax.nnx.eval_shape`: parameters are shapes, nothing is allocated."""
    return nnx.eval_shape(lambda: make_cnn(name, hw=hw, num_classes=num_classes, in_channels=in_channels,
                                           input_size=input_size, width=width, rngs=nnx.Rngs(seed), **kwargs))
