"""One layer's forward matmul on swept hardware whose numerics are traced, bit for bit.

:func:`sweep_matmul` computes exactly what :func:`pimjax.nn.phase_matmul` computes on the
:class:`~pimjax.hw.SystemConfig` of :func:`system_config` (the same config with concrete
formats), but with the formats, the rounding mode and the weight scaling as traced values, so
that ``jax.vmap`` evaluates many configs in one program (docs/design.md section 5):

1. quantize the float activations (M, K) and weights (K, N) with the point's formats and
   rounding (the same keys as ``phase_matmul``: stochastic rounding draws the same words);
2. accumulate the exact products (docs/design.md section 2 steps 1-4 with exact product and tree
   stages and exact packets): when no partial sum can leave the ``accumulator_bits``
   accumulator, the result is the exact integer product, one GEMM
   (:func:`pimjax.units.exact_matmul`). That is proven from the static bounds
   (``K * 2**(max_act_bits-1) * 2**(max_weight_bits-1)`` fits) or, failing that, from the data
   (Hoelder / Cauchy-Schwarz bound of :mod:`pimjax.units`); otherwise the ordered path runs:
   per slice, K-chunks of ``width`` accumulate in ascending order with saturation after every
   addition, then the slices' partial sums are added in slice order with saturation. Under
   ``vmap`` (``axis_name`` set) the choice is made once for the whole batch of configs (a
   ``psum`` over the config axis), so the cheap path is not computed next to the ordered one;
   both give the hardware's bits, so the batch and a single config agree;
3. output stage: requantize to the point's output format with its rounding (or pass the
   accumulator through when ``out_bits == 0``), decode to float32.

Then :func:`pimjax.nn.add_noise` adds the point's noise (:class:`SweepContext`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pimjax.apps.sweep._config import SWEEP_ROUNDINGS, NumericPoint, SweepHardware
from pimjax.hw import AggregationConfig, ArrayConfig, NoiseConfig, SystemConfig
from pimjax.nn import PhaseConfig, TrainingHardware, add_noise, encode_events, noise_key
from pimjax.numerics import FixedFormat, NumericEvents, apply_overflow, fold_key, quantize, requantize_exact
from pimjax.system import Mapping
from pimjax.system._matmul import _slice_operands
from pimjax.units import exact_matmul
from pimjax.units._backend import accelerator_paths
from pimjax.units._aggregation import _AGG_OUTPUT_STREAM
from pimjax.units._systolic import _data_bound_ok

_I64, _F64 = jnp.int64, jnp.float64
_INPUT_STREAM = 101  # phase_matmul: operands are quantized with fold_key(fold_key(key, 101), 0 / 1)
_DN = (((1,), (0,)), ((), ()))


def pow2_f32(e: Any) -> jax.Array:
    """``2.0**e`` as float32 for integer ``e`` in -126..127, built from its bits (exact, a few ops)."""
    e = jnp.asarray(e, jnp.int32)
    return jax.lax.bitcast_convert_type((e + 127) << 23, jnp.float32)


def pow2_f64(e: Any) -> jax.Array:
    """``2.0**e`` as float64 for integer ``e`` in -1022..1023, built from its bits."""
    with jax.enable_x64(True):
        e = jnp.asarray(e, jnp.int64)
        return jax.lax.bitcast_convert_type((e + 1023) << 52, jnp.float64)


def _ceil_log2(m_bits: Any, xp: Any) -> Any:
    """``ceil(log2 m)`` of a float32 ``m >= 0`` given its bit pattern (uint32): the exponent, plus
    one unless the mantissa is zero; 0 for ``m == 0`` and -126 for subnormals (flushed by XLA:CPU)."""
    expo = (m_bits >> 23) & 0xFF
    frac_nz = (m_bits & 0x7FFFFF) != 0
    e = xp.where(frac_nz, expo.astype(xp.int32) - 126, expo.astype(xp.int32) - 127)
    e = xp.where(expo == 0, xp.where(frac_nz, -126, 0), e)
    return e


def weight_frac(point: NumericPoint, w: jax.Array) -> jax.Array:
    """The weights' fraction bits: fixed, or per layer ``bits - 1 - ceil(log2(max|W|))``."""
    m = jnp.max(jnp.abs(w)).astype(jnp.float32)
    e = _ceil_log2(jax.lax.bitcast_convert_type(m, jnp.uint32), jnp).astype(jnp.int32)
    scaled = jnp.asarray(point.weight_bits, jnp.int32) - 1 - e
    return jnp.where(jnp.asarray(point.weight_scale) == 1, scaled, jnp.asarray(point.weight_frac, jnp.int32))


