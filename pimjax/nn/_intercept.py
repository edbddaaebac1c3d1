"""Bring your own model: run a Flax NNX model's (or a JAX function's) contractions on the
emulated hardware.

:func:`emulate` intercepts ``jax.lax.dot_general`` (what ``@``, ``jnp.dot``, ``jnp.matmul``,
``jnp.einsum``, ``nnx.Linear``, ``nnx.Einsum`` lower to) and ``jax.lax.conv_general_dilated``
(``nnx.Conv``, ``nnx.ConvTranspose``) while the model runs and lowers each call onto the
emulated system (:mod:`pimjax.nn._lowering`), with the hardware its first matching
:class:`~pimjax.nn.EmulationRule` chooses. How (as qwix does it): the two functions' code objects
are swapped, while an emulation is active in the thread, for a trampoline that dispatches here,
so every alias (default arguments bound at import, such as ``nnx.Linear``'s) runs it. The op's
module is the innermost calling ``self`` that is a module of the emulated model (a frame walk).

Pitfalls handled:

* Inner traces: ``@``, ``jnp.matmul``/``dot``/``einsum`` jit internally; while an emulation is
  active they run their bodies in the caller's trace (:mod:`pimjax.nn._patch`), and a
  ``jax.vmap`` carries its ops' FF events out, summed over the mapped axis
  (:mod:`pimjax.nn._carry`), so their ops record FF events and costs like a direct call.
* JAX's jit caches: every emulated call runs under a fresh value of a ``jax.make_user_context``
  context (part of the jit cache keys), renewed after each intercepted op, so inner jits
  (``jnp.matmul``, ``jnp.einsum``) traced before, after or for another op site are never reused.
* JAX's own batching/transposition rules call the patched functions (private functions of
  ``jax._src.lax``): passed through, as are the emulator's own contractions (units, system,
  numerics and the ``Emu*`` layers' internals) and everything inside an emulated op.
* ``jax.disable_jit`` is used only around ``jnp.einsum``'s own code, never the model's (it would
  unroll ``lax.scan``).

State: a model is planned once (an abstract trace on sample inputs, as qwix's
``quantize_nnx_model``): each emulated call site gets an :class:`EmulatedOp` submodule on its
module, named ``pim_dot<k>`` / ``pim_conv<k>`` (the ``k``-th op of that kind the module runs in
one call of the model), holding a :class:`~pimjax.nn.CostProbe` and an
:class:`~pimjax.nn.SRCalls` counter and sowing ``nnx.Intermediate`` ``"cost"``, exactly as
:class:`~pimjax.nn.EmulatedDotGeneral`: :func:`pimjax.apps.cost._collect.collect_costs` reports it
under ``<module path>/pim_dot<k>``. Call ``c`` of a site rounds with seed
``fold(fold(seed, c), salt)``, ``salt`` the site's :attr:`OpSite.salt` (a hash of path, kind
and index), so sites and steps draw their own stochastic-rounding words.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import itertools
import warnings
import zlib
from typing import Any, Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from pimjax._checks import check_int
from pimjax.nn._carry import Carrier, can_update
from pimjax.nn._dot_general import SRCalls
from pimjax.nn._emulated import TrainingHardware, zero_probe
from pimjax.nn._layers import CostProbe, add_costs
from pimjax.nn._lowering import lower_conv, lower_dot_general, op_costs
from pimjax.nn._patch import HANDLERS, ORIG, install, is_suspended, owner, restored_jit, scopes, suspended, uninstall
from pimjax.nn._rules import DEFAULT, OP_KINDS, EmulationRule, check_rules, match_rule, resolve_hw
from pimjax.numerics import fold_key

_SHORT = {"dot_general": "dot", "conv_general_dilated": "conv"}
_SIGS = {k: inspect.signature(ORIG[k]) for k in _SHORT}
_USER_CTX = jax.make_user_context(default_value=None)
_TOKENS = itertools.count(1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class OpSite:
    """One intercepted contraction of a model (a row of :class:`EmulationReport`).

    ``route``: ``"emulated"``, ``"float"`` (a rule chose ``hw=None``), ``"unmatched"`` (no rule
    matched: native) or ``"integer"`` (integer operands: native). ``name``: the
    :class:`EmulatedOp`'s attribute on the module (``""`` unless emulated); ``layer``: its cost
    table name (``path/name``). ``ff_events``: its FF events reach its cost record: it runs in the
    model's trace (``@``, ``jnp.matmul``/``dot``/``einsum`` included) or under vmaps made during
    the emulation (summed over their axes); ``False`` inside another inner trace (a user
    ``jax.jit``, a plain ``lax.scan``), where only its shape costs and BP/UP events are recorded.
    """

    path: str
    op: str
    index: int
    route: str
    rule: int | None
    hw: TrainingHardware | None
    shapes: tuple[tuple[int, ...], ...]
    salt: int
    params: tuple[tuple[int, ...], ...] = ()  # the module's parameter shapes at the call (stacks: one layer's)
    ff_events: bool = True

    @property
    def name(self) -> str:
        return f"pim_{_SHORT[self.op]}{self.index}" if self.route == "emulated" else ""

    @property
    def layer(self) -> str:
        return f"{self.path}/{self.name}" if self.path else self.name


@dataclasses.dataclass(frozen=True)
class EmulationReport:
    """What an emulation did with each contraction: :attr:`sites` (one :class:`OpSite` per call
    site), the ones left native because no rule matched (:attr:`unmatched`) and the rules that
    matched nothing (:attr:`unused_rules`)."""

    sites: tuple[OpSite, ...]
    rules: tuple[EmulationRule, ...]

    @property
    def emulated(self) -> tuple[OpSite, ...]:
        return tuple(s for s in self.sites if s.route == "emulated")

    @property
    def unmatched(self) -> tuple[OpSite, ...]:
        return tuple(s for s in self.sites if s.route in ("unmatched", "integer"))

    @property
    def unused_rules(self) -> tuple[EmulationRule, ...]:
        used = {s.rule for s in self.sites}
        return tuple(r for i, r in enumerate(self.rules) if i not in used)

    def __str__(self) -> str:
        lines = [f"{len(self.emulated)} of {len(self.sites)} contractions emulated"]
        for s in self.sites:
            lines.append(f"  {s.path or '<root>'} {s.op}#{s.index} {s.route} shapes={list(s.shapes)}"
                         + (f" rule={s.rule}" if s.rule is not None else "")
                         + ("" if s.ff_events or s.route != "emulated" else " (inner trace: FF events not recorded)"))
        for r in self.unused_rules:
            lines.append(f"  unused rule: {r}")
        return "\n".join(lines)


def _salt(path: str, op: str, index: int) -> int:
    return zlib.crc32(f"{path}|{op}|{index}".encode()) & 0x7FFFFFFF


class StackIndex(nnx.Variable):
    """The layer index of a stacked :class:`EmulatedOp` (``nnx.scan`` over ``nnx.vmap``-made layers)."""


class EmulatedOp(nnx.Module):
    """The state of one emulated call site: a :class:`CostProbe`, an :class:`SRCalls` counter and
    its sown costs; calling it lowers the op (:mod:`pimjax.nn._lowering`).

    ``stack = L > 0``: the site's module is a stack of ``L`` layers (made by ``nnx.vmap``, run
    by ``nnx.scan``): the state has a leading axis ``L`` and layer ``l`` folds ``l`` into its seed
    (``fold(fold(fold(seed, c), salt), l)``), so the layers draw their own words."""

    def __init__(self, hw: TrainingHardware, *, op: str, path: str, index: int, seed: int = 0, stack: int = 0):
        self.hw, self.op, self.path, self.index = hw, op, path, index
        self.seed = check_int("seed", seed, 0, 2**32 - 1)
        self.stack = check_int("stack", stack, 0)
        self.salt = _salt(path, op, index)
        lead = (stack,) if stack else ()
        self.probe = CostProbe(jnp.zeros(lead + zero_probe().shape, jnp.float32))
        self.calls = SRCalls(jnp.zeros(lead, jnp.uint32))
        self.layer = StackIndex(jnp.arange(stack, dtype=jnp.uint32)) if stack else None

    def __call__(self, args: dict[str, Any]) -> jax.Array:
        i = self.calls[...]
        if i.ndim:
            raise ValueError(f"{self.path}: this op's module is a stack of {self.stack} layers; run it one layer at a "
                             f"time (nnx.scan over the stack), not as a whole")
        s = fold_key(fold_key(jnp.uint32(self.seed), i), self.salt)
        if self.layer is not None:
            s = fold_key(s, self.layer[...])
        where = f"{self.path or '<root>'}/{self.op}#{self.index}"
        y, ev, gemm = _lower(self.op, args, self.hw, s, self.probe[...], where)
        if self.calls._can_update:  # the model's own trace level (or an NNX transform of it)
            self.finish(ev, gemm)
        else:  # inside an inner trace: state is updated after a carrying vmap, else by the model's call
            s = scopes()
            if not s:
                raise RuntimeError(f"{self.path}: EmulatedOp called outside its model")
            if s[-1].carriers:
                s[-1].carriers[-1].items.append((self, ev, gemm))
            else:
                s[-1].deferred.append((self, gemm))
        return y

    def finish(self, ev: jax.Array | None, gemm: Any) -> None:
        """Advances the SR counter and sows the costs (FF events ``ev``; ``None``: not recorded)."""
        self.calls[...] = self.calls[...] + jnp.uint32(1)
        self.sow(nnx.Intermediate, "cost", op_costs(gemm, self.hw, ev), init_fn=dict, reduce_fn=add_costs)


def _lower(op: str, args: dict[str, Any], hw: TrainingHardware, seed: Any, probe: Any, where: str,
           check_only: bool = False) -> Any:
    lhs, rhs = jnp.asarray(args["lhs"]), jnp.asarray(args["rhs"])
    out_dtype = args.get("preferred_element_type") or jnp.result_type(lhs, rhs)
    with suspended(), restored_jit():
        try:
            if op == "dot_general":
                return lower_dot_general(lhs, rhs, args["dimension_numbers"], hw, seed=seed, probe=probe,
                                         out_dtype=out_dtype, where=where, check_only=check_only)
            return lower_conv(lhs, rhs, args, hw, seed=seed, probe=probe, out_dtype=out_dtype, where=where,
                              check_only=check_only)
        except (ValueError, TypeError, NotImplementedError) as e:
            msg = str(e)
            if not msg.startswith(where):
                msg = f"{where}: {msg}"
            raise type(e)(msg) from None


@contextlib.contextmanager
def no_emulation() -> Iterator[None]:
    """Inside this block every contraction runs native, even under an active emulation."""
    with suspended():
        yield


class _Scope:
    """One active emulated call (thread-local): routes ops, counts sites, renews the jit token."""

    def __init__(self, emu: "Emulation", mode: str):
        self.emu, self.mode = emu, mode  # mode: "plan" | "run" | "stateless"
        self.counts: dict[tuple[str, str], int] = {}
        self.sites: list[OpSite] = []
        self.first_ctx: Any = None
        self.deferred: list[tuple[EmulatedOp, Any]] = []
        self.carriers: list[Carrier] = []  # the carrying vmaps (pimjax.nn._carry) the current op is in

    def renew(self) -> None:
        ctx = _USER_CTX(("pimjax.emulate", next(_TOKENS)))
        ctx.__enter__()
        if self.first_ctx is None:
            self.first_ctx = ctx

    def __enter__(self) -> "_Scope":
        install()
        scopes().append(self)
        self.renew()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.first_ctx.__exit__(None, None, None)
        scopes().pop()
        uninstall()


def _dispatch(op: str, args: tuple, kwargs: dict, caller: Any) -> Any:
    orig = ORIG[op]
    active = scopes()
    if not active or is_suspended():
        return orig(*args, **kwargs)
    mod = caller.f_globals.get("__name__", "")
    if mod.startswith("jax._src.lax.") and caller.f_code.co_name.startswith("_"):
        return orig(*args, **kwargs)  # JAX's own batching / transposition rules
    internal, mod_owner = owner(caller)
    if internal:
        return orig(*args, **kwargs)
    scope = active[-1]
    emu = scope.emu
    path = mod_owner._pim_path if mod_owner is not None else ""
    ba = _SIGS[op].bind(*args, **kwargs)
    ba.apply_defaults()
    a = ba.arguments
    shapes = (tuple(jnp.shape(a["lhs"])), tuple(jnp.shape(a["rhs"])))
    key = (path, op)
    index = scope.counts.get(key, 0)
    scope.counts[key] = index + 1
    rule = match_rule(emu.rules, path, op)
    hw = None if rule is None else emu.rule_hw(rule)
    floating = all(jnp.issubdtype(jnp.result_type(a[n]), jnp.floating) for n in ("lhs", "rhs"))
    route = "integer" if not floating else "unmatched" if rule is None else "float" if hw is None else "emulated"
    params, ff_events = (), True
    if mod_owner is not None and scope.mode == "plan":
        params = tuple(tuple(v.shape) for v in jax.tree.leaves(nnx.state(mod_owner, nnx.Param)))
        ff_events = can_update(mod_owner)
        if not ff_events and scope.carriers:  # inside a vmap: decided when it returns (pimjax.nn._carry)
            scope.carriers[-1].pending.append((len(scope.sites), mod_owner))
    site = OpSite(path=path, op=op, index=index, route=route, rule=rule, hw=hw, shapes=shapes,
                  salt=_salt(path, op, index), params=params, ff_events=ff_events)
    scope.sites.append(site)
    scope.renew()  # the next inner jit (another site) must not reuse this one's trace
    if route != "emulated":
        return orig(*args, **kwargs)
    if scope.mode == "plan":  # validate (dimension numbers, layouts, hardware) so bad ops raise with their path
        _lower(op, a, hw, None, None, f"{path or '<root>'}/{op}#{index}", check_only=True)
        return orig(*args, **kwargs)
    if scope.mode == "stateless":
        s = fold_key(fold_key(jnp.uint32(emu.seed), 0), site.salt)
        return _lower(op, a, hw, s, None, f"{path or '<root>'}/{op}#{index}")[0]
    planned = emu.planned_sites.get((path, op, index))
    target = getattr(mod_owner, site.name, None) if mod_owner is not None else None
    if planned is None or not isinstance(target, EmulatedOp):
        raise ValueError(f"{path or '<root>'}: {op} #{index} (shapes {shapes}) was not seen when the model was "
                         f"planned; "
                         f"emulate() the model again with inputs= that take this branch")
    with restored_jit():
        return target(a)


HANDLERS["dot_general"] = lambda args, kwargs, caller: _dispatch("dot_general", args, kwargs, caller)
HANDLERS["conv_general_dilated"] = lambda args, kwargs, caller: _dispatch("conv_general_dilated", args, kwargs, caller)


class Emulation:
    """The plan of one :func:`emulate` call (identity-hashed: a static attribute of the model)."""

    def __init__(self, hw: TrainingHardware | None, rules: tuple[EmulationRule, ...], seed: int):
        self.hw, self.rules, self.seed = hw, rules, seed
        self.planned_sites: dict[tuple[str, str, int], OpSite] = {}
        self.report: EmulationReport | None = None

    def rule_hw(self, i: int) -> TrainingHardware | None:
        hw = self.rules[i].hw
        if isinstance(hw, str) and hw == DEFAULT:
            return self.hw
        return hw

    def scope(self, mode: str) -> _Scope:
        return _Scope(self, mode)

    def finish(self, sites: Sequence[OpSite]) -> EmulationReport:
        seen: dict[tuple[str, str, int], OpSite] = {}
        for s in sites:
            seen.setdefault((s.path, s.op, s.index), s)
        self.report = EmulationReport(tuple(seen.values()), self.rules)
        problems = [f"{s.path or '<root>'} {s.op}#{s.index}" for s in self.report.unmatched]
        if problems:
            warnings.warn(f"pimjax.emulate: {len(problems)} contraction(s) matched no rule and stay native: "
                          f"{', '.join(problems)}", stacklevel=3)
        if self.report.unused_rules:
            warnings.warn(f"pimjax.emulate: rule(s) matched no contraction: {list(self.report.unused_rules)}",
                          stacklevel=3)
        return self.report

    def plan(self, model: nnx.Module, call: Callable, args: tuple, kwargs: dict) -> None:
        graphdef, state = nnx.split(model)

        def run(state):
            m = nnx.merge(graphdef, state)
            with self.scope("plan") as sc:
                call(m, *args, **kwargs)
            return sc.sites

        holder: list[list[OpSite]] = []
        jax.eval_shape(lambda st: holder.append(run(st)) or 0, state)
        report = self.finish(holder[0])
        modules = {"/".join(str(p) for p in path): m for path, m in nnx.iter_modules(model)}
        for s in report.emulated:
            owner = modules[s.path]
            setattr(owner, s.name, EmulatedOp(s.hw, op=s.op, path=s.path, index=s.index, seed=self.seed,
                                              stack=_stack(owner, s.params)))
            self.planned_sites[(s.path, s.op, s.index)] = s


def _stack(module: nnx.Module, at_call: tuple[tuple[int, ...], ...]) -> int:
    """``L`` when ``module``'s parameters are those seen at the call with a leading axis ``L`` (a
    stack of layers run one at a time by ``nnx.scan``), else 0."""
    full = [tuple(v.shape) for v in jax.tree.leaves(nnx.state(module, nnx.Param))]
    if not full or len(full) != len(at_call) or all(f == c for f, c in zip(full, at_call)):
        return 0
    leads = {f[0] for f, c in zip(full, at_call) if len(f) == len(c) + 1 and f[1:] == c}
    if len(leads) == 1 and all(len(f) == len(c) + 1 for f, c in zip(full, at_call)):
        return leads.pop()
    return 0


_CLASSES: dict[type, type] = {}


def _emulated_class(cls: type) -> type:
    if getattr(cls, "_pim_original_class", None) is not None:
        return cls
    if cls not in _CLASSES:
        orig_call = cls.__call__

        def __call__(self, *args, **kwargs):
            emu: Emulation = self._pim_emulation
            if emu.report is None:
                if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves((args, kwargs))):
                    raise ValueError("pimjax.emulate: the model was not planned yet; call it once outside jit/grad "
                                     "or pass inputs=(...) to emulate()")
                emu.plan(self, orig_call, args, kwargs)
            with emu.scope("run") as sc:
                out = orig_call(self, *args, **kwargs)
            for op, gemm in sc.deferred:
                if not op.calls._can_update:  # the functional pattern with the model merged outside jax.grad
                    raise ValueError(f"{op.path or '<root>'}: pimjax.emulate cannot update this op's state from the "
                                     f"current trace (the model's variables belong to an outer trace): nnx.merge the "
                                     f"model inside the differentiated function, or use nnx.jit / nnx.grad")
                op.finish(None, gemm)
            return out

        _CLASSES[cls] = type(f"Emulated{cls.__name__}", (cls,), {"__call__": __call__, "_pim_original_class": cls,
                                                                   "__module__": cls.__module__})
    return _CLASSES[cls]


def _default_rules(hw: Any, rules: Any) -> tuple[TrainingHardware | None, tuple[EmulationRule, ...]]:
    hw = resolve_hw(hw, "emulate's hw")
    if rules is None:
        if hw is None:
            raise ValueError("emulate needs hw (a TrainingHardware or preset name) or rules")
        return hw, (EmulationRule(hw=hw),)
    rules = check_rules(rules)
    for i, r in enumerate(rules):
        if isinstance(r.hw, str) and r.hw == DEFAULT and hw is None:
            raise ValueError(f"rules[{i}] uses hw='default' but emulate() was given no hw")
    return hw, rules


def emulate(model_or_fn: Any, hw: Any = None, *, rules: Sequence[EmulationRule] | None = None,
            inputs: tuple | None = None, input_kwargs: dict | None = None, seed: int = 0, copy: bool = True) -> Any:
    """Runs a model's (or a function's) ``dot_general`` and ``conv_general_dilated`` calls on
    emulated hardware.

    Args:
      model_or_fn: an ``nnx.Module`` (stock Flax layers, plain ``jnp`` code, or a mix with the
        built-in ``Emu*`` layers, which keep their own hardware) or a plain function.
      hw: the hardware of every op (no ``rules``), or of the rules with ``hw="default"``: a
        :class:`~pimjax.nn.TrainingHardware` or a preset name (:data:`~pimjax.nn.PRECISIONS`).
      rules: ordered :class:`~pimjax.nn.EmulationRule` list; the first match wins; an op no rule
        matches stays native and is listed in the report (and a warning).
      inputs, input_kwargs: sample call arguments for a module: it is planned on them (an abstract
        trace) at once; without them the first call plans it and must be outside any transform.
      seed: base seed of the stochastic-rounding words (0 .. 2**32 - 1).
      copy: emulate a copy (``nnx.clone``) and leave ``model_or_fn`` native; ``False``: in place.

    Returns:
      For a module, the emulated module (same attributes and parameters, plus one
      :class:`EmulatedOp` per emulated call site; :func:`emulation_report` lists the sites); for a
      function, a function running each call's ops statelessly (seed ``fold(fold(seed, 0),
      salt)`` per site, no cost records; use a module for costs and per-step SR streams).

    Raises:
      TypeError / ValueError: bad ``hw``, ``rules`` or ``seed``; at call, an op the hardware
        cannot represent, naming its module path.

    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> lin = emulate(nnx.Linear(8, 4, rngs=nnx.Rngs(0)), "fixed16", inputs=(jnp.ones((2, 8)),))
    >>> [s.layer for s in emulation_report(lin).emulated]
    ['pim_dot0']
    """
    hw, rules = _default_rules(hw, rules)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    emu = Emulation(hw, rules, seed)
    if isinstance(model_or_fn, nnx.Module):
        model = nnx.clone(model_or_fn) if copy else model_or_fn
        for path, m in nnx.iter_modules(model):
            if not isinstance(m, (nnx.List, nnx.Dict)):
                m._pim_path = "/".join(str(p) for p in path)
        model._pim_emulation = emu
        model.__class__ = _emulated_class(type(model))
        if inputs is not None:
            emu.plan(model, model._pim_original_class.__call__, tuple(inputs), dict(input_kwargs or {}))
        return model
    if not callable(model_or_fn):
        raise TypeError(f"emulate needs an nnx.Module or a callable, got {type(model_or_fn).__name__}")
    fn = model_or_fn

    def emulated(*args, **kwargs):
        with emu.scope("stateless") as sc:
            out = fn(*args, **kwargs)
        if emu.report is None:
            emu.finish(sc.sites)
        return out

    emulated.pim_emulation = emu  # type: ignore[attr-defined]
    return emulated


@contextlib.contextmanager
def emulation(hw: Any = None, *, rules: Sequence[EmulationRule] | None = None, seed: int = 0) -> Iterator[Emulation]:
    """Context-manager form of :func:`emulate` for plain code: inside the block every contraction
    runs on the hardware its rule chooses, statelessly (no cost records, fixed SR seed per site).

    >>> import jax, jax.numpy as jnp
    >>> with emulation("fixed16") as em:
    ...     y = jax.jit(lambda a, b: a @ b)(jnp.ones((2, 8)), jnp.full((8, 3), 0.5))
    >>> em.report.emulated[0].shapes, y[0].tolist()
    (((2, 8), (8, 3)), [4.0, 4.0, 4.0])
    """
    hw, rules = _default_rules(hw, rules)
    emu = Emulation(hw, rules, check_int("seed", seed, 0, 2**32 - 1))
    with emu.scope("stateless") as sc:
        yield emu
    emu.finish(sc.sites)


def sum_probe_stacks(probe_grads: Any) -> Any:
    """Probe gradients with the layer axis of stacked ops (``nnx.scan`` over layers) summed: one
    probe per op (encoded event sums stay exact: :data:`~pimjax.nn.MAX_PROBE_USES`).
    :func:`pimjax.apps.cost._collect.collect_costs` no longer needs it (it sums stacked probes
    itself, exactly, after decoding); kept for code that reads the probes directly."""
    n = len(zero_probe().shape)
    return jax.tree.map(lambda g: g.reshape(-1, *g.shape[-n:]).sum(0) if g.ndim > n else g, probe_grads)


def emulation_report(model_or_fn: Any) -> EmulationReport:
    """The :class:`EmulationReport` of a model or function returned by :func:`emulate` (after it
    was planned or first called)."""
    emu = getattr(model_or_fn, "_pim_emulation", None) or getattr(model_or_fn, "pim_emulation", None)
    if not isinstance(emu, Emulation):
        raise TypeError("emulation_report needs a model or function returned by pimjax.emulate")
    if emu.report is None:
        raise ValueError("the model has not been planned yet (call it once or pass inputs= to emulate)")
    return emu.report


__all__ = ["EmulatedOp", "Emulation", "EmulationReport", "OP_KINDS", "OpSite", "StackIndex", "emulate", "emulation",
           "emulation_report", "no_emulation", "sum_probe_stacks"]
