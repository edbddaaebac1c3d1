"""Flax NNX layers whose matmuls run on the emulated hardware in all three phases.

Every emulated layer owns a :class:`CostProbe` (:func:`~pimjax.nn._emulated.zero_probe`, float32
limbs that encode event counts exactly, see :mod:`pimjax.nn._emulated`); the gradient of the
loss with respect to it carries the BP and UP numeric events, while the FF events and the
shape-derived costs of all three phases are sown as ``nnx.Intermediate`` values named
``"cost"`` (a dict phase -> :class:`~pimjax.cost.CostRecord`), summed over the layer's calls
until they are popped (``nnx.pop(model, nnx.Intermediate)``): the model's state keeps one
record per layer, so a jitted loop that never pops them compiles twice (the first call adds
the records), not once per call. Conv is lowered to matmul by
im2col (NeuroTrainer Sec. 2, Memory Slices Sec. 4.2); max-pooling keeps the argmax index.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from pimjax._checks import check_int
from pimjax.cost import CostRecord, system_cost
from pimjax.numerics import fold_key
from pimjax.nn._emulated import TrainingHardware, _events_of, check_hardware, emulated_dot, zero_events, zero_probe
from pimjax.nn._im2col import conv_output_pads, im2col
from pimjax.nn._modules import check_module_batch, node_cost, per_example_cost, with_events
from pimjax.nn._noise import forward_override
from pimjax.system import Mapping


def add_costs(total: dict[str, CostRecord], new: dict[str, CostRecord]) -> dict[str, CostRecord]:
    """Phase-wise sum of two sown cost dicts (the ``reduce_fn`` of a layer's ``"cost"`` record)."""
    out = dict(total)
    for ph, rec in new.items():
        out[ph] = out[ph] + rec if ph in out else rec
    return out


class CostProbe(nnx.Variable):
    """Zero-valued variable (:func:`~pimjax.nn._emulated.zero_probe`) whose gradient carries a
    layer's BP/UP numeric events, encoded exactly (:func:`probe_events` decodes it)."""


def _phase_shapes(m: int, k: int, n: int) -> dict[str, tuple[int, int, int]]:
    # FF: (M,K)@(K,N); BP: dX = dY (M,N) @ W.T (N,K); UP: dW = X.T (K,M) @ dY (M,N)
    return {"ff": (m, k, n), "bp": (m, n, k), "up": (k, m, n)}


def matmul_costs(m: int, k: int, n: int, hw: TrainingHardware,
                 events: dict[str, Any] | None = None, *, calls: int = 1,
                 resident_with: dict[str, int] | None = None, per_example: bool = False) -> dict[str, CostRecord]:
    """Shape-derived cost records of the three phases of an (m x k) @ (k x n) layer matmul.

    ``events``: phase -> that phase's numeric events, as :class:`~pimjax.numerics.NumericEvents`,
    encoded events (a layer's FF events, shape :data:`~pimjax.nn._emulated.EVENT_SHAPE`) or four
    counts; decoded exactly. ``calls`` consecutive calls of the layer are costed together (the
    records are their sums).
    ``resident_with``: for the phases whose stationary operand is the layer's weights (FF: W,
    BP: W.T; UP's is the gradient, new every call), the bytes per slice of the other layers'
    weights interleaved with these calls; given, the weights may stay resident across the calls
    (:func:`pimjax.cost.system_cost`, ``reuse_weights``).

    With ``hw.modules > 1`` each phase is costed on the modules' node
    (:func:`pimjax.nn._modules.node_cost`: FF/BP split by rows, UP by the same row blocks plus
    the central reduction and the copy-back of dW). ``per_example`` (only read with
    ``hw.modules > 1``): the ``calls`` are independent per-example matmuls (attention's
    per-sentence products), ``calls / modules`` of them on each module, concurrently, without
    sync (:func:`pimjax.nn._modules.per_example_cost`).
    """
    out = {}
    for phase, (pm, pk, pn) in _phase_shapes(m, k, n).items():
        cfg = hw.phase(phase).system
        if cfg is None:  # native float32: no hardware, only the MACs
            out[phase] = CostRecord.make(macs=calls * pm * pk * pn)
            continue
        ev = None
        if events is not None and phase in events:
            ev = _events_of(events[phase])
        reuse = resident_with is not None and phase in resident_with and phase != "up"
        other = resident_with[phase] if reuse else 0
        if hw.modules > 1:
            if per_example:
                rec = per_example_cost(pm, pk, pn, cfg, examples=calls, modules=hw.modules)
            else:
                rec = node_cost(pm, pk, pn, hw.node(phase), calls=calls, reuse_weights=reuse, other_weights=other)
            out[phase] = with_events(rec, ev)
            continue
        mp = Mapping.even(k=pk, n=pn, num_slices=cfg.num_slices, width=cfg.array.width, rows=cfg.array.rows)
        out[phase] = system_cost(pm, mp.k_sizes, pn, mp.owners, mp.tile_cols, cfg, events=ev, calls=calls,
                                 reuse_weights=reuse, other_weights=other)
    return out


def events_only_costs(ff_events: Any) -> dict[str, CostRecord]:
    """Per-phase records holding only the numeric events (``record_costs=False``): the FF
    events here (encoded, as :func:`emulated_dot` returns them, or :class:`NumericEvents`),
    BP/UP's filled in from the probe gradient. Overflow, NaN, Inf and random bits are reported
    with or without cost accounting."""
    ff = _events_of(ff_events)
    return {"ff": CostRecord.make(overflow=ff.overflow, nan=ff.nan, inf=ff.inf, random_bits=ff.random_bits),
            "bp": CostRecord.zero(), "up": CostRecord.zero()}


def _pair(name: str, v: Any) -> tuple[int, int]:
    """An int ``k`` as ``(k, k)`` (as ``flax.nnx.Conv``) or a pair of positive integers."""
    if hasattr(v, "__index__") and not isinstance(v, bool):
        v = (v, v)
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) != 2:
        raise TypeError(f"{name} must be a positive integer or a pair of them, got {v!r}")
    return check_int(f"{name}[0]", v[0], 1), check_int(f"{name}[1]", v[1], 1)


