"""Carrying emulated ops' FF events out of a ``jax.vmap`` inside an emulated model.

Inside a ``vmap`` an op's values belong to the vmap's trace: its state (SR counter, sown costs)
cannot be updated there and its FF events cannot leave it. While an emulation is active, a
``vmap`` created by the user's code (``jax.vmap``; ``jax.nn.dot_product_attention``'s, so stock
``nnx.MultiHeadAttention``'s products; ``nnx.vmap`` decorated at call time) maps a function that
also returns the FF events of the ops it ran, as an extra output on mapped axis 0; after the
vmap they are summed over that axis (encoded events sum exactly,
:data:`~pimjax.nn.MAX_PROBE_USES`) and the ops are finished in the caller's trace: the model's
own, or the next carrying vmap out. Each op's cost record is then that of the ``B`` per-example
products the vmap ran, ``B`` the mapped size: its matmul shape's ``calls`` times ``B``, costed
as independent per-example products (``per_example``: with ``hw.modules > 1`` spread over the
modules). BP/UP events need nothing: the probe is unmapped, so its gradient is already summed.

A ``vmap`` made before the emulation started (at import, in a module's ``__init__``) is not
carried: its ops record no FF events (:attr:`~pimjax.nn.OpSite.ff_events` ``False``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any

import jax

from pimjax.nn._patch import CODE_TARGETS, HANDLERS, ORIG, active_here, is_suspended, scopes


class Carrier:
    """The ops run (``items``: ``(op, ff_events, gemm)``) and, while planning, the sites seen
    (``pending``: ``(index in the scope's sites, module)``) inside one carrying vmap."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, Any, Any]] = []
        self.pending: list[tuple[int, Any]] = []


def can_update(module: Any) -> bool:
    """Whether ``module``'s NNX variables can be updated from the current trace."""
    from flax import nnx

    return all(v._can_update for _, v in nnx.to_flat_state(nnx.state(module)) if isinstance(v, nnx.Variable))


def _finish_carried(scope: Any, c: Carrier, evs: tuple, size: int) -> None:
    """After a carrying vmap: the ops' events summed over its axis go to the next carrier out, or
    finish the ops here (the model's trace), or are deferred without FF events."""
    for (op, _, (m, k, n, calls, _per)), ev in zip(c.items, evs):
        ev, gemm = ev.sum(0), (m, k, n, calls * size, True)
        if scope.carriers:
            scope.carriers[-1].items.append((op, ev, gemm))
        elif op.calls._can_update:
            op.finish(ev, gemm)
        else:
            scope.deferred.append((op, gemm))
    for idx, mod in c.pending:
        if mod is not None and can_update(mod):
            scope.sites[idx] = dataclasses.replace(scope.sites[idx], ff_events=True)
        elif scope.carriers:
            scope.carriers[-1].pending.append((idx, mod))


if "vmap" in CODE_TARGETS:
    _SIG = inspect.signature(ORIG["vmap"])

    def _vmap(args: tuple, kwargs: dict, caller: Any) -> Any:
        orig = ORIG["vmap"]
        plain = orig(*args, **kwargs)  # (checks the arguments as jax.vmap does)
        if not active_here(caller):
            return plain
        ba = _SIG.bind(*args, **kwargs)
        ba.apply_defaults()
        a = dict(ba.arguments)
        fun, out_axes = a.pop("fun"), a.pop("out_axes")

        @functools.wraps(fun)
        def vmapped(*xs, **kw):
            s = scopes()
            if not s or is_suspended():
                return plain(*xs, **kw)
            scope, box = s[-1], []

            def body(*ys, **kwy):
                c = Carrier()
                scope.carriers.append(c)
                try:
                    out = fun(*ys, **kwy)
                finally:
                    scope.carriers.pop()
                box.append(c)
                return out, tuple(ev for _, ev, _ in c.items)

            out, evs = orig(body, out_axes=(out_axes, 0), **a)(*xs, **kw)
            c, = box
            _finish_carried(scope, c, evs, evs[0].shape[0] if evs else 0)
            return out

        return vmapped

    HANDLERS["vmap"] = _vmap


__all__ = ["Carrier", "can_update"]