def layer_weight_frac(point: NumericPoint, w: Any) -> int:
    """:func:`weight_frac` of a single concrete point and weight matrix, as a Python int."""
    if int(point.weight_scale) != 1:
        return int(point.weight_frac)
    m = np.float32(np.max(np.abs(np.asarray(w, np.float32))))
    e = int(_ceil_log2(np.asarray(m).view(np.uint32), np))
    return int(point.weight_bits) - 1 - e


_F32_MODES = ("nearest_even", "nearest_away", "toward_zero")


def quantize_traced(x: jax.Array, bits: Any, frac: Any, rounding: Any, *, key: Any = None,
                    max_bits: int = 32, events: bool = True) -> tuple[jax.Array, NumericEvents]:
    """:func:`pimjax.numerics.quantize` of float32 ``x`` to the signed saturating ``Fx(bits, frac)``.

    With a static nearest / toward-zero ``rounding`` and ``max_bits <= 24`` this is the float32
    arithmetic of ``quantize``'s fast path with the bounds computed from traced ``bits``:
    ``y = x * 2**frac`` is exact in float32 (a power-of-two scale; for fraction bits in -64..64
    an underflow rounds to 0 either way and an overflow saturates), ``round`` / ``trunc`` is
    exact, and codes up to 24 bits are exact float32 integers. Otherwise ``quantize`` itself
    (exact float64 path, any mode, traced rounding ids). With ``events=False`` the events are
    not counted (zero): a smaller program, the same codes.
    """
    if not (isinstance(rounding, str) and rounding in _F32_MODES and max_bits <= 24 and x.dtype == jnp.float32):
        codes, ev = quantize(x, FixedFormat(bits=bits, frac=frac), rounding, key=key)
        return codes, ev if events else NumericEvents.zero()
    nan, inf = jnp.isnan(x), jnp.isinf(x)
    y = x * pow2_f32(frac)  # fraction bits in -64..64: a normal float32
    if rounding == "toward_zero":
        q = jnp.trunc(y)
    else:
        q = jnp.round(y)  # half to even, exact in float32
        if rounding == "nearest_away":
            t = jnp.trunc(y)
            q = jnp.where(jnp.abs(y - t) == 0.5, t + jnp.sign(y), q)
    b = jnp.asarray(bits, jnp.int32)
    hi = pow2_f32(b - 1) - 1  # |code| <= 2**23: exact in float32
    lo = -pow2_f32(b - 1)
    q = jnp.where(nan, 0.0, q)
    over = ((q < lo) | (q > hi)) & ~inf
    qv = jnp.clip(q, lo, hi)
    qv = jnp.where(inf, jnp.where(x > 0, hi, lo), qv)
    with jax.enable_x64(True):
        codes = qv.astype(jnp.int32).astype(_I64)
    if not events:
        return codes, NumericEvents.zero()
    with jax.enable_x64(True):
        cnt = lambda m: jnp.sum(m, dtype=jnp.int64)  # noqa: E731
        return codes, NumericEvents.make(cnt(over), cnt(nan), cnt(inf))


def _limit(hw: SweepHardware) -> int:
    return (1 << (hw.accumulator_bits - 1)) - 1


def _chunk_sums_exact_in_f64(hw: SweepHardware) -> bool:
    return hw.width * (1 << (hw.max_act_bits - 1)) * (1 << (hw.max_weight_bits - 1)) < (1 << 53)


def _ordered(qa: jax.Array, qb: jax.Array, hw: SweepHardware) -> tuple[jax.Array, NumericEvents]:
    """Ascending K-chunks per slice, saturating after every addition; slices in order (exact)."""
    m, k = qa.shape
    n = qb.shape[1]
    w = hw.width
    mp = Mapping.even(k=k, n=n, num_slices=hw.num_slices, width=w, rows=hw.rows)
    bits = hw.accumulator_bits
    f64_chunks = _chunk_sums_exact_in_f64(hw)
    int8_chunks = accelerator_paths()
    with jax.enable_x64(True):
        a_sl, b_sl = _slice_operands(qa.astype(_I64), qb.astype(_I64), mp, w)  # (S, M, Kp), (S, Kp, N)
        nc = a_sl.shape[2] // w

        def one_slice(ab):
            a_s, b_s = ab
            a3 = a_s.reshape(m, nc, w).transpose(1, 0, 2)
            b3 = b_s.reshape(nc, w, n)

            def step(carry, xs):
                acc, over = carry
                ac, bc = xs
                if f64_chunks and int8_chunks:  # the accelerator's path: the same exact sums
                    t = exact_matmul(ac, bc, a_bits=hw.max_act_bits, b_bits=hw.max_weight_bits, method="int8")
                elif f64_chunks:
                    t = jax.lax.dot_general(ac.astype(_F64), bc.astype(_F64), _DN,
                                            precision=jax.lax.Precision.HIGHEST).astype(_I64)
                else:
                    t = jnp.sum(ac[:, :, None] * bc[None, :, :], axis=1)
                acc, o = apply_overflow(acc + t, bits, True, "saturate")
                return (acc, over + jnp.sum(o, dtype=_I64)), None

            init = (jnp.zeros((m, n), _I64), jnp.zeros((), _I64))
            (acc, over), _ = jax.lax.scan(step, init, (a3, b3))
            return acc, over

        accs, overs = jax.lax.map(one_slice, (a_sl, b_sl))

        def agg(carry, p):
            acc, over = carry
            acc, o = apply_overflow(acc + p, bits, True, "saturate")
            return (acc, over + jnp.sum(o, dtype=_I64)), None

        (acc, over2), _ = jax.lax.scan(agg, (jnp.zeros((m, n), _I64), jnp.zeros((), _I64)), accs)
        return acc, NumericEvents.make(overflow=jnp.sum(overs, dtype=_I64) + over2)