def _check_padding(padding: Any, kernel_size: tuple[int, int], strides: tuple[int, int]) -> Any:
    """``"SAME"``, ``"VALID"`` or two non-negative ``(low, high)`` pairs (as a tuple); ValueError otherwise."""
    if isinstance(padding, str):
        if padding not in ("SAME", "VALID"):
            raise ValueError(f"padding must be 'SAME', 'VALID' or two (low, high) pairs, got {padding!r}")
        return padding
    try:
        return tuple(conv_output_pads((1, 1), kernel_size, strides, padding))
    except (TypeError, ValueError):
        raise ValueError(f"padding must be 'SAME', 'VALID' or two non-negative (low, high) pairs, "
                         f"got {padding!r}") from None


class EmuLinear(nnx.Module):
    """Dense layer ``y = x @ W + b`` with FF/BP/UP on the emulated hardware.

    Args:
      in_features, out_features: sizes.
      hw: per-phase hardware.
      layer_id: distinguishes the layer's random streams (stochastic rounding).
      rngs: parameter initialisation.
      use_bias: add a float bias after the array (as the aggregation engine's output).
      kernel_init: initializer of the (in_features, out_features) kernel (default LeCun normal).

    Raises:
      TypeError / ValueError naming the argument: sizes that are not integers >= 1, a negative
      ``layer_id``, ``hw`` not a :class:`~pimjax.nn.TrainingHardware`; at call, an input whose
      last dimension is not ``in_features``.
    """

    def __init__(self, in_features: int, out_features: int, *, hw: TrainingHardware, layer_id: int,
                 rngs: nnx.Rngs, use_bias: bool = True, name: str = "", kernel_init: Any = None):
        in_features, out_features = check_int("in_features", in_features, 1), check_int("out_features", out_features, 1)
        layer_id = check_int("layer_id", layer_id, 0)
        check_hardware("hw", hw)
        init = kernel_init or nnx.initializers.lecun_normal()
        self.kernel = nnx.Param(init(rngs.params(), (in_features, out_features), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((out_features,), jnp.float32)) if use_bias else None
        self.probe = CostProbe(zero_probe())
        self.hw = hw
        self.layer_id = layer_id
        self.name = name or f"linear{layer_id}"

    def __call__(self, x: jax.Array, *, seed: jax.Array) -> jax.Array:
        if x.shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"{self.name}: the input's last dimension is {x.shape[-1]} but in_features is "
                             f"{self.kernel.shape[0]} (input shape {x.shape})")
        check_module_batch(x.shape, self.hw.modules, self.name)
        s = fold_key(jnp.asarray(seed, jnp.uint32), self.layer_id)
        y, ev = emulated_dot(x, self.kernel[...], self.hw, seed=s, probe=self.probe[...])
        return self.output(y, math.prod(x.shape[:-1]), ev)

    def output(self, y: jax.Array, m: int, ev: jax.Array) -> jax.Array:
        """Records the layer's costs (``m`` rows, encoded FF events ``ev``) and adds the bias to ``y``."""
        k = self.kernel.shape[0]
        # without cost accounting, overflow/NaN/Inf and random bits are still reported
        self.sow(nnx.Intermediate, "cost", matmul_costs(m, k, self.kernel.shape[1], self.hw, {"ff": ev})
                 if self.hw.record_costs else events_only_costs(ev), init_fn=dict, reduce_fn=add_costs)
        if self.bias is not None:
            y = y + self.bias[...]
        return y


