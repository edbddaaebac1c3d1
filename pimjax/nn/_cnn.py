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
emulated layers in construction order, which is also the order of :func:`gemm_shapes`.

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

:func:`gemm_shapes` lists every emulated layer's GEMM ``(name, M, K, N)`` (FF: ``(M x K) @
(K x N)``) for a batch size by tracing the forward pass with :func:`jax.eval_shape` (no FLOPs
run); :func:`abstract_cnn` builds a model with :func:`flax.nnx.eval_shape` so that even the
full-size networks cost nothing to "construct" for costing.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Any, Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from pimjax.nn._emulated import TrainingHardware
from pimjax.nn._im2col import im2col
from pimjax.nn._layers import EmuConv, EmuLinear, max_pool_with_index

__all__ = ["AlexNet", "VGG", "ResNet", "CNN_MODELS", "VGG_CONFIGS", "RESNET_CONFIGS", "make_cnn",
           "abstract_cnn", "gemm_shapes", "emulated_layers", "adaptive_avg_pool", "SMALL_INPUT", "gemm_recording"]

#: Below this input side the CIFAR-style stems are used (module docstring).
SMALL_INPUT = 64

VGG_CONFIGS: dict[str, tuple[int | str, ...]] = {
    # Simonyan & Zisserman Table 1, configurations A (11 layers) and D (16 layers); "M" = 2x2 max-pool
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
}

RESNET_CONFIGS: dict[str, tuple[str, tuple[int, ...]]] = {
    # He et al. Table 1: block type and blocks per stage (conv2_x .. conv5_x)
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
}


def _ch(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


def _check_common(*, num_classes: int, in_channels: int, input_size: int, width: float) -> None:
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if int(in_channels) < 1:
        raise ValueError(f"in_channels must be >= 1, got {in_channels}")
    try:
        ok = math.isfinite(float(width)) and float(width) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"width must be a positive number, got {width!r}")
    if int(input_size) < 1:
        raise ValueError(f"input_size must be >= 1, got {input_size}")


class _Ids:
    """Hands out layer ids 0, 1, 2, ... in construction order."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        i = self.n
        self.n += 1
        return i


# --------------------------------------------------------------------------------------------
# GEMM recording (gemm_shapes): a trace-time context, no effect on normal calls


_RECORD: contextvars.ContextVar[list | None] = contextvars.ContextVar("pimjax_cnn_gemm_record", default=None)


def _run(layer: EmuConv | EmuLinear, x: jax.Array, seed: Any) -> jax.Array:
    """Call an emulated layer; under :func:`gemm_shapes` record its GEMM and run a float stand-in."""
    rec = _RECORD.get()
    if rec is None:
        return layer(x, seed=seed)
    lin = layer.linear if isinstance(layer, EmuConv) else layer
    if isinstance(layer, EmuConv):
        x = im2col(x, layer.kernel_size, layer.strides, layer.padding)
    k, n = lin.kernel.shape
    if x.shape[-1] != k:
        raise ValueError(f"layer {lin.name}: input has {x.shape[-1]} features, kernel expects {k}")
    rec.append((lin.name, math.prod(x.shape[:-1]), int(k), int(n)))
    # same shapes as the emulated layer, traced only (jax.eval_shape): nothing is computed
    y = x @ lin.kernel[...]
    if lin.bias is not None:
        y = y + lin.bias[...]
    return y


@contextlib.contextmanager
def _recording():
    rec: list[tuple[str, int, int, int]] = []
    token = _RECORD.set(rec)
    try:
        yield rec
    finally:
        _RECORD.reset(token)


@contextlib.contextmanager
def gemm_recording() -> Iterator[list[tuple[str, int, int, int]]]:
    """The trace-time mode of :func:`gemm_shapes`, for tools that walk a CNN's traced computation.

    Inside the context, the CNNs of this module (and only they) run their emulated layers as
    float stand-ins of the same shapes, each a single ``dot_general`` of the (im2col) input with
    the ``(K, N)`` weight matrix (plus the bias), and append ``(layer_name, M, K, N)`` to the
    yielded list in call order; each max pooling is traced as one ``reduce_window_max`` equation
    (the values of :func:`max_pool_with_index` without the index). A jaxpr traced inside (e.g.
    with :func:`jax.make_jaxpr` on an abstract model) thus shows every GEMM and every pooling as
    one equation. Meant for tracing only; calls outside the context are unaffected. JAX caches
    the trace of a function (``jax.jit``, ``jax.make_jaxpr``) without regard to this context:
    trace a function created inside it, as :func:`gemm_shapes` does, and do not reuse it outside.

    Yields:
      The list of recorded GEMMs, filled while the model is traced.
    """
    with _recording() as rec:
        yield rec


def emulated_layers(model: nnx.Module) -> list[EmuLinear]:
    """The model's emulated matmul layers (the :class:`EmuLinear` inside each conv too), by layer_id."""
    out = [m for _, m in nnx.iter_graph(model) if isinstance(m, EmuLinear)]
    return sorted(out, key=lambda m: m.layer_id)


