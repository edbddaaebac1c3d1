"""The operations of a pimjax CNN's forward pass, found in its traced computation (``jax.make_jaxpr``).

:func:`trace_ops` traces one image through a model (an abstract model from
:func:`pimjax.nn.abstract_cnn`) inside :func:`pimjax.nn.gemm_recording`, in which every emulated
layer is a single ``dot_general`` with its weight matrix and every max pooling a single
``reduce_window_max`` equation, and follows the data through the jaxpr:

* every emulated layer's GEMM (a ``dot_general`` whose right operand is a data-independent
  ``(K, N)`` matrix, matched one by one, in order, with the recorded GEMMs) is a ``"conv"``
  (im2col input) or ``"fc"`` operation;
* every ``reduce_window_max`` is a ``"pool"`` operation;
* every addition of two data-dependent tensors (ResNet's shortcut) is an ``"add"`` operation
  (Memolution Sec. 2.3: a vertex may be "inner product, addition, and comparison");
* everything else (bias, ReLU, BatchNorm with running statistics, reshapes, average pooling)
  is folded into the edges: the edge from operation A to operation B exists when B's input
  depends on A's output through such folded equations only.

Nested jaxprs (``pjit``, ``custom_jvp_call``, ...) that contain operations are walked in place.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

SRC = -1  #: the model input in an operation's ``preds``
_POOL = "reduce_window_max"


def _is_literal(v: Any) -> bool:
    from jax.extend.core import Literal

    return isinstance(v, Literal)


def _sub_jaxpr(eqn: Any) -> Any:
    """The inner jaxpr of a call-like equation with the same inputs and outputs, if any."""
    from jax.extend.core import ClosedJaxpr, Jaxpr

    for v in eqn.params.values():
        sub = v.jaxpr if isinstance(v, ClosedJaxpr) else v
        if isinstance(sub, Jaxpr) and len(sub.invars) == len(eqn.invars) and len(sub.outvars) == len(eqn.outvars):
            return sub
    return None


def _contains_ops(jaxpr: Any) -> bool:
    for e in jaxpr.eqns:
        if e.primitive.name in ("dot_general", _POOL):
            return True
        sub = _sub_jaxpr(e)
        if sub is not None and _contains_ops(sub):
            return True
    return False


def _elems(v: Any) -> int:
    """Elements of one image of ``v`` (all but the batch axis)."""
    return math.prod(v.aval.shape[1:])


class _Walker:
    """Follows data through a jaxpr: ``front[var]`` = the operations whose output reaches ``var``
    through folded equations only."""

    def __init__(self, gemms: list[tuple[str, int, int, int]]):
        self.gemms = gemms
        self.gi = 0
        self.ops: list[dict[str, Any]] = []

    def _get(self, front: dict, v: Any) -> frozenset:
        if _is_literal(v):
            return frozenset()
        return front.get(v, frozenset())

    def _new(self, **op: Any) -> int:
        self.ops.append(op)
        return len(self.ops) - 1

    def _is_gemm(self, e: Any, ins: list[frozenset]) -> bool:
        return (e.primitive.name == "dot_general" and len(e.invars) == 2 and not ins[1]
                and e.invars[1].aval.ndim == 2 and self.gi < len(self.gemms)
                and tuple(e.invars[1].aval.shape) == tuple(self.gemms[self.gi][2:]))

    def walk(self, jaxpr: Any, in_fronts: list[frozenset]) -> list[frozenset]:
        """The fronts of ``jaxpr``'s outputs given those of its inputs; operations go to ``self.ops``."""
        front: dict[Any, frozenset] = dict(zip(jaxpr.invars, in_fronts))
        for e in jaxpr.eqns:
            ins = [self._get(front, v) for v in e.invars]
            name = e.primitive.name
            out = e.outvars[0] if e.outvars else None
            if name == _POOL:
                op = self._new(kind="pool", preds=ins[0], out_shape=tuple(out.aval.shape[1:]),
                               in_elems=_elems(e.invars[0]))
                front[out] = frozenset([op])
            elif self._is_gemm(e, ins):
                lname, m, k, n = self.gemms[self.gi]
                self.gi += 1
                lhs = e.invars[0].aval
                op = self._new(kind="conv" if lhs.ndim > 2 else "fc", name=lname, gemm=(m, k, n), preds=ins[0],
                               out_shape=tuple(out.aval.shape[1:]), in_elems=math.prod(lhs.shape[1:]))
                front[out] = frozenset([op])
            elif name in ("add", "add_any") and sum(1 for f in ins if f) >= 2:
                op = self._new(kind="add", preds=frozenset().union(*ins), out_shape=tuple(out.aval.shape[1:]),
                               in_elems=sum(_elems(v) for v, f in zip(e.invars, ins) if f))
                front[out] = frozenset([op])
            else:
                sub = _sub_jaxpr(e)
                if sub is not None and _contains_ops(sub):
                    for o, f in zip(e.outvars, self.walk(sub, ins)):
                        front[o] = f
                else:
                    u = frozenset().union(*ins) if ins else frozenset()
                    for o in e.outvars:
                        front[o] = u
        return [self._get(front, v) for v in jaxpr.outvars]


