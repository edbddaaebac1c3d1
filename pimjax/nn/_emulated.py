"""The emulated matmul of training: forward, input gradient and weight gradient on the arrays.

DESIGN.md section 3 and NeuroTrainer Sec. 2 / Table 4: every matmul of a layer runs in three
phases, each on the emulated system with its own formats and rounding:

* FF (forward) ``Y = X @ W`` (default 16-bit fixed point, nearest);
* BP (input gradient) ``dX = dY @ W.T`` (default 32-bit, stochastic rounding);
* UP (weight gradient) ``dW = X.T @ dY`` (default 32-bit, stochastic rounding).

:func:`emulated_dot` is a ``jax.custom_vjp``: operands are quantized to the phase's operand
formats (``input_rounding``), multiplied on the phase's :class:`~pimjax.hw.SystemConfig` bit for
bit, and decoded to float32. The backward phases' numeric events reach the caller through
the cotangent of a ``probe`` argument (a zero (2, 4) float32 array): ``grad`` with respect to
the probe returns ``[[BP overflow, nan, inf, random bits], [UP ...]]``. The forward phase's
events are returned next to ``Y``.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from pimjax.hw import NoiseConfig, SystemConfig
from pimjax.nn._noise import add_output_noise, forward_override, noise_key
from pimjax.nn._resident import ResidentWeights
from pimjax.numerics import FixedFormat, FloatFormat, NumericEvents, fold_key, quantize, scale_pow2
from pimjax.system import system_matmul

PHASES: tuple[str, ...] = ("ff", "bp", "up")
N_EVENTS = len(NumericEvents._fields)


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
    """

    ff: PhaseConfig
    bp: PhaseConfig
    up: PhaseConfig
    mesh: Mesh | None = None
    record_costs: bool = True
    weights: ResidentWeights | None = None
    noise: NoiseConfig | None = None  # Yang & Sze: noise on the FF outputs (pimjax.nn.add_output_noise)

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

    def phase(self, name: str) -> PhaseConfig:
        return getattr(self, name)

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


def _out_frac(cfg: SystemConfig) -> int:
    of = cfg.aggregation.output_format
    return of.frac if isinstance(of, FixedFormat) else cfg.aggregation.accumulator_format.frac


def phase_matmul(a: jax.Array, b: jax.Array, phase: PhaseConfig, *, key: Any, mesh: Mesh | None,
                 transpose_b: bool = False) -> tuple[jax.Array, NumericEvents]:
    """Float ``a @ b`` (2-D) through one phase's system; returns float32 values and events.

    ``transpose_b``: compute ``a @ b.T`` instead, quantizing ``b`` before the transpose (BP's
    ``dY W^T``: one pass over the weights in their own layout, then a transpose of the codes).
    """
    cfg = phase.system
    if cfg is None:
        return jnp.dot(a, b.T if transpose_b else b, precision=jax.lax.Precision.HIGHEST), NumericEvents.zero()
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
    res = system_matmul(qa, qb, cfg, mesh=mesh, key=key)
    ev = ea.merge(eb).merge(res.events)
    if isinstance(cfg.aggregation.output_format, FloatFormat) or arr.is_float:
        return res.out.astype(jnp.float32), ev
    with jax.enable_x64(True):
        vals = scale_pow2(res.out.astype(jnp.float64), -_out_frac(cfg)).astype(jnp.float32)
    return vals, ev


def _ev_vec(ev: NumericEvents) -> jax.Array:
    return jnp.stack([jnp.asarray(x, jnp.float32) for x in ev])


@partial(jax.custom_vjp, nondiff_argnums=(4,))
def _emulated_dot2(x, w, seed, probe, hw: TrainingHardware):
    y, ev = phase_matmul(x, w, hw.ff, key=fold_key(seed, 0), mesh=hw.mesh)
    return y, _ev_vec(ev)


def _fwd(x, w, seed, probe, hw):
    y, ev = phase_matmul(x, w, hw.ff, key=fold_key(seed, 0), mesh=hw.mesh)
    return (y, _ev_vec(ev)), (x, w, seed)


def _bwd(hw, res, cts):
    x, w, seed = res
    dy, _ = cts
    dx, ev_bp = phase_matmul(dy, w, hw.bp, key=fold_key(seed, 1), mesh=hw.mesh, transpose_b=True)
    dw, ev_up = phase_matmul(x.T, dy, hw.up, key=fold_key(seed, 2), mesh=hw.mesh)
    dprobe = jnp.stack([_ev_vec(ev_bp), _ev_vec(ev_up)])
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
      probe: zero (2, 4) float32 array whose gradient carries the BP/UP events.

    Returns:
      ``(y, ff_events)`` with ``y`` (..., N) float32 and the FF events as a float32 (4,) vector.
    """
    check_hardware("emulated_dot's hw", hw)
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"x's last dimension ({x.shape[-1]}) must equal w's first ({w.shape[0]})")
    if probe is None:
        probe = jnp.zeros((2, N_EVENTS), jnp.float32)
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1]).astype(jnp.float32)
    seed = jnp.asarray(seed, jnp.uint32)
    override = forward_override()
    if override is not None:  # a sweep: the forward pass on hardware with traced numerics
        return override(x, w.astype(jnp.float32), hw, seed)
    y, ev = _emulated_dot2(x2, w.astype(jnp.float32), seed, probe, hw)
    y = y.reshape(*lead, w.shape[1])
    if hw.noise is not None:  # noise on the output activations; the gradient passes straight through
        y = add_output_noise(y, hw.noise, noise_key(seed))
    return y, ev