class EmuConv(nnx.Module):
    """2-D convolution (NHWC) lowered to matmul by im2col, on the emulated hardware.

    The kernel is stored as the im2col matrix ``(C * kh * kw, out_features)`` (input channel
    major, the patch order of ``jax.lax.conv_general_dilated_patches``, built by
    :func:`~pimjax.nn.im2col`). The backward pass of the patch extraction (col2im: summing
    overlapping patch gradients) is float. With every phase native (precision ``"native"``, the
    float32 reference) the layer is a plain ``jax.lax.conv_general_dilated``, as ``nnx.Conv``.

    ``kernel_size`` and ``strides`` are an int ``k`` (meaning ``(k, k)``, as ``nnx.Conv``) or a
    pair; ``padding`` is ``"SAME"``, ``"VALID"`` or two ``(low, high)`` pairs. Bad arguments
    raise TypeError / ValueError naming them (as :class:`EmuLinear`); at call, ValueError for an
    input that is not NHWC with ``in_features`` channels.
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: int | Sequence[int], *,
                 hw: TrainingHardware, layer_id: int, rngs: nnx.Rngs, strides: int | Sequence[int] = (1, 1),
                 padding: str | Sequence[tuple[int, int]] = "SAME", use_bias: bool = True, name: str = "",
                 kernel_init: Any = None):
        self.in_features = check_int("in_features", in_features, 1)
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.strides = _pair("strides", strides)
        self.padding = _check_padding(padding, self.kernel_size, self.strides)
        kdim = self.in_features * self.kernel_size[0] * self.kernel_size[1]
        self.linear = EmuLinear(kdim, out_features, hw=hw, layer_id=layer_id, rngs=rngs, use_bias=use_bias,
                                name=name or f"conv{layer_id}", kernel_init=kernel_init)

    def __call__(self, x: jax.Array, *, seed: jax.Array) -> jax.Array:
        if x.ndim != 4 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self.linear.name}: expects NHWC input with in_features={self.in_features} channels, "
                             f"got shape {x.shape}")
        hw = self.linear.hw
        check_module_batch(x.shape, hw.modules, self.linear.name)
        if hw.is_native and hw.noise is None and forward_override() is None:
            # plain float32 (the reference): the convolution itself, as nnx.Conv computes it
            c = x.shape[-1]
            w = self.linear.kernel[...].reshape(c, *self.kernel_size, -1).transpose(1, 2, 0, 3)  # HWIO
            y = jax.lax.conv_general_dilated(x.astype(jnp.float32), w, self.strides, self.padding,
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
            return self.linear.output(y, math.prod(y.shape[:-1]), zero_events())
        return self.linear(im2col(x, self.kernel_size, self.strides, self.padding), seed=seed)


def max_pool_with_index(x: jax.Array, window: int = 2, stride: int | None = None) -> tuple[jax.Array, jax.Array]:
    """Max pooling (NHWC, VALID) that returns the argmax index inside each window.

    NeuroTrainer Sec. 3.3.3: the comparator "returns the maximum value and its ID for
    backpropagation"; the gradient flows only to that element. The index counts the window's
    elements row-major (kernel row, then column) and is the first maximum (``jnp.argmax``: a NaN
    wins); the value is that element itself (so ``-0.0`` and NaN pass unchanged).
    Non-overlapping windows (``stride == window``) are a reshape of ``x``; overlapping ones an
    im2col gather.

    Example:
      >>> import jax.numpy as jnp
      >>> x = jnp.array([1., 3., 2., 0., 5., 4., 7., 6.]).reshape(1, 2, 4, 1)
      >>> y, idx = max_pool_with_index(x, 2)
      >>> y.ravel().tolist(), idx.ravel().tolist()
      ([5.0, 7.0], [2, 2])
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be an integer >= 1, got {window!r}")
    stride = window if stride is None else stride
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be an integer >= 1, got {stride!r}")
    if x.ndim != 4:
        raise ValueError(f"max_pool_with_index expects an NHWC array, got shape {x.shape}")
    n, h, w, c = x.shape
    if stride == window:  # disjoint windows: a reshape, no gather (XLA fuses a gather into its consumers)
        ho, wo = h // window, w // window
        if ho < 1 or wo < 1:
            raise ValueError(f"window {window} does not fit the input {h}x{w}")
        p = x[:, :ho * window, :wo * window].reshape(n, ho, window, wo, window, c)
        patches = p.transpose(0, 1, 3, 5, 2, 4).reshape(n, ho, wo, c, window * window)
    else:
        patches = im2col(x, (window, window), (stride, stride), "VALID")
        patches = patches.reshape(*patches.shape[:-1], c, window * window)
    return _window_max(patches)