def accumulate(qa: jax.Array, qb: jax.Array, hw: SweepHardware, *, axis_name: str | None = None
               ) -> tuple[jax.Array, NumericEvents]:
    """The aggregated accumulator (int64, activation + weight fraction bits) of ``qa @ qb``."""
    k = qa.shape[1]
    limit = _limit(hw)

    def fast(a, b):
        with jax.enable_x64(True):
            acc = exact_matmul(a, b, a_bits=hw.max_act_bits, b_bits=hw.max_weight_bits)
        return acc, NumericEvents.zero()

    def ordered(a, b):
        return _ordered(a, b, hw)

    if k * (1 << (hw.max_act_bits - 1)) * (1 << (hw.max_weight_bits - 1)) <= limit:
        return fast(qa, qb)
    ok = _data_bound_ok(qa, qb, limit)
    if axis_name is not None:  # one decision for the whole batch of configs: a real branch
        ok = jax.lax.psum(jnp.where(ok, 0, 1), axis_name) == 0
    with jax.enable_x64(True):
        return jax.lax.cond(ok, fast, ordered, qa, qb)


def _decode(codes: jax.Array, frac: jax.Array) -> jax.Array:
    """``codes * 2**-frac`` in float32, as ``phase_matmul`` decodes: exact in float64 (a power of
    two times an integer below 2**63, for fraction bits in -128..128), then rounded once."""
    scale = pow2_f64(-jnp.asarray(frac, jnp.int32))
    return (codes.astype(_F64) * scale).astype(jnp.float32)


def sweep_matmul(x: jax.Array, w: jax.Array, point: NumericPoint, hw: SweepHardware, *, key: Any,
                 axis_name: str | None = None, events: bool = True) -> tuple[jax.Array, NumericEvents]:
    """Float ``x @ w`` (2-D) on the swept hardware: float32 values and the numeric events.

    Equal bit for bit to ``phase_matmul(x, w, phase_config(point, hw, w), key=key, mesh=None)``
    for a concrete ``point`` (module docstring). With ``events=False`` the operands' and the
    output stage's events are not counted (reported as zero; the values are the same).
    """
    if hw.datapath == "native":
        return jnp.dot(x, w, precision=jax.lax.Precision.HIGHEST), NumericEvents.zero()
    rid = hw.rounding if hw.rounding is not None else jnp.asarray(point.rounding, jnp.int32)
    kq = fold_key(key, _INPUT_STREAM)
    with jax.enable_x64(True):
        af = jnp.asarray(point.act_frac, jnp.int32)
        wf = weight_frac(point, w)
        qa, ea = quantize_traced(x, jnp.asarray(point.act_bits, jnp.int32), af, rid,
                                 key=fold_key(kq, 0) if hw.stochastic else None, max_bits=hw.max_act_bits,
                                 events=events)
        qb, eb = quantize_traced(w, jnp.asarray(point.weight_bits, jnp.int32), wf, rid,
                                 key=fold_key(kq, 1) if hw.stochastic else None, max_bits=hw.max_weight_bits,
                                 events=events)
        acc, ev = accumulate(qa, qb, hw, axis_name=axis_name)
        tree_frac = af + wf
        if not hw.output_stage:  # every point passes the accumulator through
            return _decode(acc, tree_frac), ea.merge(eb).merge(ev)
        ob = jnp.asarray(point.out_bits, jnp.int32)
        of = jnp.asarray(point.out_frac, jnp.int32)
        okey = fold_key(key, _AGG_OUTPUT_STREAM) if hw.stochastic else None
        out, eo = requantize_exact(acc, tree_frac, FixedFormat(bits=jnp.maximum(ob, 1), frac=of), rid, key=okey)
        exact = ob == 0
        codes = jnp.where(exact, acc, out)
        frac = jnp.where(exact, tree_frac, of)
        y = _decode(codes, frac)
        eo = NumericEvents(*(jnp.where(exact, 0, v).astype(_I64) for v in eo)) if events else NumericEvents.zero()
    return y, ea.merge(eb).merge(ev).merge(eo)