def gemm_shapes(model: nnx.Module, batch: int) -> list[tuple[str, int, int, int]]:
    """Per-layer FF GEMM shapes ``(layer_name, M, K, N)`` of one forward pass, in call order.

    ``M`` is ``batch * H_out * W_out`` for a convolution (im2col rows), ``batch`` for a dense
    layer; ``K`` the im2col depth ``C_in * kh * kw`` (or ``in_features``); ``N`` the output
    channels. BP and UP run ``(M x N) @ (N x K)`` and ``(K x M) @ (M x N)``. The forward pass is
    traced with :func:`jax.eval_shape`, nothing runs; ``model`` may be an abstract model from
    :func:`abstract_cnn`.
    """
    if int(batch) < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    graphdef, state = nnx.split(model)
    x = jax.ShapeDtypeStruct((int(batch), model.input_size, model.input_size, model.in_channels), jnp.float32)

    def fwd(state, x):
        return nnx.merge(graphdef, state)(x, seed=jnp.uint32(0), train=False)

    with _recording() as rec:
        jax.eval_shape(fwd, state, x)
    return list(rec)


# --------------------------------------------------------------------------------------------
# float helpers


def adaptive_avg_pool(x: jax.Array, out_size: int) -> jax.Array:
    """torch ``AdaptiveAvgPool2d``: output bin ``i`` averages rows ``[floor(i*H/o), ceil((i+1)*H/o))``."""
    h, w = x.shape[1], x.shape[2]
    if h == out_size and w == out_size:
        return x

    def bins(n: int) -> list[tuple[int, int]]:
        return [((i * n) // out_size, -((-(i + 1) * n) // out_size)) for i in range(out_size)]

    rows = [jnp.mean(x[:, a:b], axis=1, keepdims=True) for a, b in bins(h)]
    x = jnp.concatenate(rows, axis=1)
    cols = [jnp.mean(x[:, :, a:b], axis=2, keepdims=True) for a, b in bins(w)]
    return jnp.concatenate(cols, axis=2)


def _pool(x: jax.Array, window: int, stride: int) -> jax.Array:
    if _RECORD.get() is not None:  # gemm_recording: one reduce_window_max equation, same values
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, window, window, 1), (1, stride, stride, 1),
                                     "VALID")
    y, _idx = max_pool_with_index(x, window, stride)
    return y


# --------------------------------------------------------------------------------------------
# AlexNet


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
        if not self.small:
            h = adaptive_avg_pool(h, 6)
        h = h.reshape(h.shape[0], -1)
        for i, fc in enumerate(self.fcs):
            h = _run(fc, h, seed)
            if i < len(self.fcs) - 1:
                h = jax.nn.relu(h)
        return h


# --------------------------------------------------------------------------------------------
# VGG


#: He (Kaiming) normal initialisation for the ReLU layers of VGG (He et al. 2015, as
#: torchvision initialises VGG): without batch norm, 8-13 ReLU layers under LeCun init train
#: slowly (VGG11 on digits: 71% after 5 epochs instead of 97%+).
_HE = nnx.initializers.he_normal()


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
        if not self.small:
            h = adaptive_avg_pool(h, 7)
        h = h.reshape(h.shape[0], -1)
        for i, fc in enumerate(self.fcs):
            h = _run(fc, h, seed)
            if i < len(self.fcs) - 1:
                h = jax.nn.relu(h)
        return h


# --------------------------------------------------------------------------------------------
# ResNet


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


# --------------------------------------------------------------------------------------------
# registry


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
    from pimjax.nn._small_cnn import SmallCNN, parse_name

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