def _first_max(a: tuple[jax.Array, jax.Array], b: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """The (value, index) pair of ``a`` and ``b`` that comes first: the larger value, a NaN over a
    number, the lower index among equals (``-0.0 == 0.0``) and among NaNs."""
    (av, ai), (bv, bi) = a, b
    a_nan, b_nan = av != av, bv != bv
    first = ai < bi
    pick_a = jax.lax.select(a_nan | b_nan, a_nan & (~b_nan | first), (av > bv) | ((av == bv) & first))
    return jax.lax.select(pick_a, av, bv), jax.lax.select(pick_a, ai, bi)


@jax.custom_vjp
def _window_max(patches: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Maximum over the last axis and its (first) index, as one reduction: the value is the element
    at the index, bit for bit."""
    iota = jax.lax.broadcasted_iota(jnp.int32, patches.shape, patches.ndim - 1)
    y, idx = jax.lax.reduce((patches, iota), (jnp.array(-jnp.inf, patches.dtype), jnp.int32(patches.shape[-1])),
                            _first_max, (patches.ndim - 1,))
    return y, idx


def _window_max_fwd(patches):
    y, idx = _window_max(patches)
    return (y, idx), (idx, patches.shape[-1])


def _window_max_bwd(res, g):
    idx, n = res
    gy = g[0]
    hit = jax.lax.broadcasted_iota(jnp.int32, (*idx.shape, n), idx.ndim) == idx[..., None]
    return (jnp.where(hit, gy[..., None], jnp.zeros((), gy.dtype)),)


_window_max.defvjp(_window_max_fwd, _window_max_bwd)


def with_hardware(model: Any, hw: Any) -> Any:
    """A copy of ``model`` whose emulated layers run on ``hw`` (same parameters, no retraining).

    Args:
      model: a Flax NNX model built from :class:`~pimjax.nn._layers.EmuLinear` /
        :class:`~pimjax.nn._layers.EmuConv` layers.
      hw: a :class:`~pimjax.nn.TrainingHardware` for every layer, or a callable
        ``layer -> TrainingHardware`` (per-layer hardware, e.g. per-layer weight formats).
    """
    clone = nnx.clone(model)
    for _, m in nnx.iter_graph(clone):
        if isinstance(m, EmuLinear):
            h = hw(m) if callable(hw) and not isinstance(hw, TrainingHardware) else hw
            if not isinstance(h, TrainingHardware):
                raise TypeError(f"hardware for layer {m.name!r} must be a TrainingHardware, got {type(h).__name__}")
            m.hw = h
    return clone