class SweepContext:
    """The forward override of one traced point (:func:`pimjax.nn._noise.override_forward`).

    Every emulated layer of the model then runs :func:`sweep_matmul` with the layer's FF key
    (``fold_key(seed, 0)``, as :func:`pimjax.nn.emulated_dot`) and adds the point's noise with
    the layer's noise key; the events of every layer are collected in ``events`` (with
    ``count_events=False`` they are not counted: zero).
    """

    def __init__(self, point: NumericPoint, hw: SweepHardware, axis_name: str | None = None, *,
                 count_events: bool = True):
        self.point, self.hw, self.axis_name = point, hw, axis_name
        self.count_events = bool(count_events)
        self.events: list[NumericEvents] = []

    def __call__(self, x: jax.Array, w: jax.Array, layer_hw: Any, seed: jax.Array) -> tuple[jax.Array, jax.Array]:
        lead, k, n = x.shape[:-1], x.shape[-1], w.shape[1]
        x2 = x.reshape(-1, k).astype(jnp.float32)
        y, ev = sweep_matmul(x2, w, self.point, self.hw, key=fold_key(seed, 0), axis_name=self.axis_name,
                             events=self.count_events)
        kind = self.hw.noise_kind if self.hw.noise_kind is not None else self.point.noise_kind
        y = add_noise(y.reshape(*lead, n), kind, self.point.noise_level, noise_key(seed), over=self.hw.noise_over)
        self.events.append(ev)
        return y, encode_events(ev)

    def total_events(self) -> NumericEvents:
        out = NumericEvents.zero()
        for e in self.events:
            out = out.merge(e)
        return out


# ------------------------------------------------------------------------------------------
# the same hardware with concrete formats (the per-config reference and loop baseline)


def system_config(point: NumericPoint, hw: SweepHardware, w: Any) -> SystemConfig | None:
    """The :class:`~pimjax.hw.SystemConfig` of one concrete point for a layer with weights ``w``.

    ``None`` for the native datapath (``PhaseConfig(system=None)``: float32 ``jnp.dot``).
    """
    if hw.datapath == "native":
        return None
    p = point.to_dict()
    wf = layer_weight_frac(point, w)
    a = FixedFormat(bits=p["act_bits"], frac=p["act_frac"])
    b = FixedFormat(bits=p["weight_bits"], frac=wf)
    acc = FixedFormat(bits=hw.accumulator_bits, frac=p["act_frac"] + wf)
    out = FixedFormat(bits=p["out_bits"], frac=p["out_frac"]) if p["out_bits"] else None
    rnd = p["rounding"]
    arr = ArrayConfig(rows=hw.rows, width=hw.width, a_format=a, b_format=b, accumulator_format=acc,
                      output_format=out, output_rounding=rnd, name="sweep")
    agg = AggregationConfig(packet_format=None, accumulator_format=acc, output_format=out, output_rounding=rnd)
    return SystemConfig(array=arr, num_slices=hw.num_slices, aggregation=agg)


def point_noise(point: NumericPoint, hw: SweepHardware) -> NoiseConfig | None:
    """The point's noise as a static :class:`~pimjax.hw.NoiseConfig` (None: no noise)."""
    p = point.to_dict()
    if p["noise_kind"] == "none":
        return None
    return NoiseConfig(kind=p["noise_kind"], std=float(np.float32(p["noise_level"])), over=hw.noise_over)


def training_hardware_for(point: NumericPoint, hw: SweepHardware, w: Any) -> TrainingHardware:
    """The concrete :class:`~pimjax.nn.TrainingHardware` of one point for a layer with weights ``w``.

    A model put on it (:func:`pimjax.nn.with_hardware`, per layer) computes with the ordinary
    emulation (static formats: one compile per config) what the sweep computes with traced ones.
    """
    rnd = point.to_dict()["rounding"]
    if rnd not in SWEEP_ROUNDINGS:
        raise ValueError(f"rounding {rnd!r} cannot be swept; use one of {SWEEP_ROUNDINGS}")
    phase = PhaseConfig(system=system_config(point, hw, w), input_rounding=rnd)
    return TrainingHardware(ff=phase, bp=phase, up=phase, record_costs=False, noise=point_noise(point, hw))


__all__ = ["SweepContext", "accumulate", "layer_weight_frac", "point_noise", "quantize_traced",
           "sweep_matmul",
           "system_config", "training_hardware_for", "weight_frac"]