def _name_ops(ops: list[dict[str, Any]]) -> None:
    """Unique names: a GEMM its layer's; a pooling or addition after the latest GEMM it reads
    (``<conv>.pool``; ResNet's ``<block>.add`` after the block's last convolution)."""
    used: dict[str, int] = {}

    def unique(nm: str) -> str:
        if nm in used:
            used[nm] += 1
            return f"{nm}{used[nm]}"
        used[nm] = 0
        return nm

    for op in ops:
        if "name" in op:
            op["name"] = unique(op["name"])
    for op in ops:
        if "name" not in op:
            gp = [ops[p]["name"] for p in sorted(op["preds"]) if p != SRC and "gemm" in ops[p]]
            if op["kind"] == "pool":
                base = gp[-1] + ".pool" if gp else "pool"
            else:
                base = (gp[-1].rsplit(".", 1)[0] if gp else "") + ".add" if gp else "add"
            op["name"] = unique(base)


def trace_ops(model: Any, *, input_size: int = 32, width: float = 1.0, num_classes: int = 10,
              **model_kwargs: Any) -> tuple[list[dict[str, Any]], frozenset, tuple[int, ...]]:
    """The operations of one image's forward pass (module docstring).

    Args:
      model: a pimjax CNN name (``"alexnet"``, ``"vgg11"``, ``"vgg16"``, ``"resnet18"``,
        ``"resnet50"``) or a pimjax CNN module (with ``input_size`` and ``in_channels``).
      input_size, width, num_classes: the CNN's knobs (ignored for a module).
      **model_kwargs: passed to :func:`pimjax.nn.abstract_cnn`.

    Returns:
      ``(ops, outputs, input_shape)``: ``ops[i]`` has ``kind``, ``name``, ``preds`` (op ids;
      ``-1`` is the model input), ``out_shape`` (per image), ``in_elems`` and, for GEMMs,
      ``gemm = (M, K, N)``; ``outputs`` are the ops whose results are the model's outputs;
      ``input_shape`` is one image's ``(H, W, C)``.

    Raises:
      TypeError: ``model`` is not a pimjax CNN.
      RuntimeError: the recorded GEMMs were not all found in the traced computation.
    """
    from flax import nnx

    from pimjax.nn import abstract_cnn, gemm_recording, training_hardware

    if isinstance(model, str):
        net = abstract_cnn(model, hw=training_hardware("native"), num_classes=num_classes, input_size=input_size,
                           width=width, **model_kwargs)
        label = model
    else:
        net = model
        label = type(model).__name__
    if not hasattr(net, "input_size") or not hasattr(net, "in_channels"):
        raise TypeError("model must be a pimjax CNN name or a pimjax CNN module (with input_size and in_channels)")
    graphdef, state = nnx.split(net)
    x = jax.ShapeDtypeStruct((1, net.input_size, net.input_size, net.in_channels), jnp.float32)

    def fwd(state, x):
        return nnx.merge(graphdef, state)(x, seed=jnp.uint32(0), train=False)

    with gemm_recording() as rec:
        closed = jax.make_jaxpr(fwd)(state, x)
    jaxpr = closed.jaxpr
    walker = _Walker(list(rec))
    in_fronts = [frozenset()] * (len(jaxpr.invars) - 1) + [frozenset([SRC])]
    outs = walker.walk(jaxpr, in_fronts)
    if walker.gi != len(rec):
        raise RuntimeError(f"{label}: found {walker.gi} of {len(rec)} emulated GEMMs in the traced computation")
    _name_ops(walker.ops)
    return walker.ops, frozenset().union(*outs), tuple(x.shape[1:])
