"""The patches :func:`pimjax.emulate` puts on JAX while an emulation is active (as qwix does it).

Three kinds, installed (refcounted, under a lock) while any emulated call runs, active per
thread (another thread's calls pass straight through):

* **Code swaps** of plain functions (every alias, including defaults bound at import, runs the
  hook): ``jax.lax.dot_general`` and ``conv_general_dilated`` (the contractions,
  :mod:`pimjax.nn._intercept`), ``jnp.einsum`` (``nnx.Einsum``'s default, ``jax.nn``'s
  attention) and the function behind ``jax.vmap`` (:mod:`pimjax.nn._carry`).
* **Module attributes** of the jitted ``jnp.matmul`` and ``jnp.dot`` (``jax.numpy`` and
  ``jax._src.numpy.tensor_contractions``, which the ``@`` operator looks up at each call); a
  ``from jax.numpy import matmul`` alias taken before the emulation keeps the jitted function.
* Under an active emulation ``@``, ``jnp.matmul``, ``jnp.dot`` and ``jnp.einsum`` run their
  Python bodies in the caller's trace instead of an inner ``jit`` trace (``matmul``/``dot``: the
  function the jit wraps; ``einsum``, which builds its jit inside: under ``jax.disable_jit``, only
  for the einsum's own code, the emulated op inside runs with the caller's setting again,
  :func:`restored_jit`), so their ``dot_general`` reaches the model's own trace, where the op's
  state (SR counter, sown FF events and costs) can be updated. Their math is unchanged (the same
  ``dot_general`` with the same operands), so they equal a direct ``lax.dot_general`` bit for bit.

Everything the emulator runs itself (its modules, everything inside an emulated op) passes
through: :func:`suspended`, and a frame walk (:func:`owner`) for emulator-internal callers.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
import types
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
from flax import nnx

try:  # private JAX modules (jax 0.10): without them @/matmul/dot/einsum stay in their inner jits
    from jax._src.numpy import einsum as _einsum_mod
    from jax._src.numpy import tensor_contractions as _tc
except ImportError:  # pragma: no cover
    _einsum_mod = _tc = None

HOOK = "_pimjax_intercept_dispatch"
INTERNAL = ("pimjax.units", "pimjax.system", "pimjax.numerics", "pimjax.cost", "pimjax.hw", "pimjax.nn._emulated",
            "pimjax.nn._attention", "pimjax.nn._layers", "pimjax.nn._dot_general", "pimjax.nn._im2col",
            "pimjax.nn._resident", "pimjax.nn._modules", "pimjax.nn._noise", "pimjax.nn._lstm",
            "pimjax.nn._lowering")
"""Modules whose contractions are the emulator's own (never intercepted)."""


def _plain(f: Any) -> bool:
    return isinstance(f, types.FunctionType) and not f.__code__.co_freevars


_VMAP = getattr(jax.vmap, "__wrapped__", None)
CODE_TARGETS: dict[str, types.FunctionType] = {
    "dot_general": jax.lax.dot_general, "conv_general_dilated": jax.lax.conv_general_dilated}
for _k, _f in (("einsum", getattr(_einsum_mod, "einsum", None)), ("vmap", _VMAP)):
    if _plain(_f):  # (another JAX version may wrap them: then they stay as they are, in an inner trace)
        CODE_TARGETS[_k] = _f


def _copy(f: types.FunctionType) -> types.FunctionType:
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    g.__kwdefaults__ = f.__kwdefaults__
    return g


ORIG = {k: _copy(f) for k, f in CODE_TARGETS.items()}
_ORIG_CODE = {k: f.__code__ for k, f in CODE_TARGETS.items()}


def _trampoline(kind: str) -> types.CodeType:
    ns: dict[str, Any] = {}
    exec(f"def {kind}(*args, **kwargs):\n    return {HOOK}({kind!r}, args, kwargs)\n", ns)
    return ns[kind].__code__


_TRAMPOLINES = {k: _trampoline(k) for k in CODE_TARGETS}
HANDLERS: dict[str, Callable[[tuple, dict, Any], Any]] = {}
"""kind -> ``handler(args, kwargs, caller_frame)`` (registered by the modules that own them)."""


def _hook(kind: str, args: tuple, kwargs: dict) -> Any:
    return HANDLERS[kind](args, kwargs, sys._getframe(2))


