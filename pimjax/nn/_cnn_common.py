"""What the CNNs of :data:`~pimjax.nn.CNN_MODELS` share: channel widths, argument checks, layer ids,
the trace-time GEMM recording behind :func:`gemm_shapes`, and the float pooling helpers.

:func:`gemm_shapes` lists every emulated layer's GEMM ``(name, M, K, N)`` by tracing the forward
pass with :func:`jax.eval_shape`; :func:`gemm_recording` exposes that trace-time mode to tools
that walk a CNN's jaxpr. Max pooling keeps its argmax index for the backward pass (NeuroTrainer
Sec. 3.3.3); adaptive average pooling follows torchvision's ``AdaptiveAvgPool2d``. The models
themselves: :mod:`pimjax.nn._alexnet`, :mod:`pimjax.nn._vgg`, :mod:`pimjax.nn._resnet`
(registry: :mod:`pimjax.nn._cnn`).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Any, Iterator

import jax
import jax.numpy as jnp
from flax import nnx

from pimjax.nn._attention import EmuBatchedMatmul
from pimjax.nn._im2col import im2col
from pimjax.nn._layers import EmuConv, EmuLinear, max_pool_with_index

__all__ = ["gemm_shapes", "emulated_layers", "adaptive_avg_pool", "SMALL_INPUT", "gemm_recording"]

#: Below this input side the CIFAR-style stems are used (:mod:`pimjax.nn._cnn` docstring).
SMALL_INPUT = 64


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


#: He (Kaiming) normal initialisation for the ReLU layers of VGG (He et al. 2015, as
#: torchvision initialises VGG): without batch norm, 8-13 ReLU layers under LeCun init train
#: slowly (VGG11 on digits: 71% after 5 epochs instead of 97%+).
_HE = nnx.initializers.he_normal()


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

    Inside the context, the CNNs of :data:`~pimjax.nn.CNN_MODELS` (and only they) run their emulated layers as
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


def emulated_layers(model: nnx.Module) -> list[nnx.Module]:
    """The model's emulated matmul layers (the :class:`EmuLinear` inside each conv too, and the
    attention products, :class:`~pimjax.nn.EmuBatchedMatmul`), by layer_id."""
    out = [m for _, m in nnx.iter_graph(model) if isinstance(m, (EmuLinear, EmuBatchedMatmul))]
    return sorted(out, key=lambda m: m.layer_id)


def gemm_shapes(model: nnx.Module, batch: int) -> list[tuple[str, int, int, int]]:
    """Per-layer FF GEMM shapes ``(layer_name, M, K, N)`` of one forward pass, in call order.

    ``M`` is ``batch * H_out * W_out`` for a convolution (im2col rows), ``batch`` for a dense
    layer; ``K`` the im2col depth ``C_in * kh * kw`` (or ``in_features``); ``N`` the output
    channels. BP and UP run ``(M x N) @ (N x K)`` and ``(K x M) @ (M x N)``. The forward pass is
    traced with :func:`jax.eval_shape`, nothing runs; ``model`` may be an abstract model from
    :func:`~pimjax.nn.abstract_cnn`.
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


def _dense_head(fcs: Any, h: jax.Array, seed: Any, pooled: int | None) -> jax.Array:
    """The dense head of AlexNet and VGG: adaptive average pooling to ``pooled`` x ``pooled``
    (``None``: none, the small-input stems), flattening, then the emulated dense layers ``fcs``
    with ReLU between them (logits out)."""
    if pooled is not None:
        h = adaptive_avg_pool(h, pooled)
    h = h.reshape(h.shape[0], -1)
    for i, fc in enumerate(fcs):
        h = _run(fc, h, seed)
        if i < len(fcs) - 1:
            h = jax.nn.relu(h)
    return h


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
