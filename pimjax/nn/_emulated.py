"""The emulated matmul of training: forward, input gradient and weight gradient on the arrays.

docs/design.md section 3 and NeuroTrainer Sec. 2 / Table 4: every matmul of a layer runs in three
phases, each on the emulated system with its own formats and rounding:

* FF (forward) ``Y = X @ W`` (default 16-bit fixed point, nearest);
* BP (input gradient) ``dX = dY @ W.T`` (default 32-bit, stochastic rounding);
* UP (weight gradient) ``dW = X.T @ dY`` (default 32-bit, stochastic rounding).

:func:`emulated_dot` is a ``jax.custom_vjp``: operands are quantized to the phase's operand
formats (``input_rounding``), multiplied on the phase's :class:`~pimjax.hw.SystemConfig` bit for
bit, and decoded to float32. The backward phases' numeric events reach the caller through
the cotangent of a ``probe`` argument (:func:`zero_probe`, a zero float32 array of shape
:data:`PROBE_SHAPE`): ``grad`` with respect to the probe carries ``[BP events, UP events]``.
The forward phase's events are returned next to ``Y``.

Exact event counts in float32 (the model runs with x64 off, and a probe's cotangent is
summed by JAX over every use of the layer: LSTM time steps, shared layers). Each count ``v``
(overflow, NaN, Inf, random bits; exact int64 from the units) travels as
:data:`N_LIMBS` float32 *limbs* of :data:`LIMB_BITS` bits, ``v = sum_i l_i 2**(8 i)``:
``l_i = (v >> 8 i) & 255`` for the five low limbs and ``l_5 = v >> 40`` for the top one, so
the FF events are a float32 array of shape :data:`EVENT_SHAPE` ``(4, 6)`` and the probe
``(2, 4, 6)``. Limbs are small non-negative integers, and float32 sums of such integers are
exact (in any order) while they stay at or below 2**24. :func:`decode_events` (int64,
inside an x64 scope) undoes the encoding of a sum of encodings exactly. Exactness bound: up
to :data:`MAX_PROBE_USES` (65793) summed uses of one probe in one differentiated call
(65793 x 255 <= 2**24 for each low limb) and totals below 2**63; the cost records then hold
the counts as float64, exact below 2**53. Beyond it nothing is silent where it can be
checked: :func:`decode_events` raises for concrete limbs above 2**24 (the only way a sum can
have rounded), and the translator's time-step scan refuses longer sequences at trace time.
:func:`probe_events` decodes a probe gradient (and FF events) into per-phase exact
:class:`~pimjax.numerics.NumericEvents`.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from pimjax._checks import int_field
from pimjax.hw import MAX_UNITS, AggregationConfig, NoiseConfig, ParallelConfig, SystemConfig
from pimjax.nn._modules import check_module_batch, module_blocks, module_node, node_output_frac, out_frac
from pimjax.nn._noise import add_output_noise, forward_override, noise_key
from pimjax.nn._resident import ResidentWeights
from pimjax.numerics import NumericEvents, fold_key, quantize, scale_pow2
from pimjax.system import parallel_matmul, system_matmul

PHASES: tuple[str, ...] = ("ff", "bp", "up")
N_EVENTS = len(NumericEvents._fields)
LIMB_BITS = 8
"""Bits per float32 limb of an encoded count (module docstring)."""
N_LIMBS = 6
"""Limbs per encoded count: five of :data:`LIMB_BITS` bits and a top limb with the rest."""
MAX_PROBE_USES = (1 << 24) // ((1 << LIMB_BITS) - 1)
"""Summed uses of one probe (or FF-event encodings) that stay exact: 65793."""
EVENT_SHAPE: tuple[int, int] = (N_EVENTS, N_LIMBS)
"""Shape of one phase's encoded events (the FF events :func:`emulated_dot` returns)."""
PROBE_SHAPE: tuple[int, int, int] = (2, N_EVENTS, N_LIMBS)
"""Shape of a probe (:func:`zero_probe`): BP and UP encoded events."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class PhaseConfig:
    """One phase's system and how its float operands enter it.

    Args:
      system: the slices the phase's matmul runs on (``None``: native float32 ``jnp.dot``, for
        reference runs).
      input_rounding: rounding of the float operands into the array's operand formats.
    """

    system: SystemConfig | None
    input_rounding: str = "nearest_even"

    def __post_init__(self) -> None:
        if self.system is not None and not isinstance(self.system, SystemConfig):
            raise TypeError(f"PhaseConfig.system must be a SystemConfig or None (native float32), "
                            f"got {type(self.system).__name__}")
        if self.input_rounding not in ("nearest_even", "nearest_away", "floor", "toward_zero", "stochastic"):
            raise ValueError(f"PhaseConfig.input_rounding must be a deterministic mode or 'stochastic', "
                             f"got {self.input_rounding!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainingHardware:
    """The three phases' configurations (NeuroTrainer Table 4) and the device mesh.

    ``weights``: where the weights live: ``None`` for float32 master weights quantized on use,
    or a :class:`~pimjax.nn.ResidentWeights` for fixed-point weights kept in the slices' memory
    and updated there (NeuroTrainer Sec. 2.3; the training loop chains
    :func:`~pimjax.nn.resident_update` after the optimizer). ``record_costs=False`` makes the
    layers skip the hardware cost records (to measure their overhead); the numeric events
    (overflow, NaN, Inf, random bits) are recorded either way.

    ``modules`` (1..1024): synchronous data-parallel training on that many identical modules
    (NeuroTrainer Sec. 5.3, Fig. 17; AMD Sec. 5.1), each holding the whole model and computing
    on a contiguous ``1/modules`` of the minibatch; ``central``: the central unit's reduction of
    the modules' UP partials (an :class:`~pimjax.hw.AggregationConfig`; ``None``:
    :func:`pimjax.nn._modules.default_central` of the UP system). See :mod:`pimjax.nn._modules`.
    With ``modules == 1`` every phase runs on its one system (``central`` must be ``None``).

    Raises:
      TypeError: a field of the wrong type.
      ValueError: ``modules`` out of range; ``central`` with ``modules == 1`` or a native UP
        phase; a UP system or ``central`` that cannot form the modules' node (the UP
        aggregation must be identity without LUT; ``central``'s accumulator must keep the
        partials' fraction bits: :class:`~pimjax.hw.ParallelConfig`).
    """

    ff: PhaseConfig
    bp: PhaseConfig
    up: PhaseConfig
    mesh: Mesh | None = None
    record_costs: bool = True
    weights: ResidentWeights | None = None
    noise: NoiseConfig | None = None  # Yang & Sze: noise on the FF outputs (pimjax.nn.add_output_noise)
    modules: int = 1  # NeuroTrainer Sec. 5.3: N modules training synchronously
    central: AggregationConfig | None = None  # NeuroTrainer Sec. 5.3: the central unit forming dW

    def __post_init__(self) -> None:
        for p in PHASES:
            if not isinstance(getattr(self, p), PhaseConfig):
                raise TypeError(f"TrainingHardware.{p} must be a PhaseConfig")
        if self.mesh is not None and not isinstance(self.mesh, Mesh):
            raise TypeError("TrainingHardware.mesh must be a jax.sharding.Mesh or None")
        if self.weights is not None and not isinstance(self.weights, ResidentWeights):
            raise TypeError("TrainingHardware.weights must be a ResidentWeights or None (float master weights)")
        if self.noise is not None and not isinstance(self.noise, NoiseConfig):
            raise TypeError("TrainingHardware.noise must be a NoiseConfig or None (no noise)")
        int_field(self, "modules", 1, MAX_UNITS)
        if self.central is not None:
            if not isinstance(self.central, AggregationConfig):
                raise TypeError(f"TrainingHardware.central must be an AggregationConfig or None (the default "
                                f"central unit), got {type(self.central).__name__}")
            if self.modules == 1:
                raise ValueError("TrainingHardware.central needs modules > 1 (one module has no central unit)")
            if self.up.system is None:
                raise ValueError("TrainingHardware.central needs an emulated UP phase (up.system is None: native)")
        if self.modules > 1 and self.up.system is not None:
            try:
                self.node("up")
            except (TypeError, ValueError) as e:
                what = "TrainingHardware.central" if self.central is not None else "TrainingHardware.up.system"
                raise type(e)(f"{what} cannot form the UP node of modules={self.modules}: {e}") from None

    def phase(self, name: str) -> PhaseConfig:
        return getattr(self, name)

    def node(self, name: str) -> ParallelConfig | None:
        """The modules' node of phase ``name`` (:func:`pimjax.nn._modules.module_node`), or
        ``None``: one module, or a native phase."""
        system = self.phase(name).system
        if self.modules == 1 or system is None:
            return None
        return module_node(system, self.modules, name, self.central)

    @property
    def is_native(self) -> bool:
        """True when no phase runs on emulated hardware (plain float32 everywhere)."""
        return all(getattr(self, p).system is None for p in PHASES)


def check_hardware(name: str, hw: Any) -> TrainingHardware:
    """``hw`` if it is a :class:`TrainingHardware`, else TypeError naming ``name`` (an argument)."""
    if not isinstance(hw, TrainingHardware):
        raise TypeError(f"{name} must be a TrainingHardware (e.g. pimjax.nn.training_hardware('neurotrainer')), "
                        f"got {type(hw).__name__}")
    return hw


def phase_matmul(a: jax.Array, b: jax.Array, phase: PhaseConfig, *, key: Any, mesh: Mesh | None,
                 transpose_b: bool = False, node: ParallelConfig | None = None) -> tuple[jax.Array, NumericEvents]:
    """Float ``a @ b`` (2-D) through one phase's system; returns float32 values and events.

    ``transpose_b``: compute ``a @ b.T`` instead, quantizing ``b`` before the transpose (BP's
    ``dY W^T``: one pass over the weights in their own layout, then a transpose of the codes).
    ``node``: the modules' node of the phase (:meth:`TrainingHardware.node`; its ``unit`` is
    ``phase.system``): the quantized operands go to :func:`pimjax.system.parallel_matmul`
    instead of :func:`~pimjax.system.system_matmul`, scheme ``"data"`` (A's rows split) or
    ``"model"`` (K split in :func:`~pimjax.nn._modules.module_blocks`, reduced by the host).
    """
    cfg = phase.system
    if node is not None and (cfg is None or node.unit != cfg):
        raise ValueError("phase_matmul: node.unit must be the phase's system")
    if cfg is None:
        return jnp.dot(a, b.T if transpose_b else b, precision=jax.lax.Precision.HIGHEST), NumericEvents.zero()
    return _phase_matmul_jit(a, b, key, phase=phase, mesh=mesh, transpose_b=transpose_b, node=node)


@partial(jax.jit, static_argnames=("phase", "mesh", "transpose_b", "node"))
def _phase_matmul_jit(a, b, key, *, phase: PhaseConfig, mesh, transpose_b: bool, node):
    """:func:`phase_matmul` on a system, as one jitted function: traced (and lowered) once per
    shape and configuration, whether called eagerly or inside a model's trace."""
    cfg = phase.system
    arr = cfg.array
    kq = None if key is None else fold_key(key, 101)
    qa, ea = quantize(a, arr.a_format, phase.input_rounding if not arr.is_float else "nearest_even",
                      key=None if kq is None else fold_key(kq, 0))
    qb, eb = quantize(b, arr.b_format, phase.input_rounding if not arr.is_float else "nearest_even",
                      key=None if kq is None else fold_key(kq, 1))
    if not arr.is_float:  # compact code dtypes: less memory traffic downstream
        with jax.enable_x64(True):
            qa, qb = qa.astype(arr.a_format.code_dtype), qb.astype(arr.b_format.code_dtype)
    if transpose_b:
        qb = qb.T
    if node is None:
        res = system_matmul(qa, qb, cfg, mesh=mesh, key=key)
        frac = out_frac(cfg.aggregation, arr.is_float)
    else:
        kr = module_blocks(qa.shape[1], node.num_units) if node.scheme == "model" else None
        res = parallel_matmul(qa, qb, node, mesh=mesh, key=key, k_ranges=kr)
        frac = node_output_frac(node)
    ev = ea.merge(eb).merge(res.events)
    if frac is None:
        return res.out.astype(jnp.float32), ev
    with jax.enable_x64(True):
        vals = scale_pow2(res.out.astype(jnp.float64), -frac).astype(jnp.float32)
    return vals, ev


def encode_events(ev: NumericEvents) -> jax.Array:
    """``ev``'s four counts as float32 limbs, shape :data:`EVENT_SHAPE` (module docstring).

    Counts must be non-negative integers below 2**63 (always true of event counts).
    """
    mask = (1 << LIMB_BITS) - 1
    with jax.enable_x64(True):
        v = jnp.stack([jnp.asarray(x).astype(jnp.int64) for x in ev])  # (4,) exact counts
        limbs = [(v >> (LIMB_BITS * i)) & mask for i in range(N_LIMBS - 1)] + [v >> (LIMB_BITS * (N_LIMBS - 1))]
        return jnp.stack(limbs, axis=-1).astype(jnp.float32)  # every limb < 2**24: exact


def zero_events() -> jax.Array:
    """Encoded zero events (float32, :data:`EVENT_SHAPE`): a layer's FF events without hardware."""
    return jnp.zeros(EVENT_SHAPE, jnp.float32)


def zero_probe() -> jax.Array:
    """A zero probe (float32, :data:`PROBE_SHAPE`): its gradient carries the BP and UP events."""
    return jnp.zeros(PROBE_SHAPE, jnp.float32)


def check_probe(probe: Any) -> jax.Array:
    """``probe``, or a zero probe for ``None``; ValueError unless float32 of :data:`PROBE_SHAPE`."""
    if probe is None:
        return zero_probe()
    if tuple(np.shape(probe)) != PROBE_SHAPE or jnp.result_type(probe) != jnp.float32:
        raise ValueError(f"probe must be a float32 array of shape {PROBE_SHAPE} (pimjax.nn.zero_probe()), got "
                         f"{jnp.result_type(probe)} {tuple(np.shape(probe))}")
    return probe


def decode_events(limbs: Any) -> jax.Array:
    """Exact int64 counts of encoded events (or of a sum of them, e.g. a probe's gradient).

    ``limbs``: float32 of shape ``(..., N_LIMBS)`` (FF events: ``(4, N_LIMBS)``, a probe
    gradient: ``(2, 4, N_LIMBS)``); returns int64 of shape ``limbs.shape[:-1]``. Exact within
    the bound of the module docstring (:data:`MAX_PROBE_USES` summed uses, totals below 2**63).
    """
    with jax.enable_x64(True):
        x = jnp.asarray(limbs)
        if x.ndim == 0 or x.shape[-1] != N_LIMBS:
            raise ValueError(f"encoded events end in {N_LIMBS} limbs (shape (..., {N_LIMBS})), got shape {x.shape}")
        if not isinstance(x, jax.core.Tracer) and bool(jnp.any(x > 2.0**24)):
            raise ValueError(f"encoded events summed over more than {MAX_PROBE_USES} uses of one probe: a limb "
                             f"exceeds 2**24, so the float32 sum may have rounded (pimjax.nn._emulated docstring)")
        l = x.astype(jnp.int64)  # integer-valued float32 below 2**24: exact
        return sum(l[..., i] << (LIMB_BITS * i) for i in range(N_LIMBS))


def _events_of(x: Any) -> NumericEvents:
    """Exact :class:`NumericEvents` (int64) of encoded events (shape :data:`EVENT_SHAPE`), of
    a :class:`NumericEvents`, or of four plain counts (shape ``(4,)``)."""
    if isinstance(x, NumericEvents):
        return x.to_int64()
    shape = tuple(np.shape(x))
    if shape == EVENT_SHAPE:
        d = decode_events(x)
        return NumericEvents(*(d[i] for i in range(N_EVENTS)))
    if shape == (N_EVENTS,):
        return NumericEvents.make(*(x[i] for i in range(N_EVENTS)))
    raise ValueError(f"events must be NumericEvents, encoded events of shape {EVENT_SHAPE} or four counts, "
                     f"got shape {shape}")


def probe_events(probe_grad: Any = None, ff_events: Any = None) -> dict[str, NumericEvents]:
    """Per-phase exact counts (:class:`NumericEvents` of int64 scalars) from a probe's gradient
    (``"bp"``, ``"up"``; shape :data:`PROBE_SHAPE`, or ``(..., *PROBE_SHAPE)``: a stack of layers'
    probes, e.g. ``nnx.scan`` over layers, each decoded exactly and summed in int64) and/or a
    layer's FF events (``"ff"``; :data:`EVENT_SHAPE`, or a sum of them over the layer's calls)."""
    out: dict[str, NumericEvents] = {}
    if ff_events is not None:
        out["ff"] = _events_of(ff_events)
    if probe_grad is not None:
        shape = tuple(np.shape(probe_grad))
        if shape[-len(PROBE_SHAPE):] != PROBE_SHAPE:
            raise ValueError(f"a probe gradient has shape {PROBE_SHAPE} (or a stack of them, (..., *{PROBE_SHAPE})), "
                             f"got {shape}")
        d = decode_events(probe_grad)
        if d.ndim > 2:
            with jax.enable_x64(True):
                d = d.reshape(-1, *d.shape[-2:]).sum(0)
        for i, ph in enumerate(("bp", "up")):
            out[ph] = NumericEvents(*(d[i, j] for j in range(N_EVENTS)))
    return out


@partial(jax.custom_vjp, nondiff_argnums=(4,))
def _emulated_dot2(x, w, seed, probe, hw: TrainingHardware):
    y, ev = phase_matmul(x, w, hw.ff, key=fold_key(seed, 0), mesh=hw.mesh, node=hw.node("ff"))
    return y, encode_events(ev)


def _fwd(x, w, seed, probe, hw):
    y, ev = phase_matmul(x, w, hw.ff, key=fold_key(seed, 0), mesh=hw.mesh, node=hw.node("ff"))
    return (y, encode_events(ev)), (x, w, seed)


def _bwd(hw, res, cts):
    x, w, seed = res
    dy, _ = cts
    dx, ev_bp = phase_matmul(dy, w, hw.bp, key=fold_key(seed, 1), mesh=hw.mesh, transpose_b=True, node=hw.node("bp"))
    dw, ev_up = phase_matmul(x.T, dy, hw.up, key=fold_key(seed, 2), mesh=hw.mesh, node=hw.node("up"))
    dprobe = jnp.stack([encode_events(ev_bp), encode_events(ev_up)])
    dseed = np.zeros(np.shape(seed), dtype=jax.dtypes.float0)
    return dx, dw, dseed, dprobe


_emulated_dot2.defvjp(_fwd, _bwd)


def emulated_dot(x: jax.Array, w: jax.Array, hw: TrainingHardware, *, seed: Any,
                 probe: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """``x @ w`` with FF, BP and UP on the emulated hardware; leading dims of ``x`` batch.

    Args:
      x: (..., K) float inputs.
      w: (K, N) float weights.
      hw: the per-phase hardware.
      seed: uint32 scalar (or ``jax.random`` key data) making stochastic rounding reproducible.
      probe: a zero probe (:func:`zero_probe`, float32 :data:`PROBE_SHAPE`) whose gradient
        carries the BP/UP events (:func:`probe_events` decodes it).

    Returns:
      ``(y, ff_events)`` with ``y`` (..., N) float32 and the FF events encoded as float32
      limbs of shape :data:`EVENT_SHAPE` (module docstring; :func:`decode_events` gives the
      exact counts).

    With ``hw.modules > 1`` FF and BP run on the modules' node split by rows, UP split by
    the same row blocks and reduced by the central unit (:mod:`pimjax.nn._modules`).

    Raises:
      ValueError: mismatched shapes, a bad probe, or (``hw.modules > 1``) a leading batch
        dimension not divisible by ``hw.modules``.
      NotImplementedError: ``hw.modules > 1`` inside a sweep's traced-numerics forward pass.
    """
    check_hardware("emulated_dot's hw", hw)
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"x's last dimension ({x.shape[-1]}) must equal w's first ({w.shape[0]})")
    probe = check_probe(probe)
    check_module_batch(x.shape, hw.modules, "emulated_dot")
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1]).astype(jnp.float32)
    seed = jnp.asarray(seed, jnp.uint32)
    override = forward_override()
    if override is not None:  # a sweep: the forward pass on hardware with traced numerics
        if hw.modules > 1:
            raise NotImplementedError(f"the sweeps' traced-numerics forward pass runs on one system; "
                                      f"TrainingHardware.modules is {hw.modules} (use modules=1 there)")
        return override(x, w.astype(jnp.float32), hw, seed)
    y, ev = _emulated_dot2(x2, w.astype(jnp.float32), seed, probe, hw)
    y = y.reshape(*lead, w.shape[1])
    if hw.noise is not None:  # noise on the output activations; the gradient passes straight through
        y = add_output_noise(y, hw.noise, noise_key(seed))
    return y, ev