_TLS = threading.local()
_LOCK = threading.Lock()
_INSTALLED = [0]


def scopes() -> list:
    """The thread's active emulated calls (innermost last)."""
    s = getattr(_TLS, "scopes", None)
    if s is None:
        s = _TLS.scopes = []
    return s


def is_suspended() -> bool:
    return bool(getattr(_TLS, "suspended", 0))


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """Inside: every patched function passes through (the emulator's own code)."""
    _TLS.suspended = getattr(_TLS, "suspended", 0) + 1
    try:
        yield
    finally:
        _TLS.suspended -= 1


def owner(frame: Any, paths: bool = True) -> tuple[bool, Any]:
    """(internal, module): whether an emulator-internal frame is on the stack from ``frame``
    out, and the innermost calling module of an emulated model (one with a ``_pim_path``)."""
    found = None
    f = frame
    while f is not None:
        name = f.f_globals.get("__name__", "")
        if name.startswith(INTERNAL):
            return True, None
        if paths and found is None and f.f_code.co_argcount and f.f_code.co_varnames[0] == "self":
            s = f.f_locals.get("self")
            if isinstance(s, nnx.Module) and isinstance(getattr(s, "_pim_path", None), str):
                found = s
        f = f.f_back
    return False, found


def active_here(frame: Any) -> bool:
    """An emulation is active in this thread, not suspended, and ``frame`` is the user's code."""
    return bool(getattr(_TLS, "scopes", None)) and not is_suspended() and not owner(frame, paths=False)[0]


@contextlib.contextmanager
def restored_jit() -> Iterator[None]:
    """The caller's ``jax.disable_jit`` setting again inside a patched ``jnp.einsum`` (for the
    emulated op: its scans must not unroll)."""
    saved = getattr(_TLS, "jit_saved", None)
    if not saved:
        yield
        return
    with jax.disable_jit(saved[-1]):
        yield


def _einsum(args: tuple, kwargs: dict, caller: Any) -> Any:
    if not active_here(caller):
        return ORIG["einsum"](*args, **kwargs)
    saved = getattr(_TLS, "jit_saved", None)
    if saved is None:
        saved = _TLS.jit_saved = []
    saved.append(bool(jax.config.jax_disable_jit))
    try:
        with jax.disable_jit():  # einsum's inner jit(_einsum) runs in the caller's trace
            return ORIG["einsum"](*args, **kwargs)
    finally:
        saved.pop()


HANDLERS["einsum"] = _einsum


def _unjitted(jitted: Any) -> Callable:
    """``jitted`` (``jnp.matmul``, ``jnp.dot``), whose Python body runs in the caller's trace
    while an emulation is active here."""
    body = jitted.__wrapped__

    @functools.wraps(body)
    def run(*args, **kwargs):
        if active_here(sys._getframe(1)):
            return body(*args, **kwargs)
        return jitted(*args, **kwargs)

    run._pim_jitted = jitted  # type: ignore[attr-defined]
    return run


_ATTR_TARGETS = [(m, n) for n in ("matmul", "dot") for m in (_tc, jnp)
                 if m is not None and hasattr(getattr(m, n, None), "__wrapped__")]
_ATTR_ORIG = {(m.__name__, n): getattr(m, n) for m, n in _ATTR_TARGETS}
_ATTR_NEW = {(m.__name__, n): _unjitted(getattr(m, n)) for m, n in _ATTR_TARGETS}


def install() -> None:
    with _LOCK:
        if _INSTALLED[0] == 0:
            for k, f in CODE_TARGETS.items():
                f.__globals__[HOOK] = _hook
                f.__code__ = _TRAMPOLINES[k]
            for m, n in _ATTR_TARGETS:
                setattr(m, n, _ATTR_NEW[(m.__name__, n)])
        _INSTALLED[0] += 1


def uninstall() -> None:
    with _LOCK:
        _INSTALLED[0] -= 1
        if _INSTALLED[0] == 0:
            for k, f in CODE_TARGETS.items():
                f.__code__ = _ORIG_CODE[k]
            for m, n in _ATTR_TARGETS:
                setattr(m, n, _ATTR_ORIG[(m.__name__, n)])


__all__ = ["CODE_TARGETS", "HANDLERS", "INTERNAL", "ORIG", "active_here", "install", "is_suspended", "owner",
           "restored_jit", "scopes", "suspended", "uninstall"]
