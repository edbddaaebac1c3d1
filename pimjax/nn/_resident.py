"""Hardware-resident fixed-point weights, updated in memory with stochastic rounding.

docs/design.md section 3 and NeuroTrainer Sec. 2.3 / 3.3.2: the weights live as fixed-point codes in
the module's memory and the update ``W <- W - eta * dW`` is computed on the hardware, rounded
into the weight format. Without stochastic rounding an update smaller than half a step of the
weight format is lost (rounded back to ``W``): that is why "even 32bit fixed point in
backpropagation and parameter update may result in inaccurate training" (Sec. 3.3.2, Fig. 10,
after Gupta et al. [25]); with SR the expected new weight equals ``W + u`` exactly.

pimjax keeps resident weights in the model's float32 parameters, always exactly on the grid of
``ResidentWeights.format`` (codes of at most 24 bits, which float32 holds exactly), and updates
them with :func:`resident_update`, an optax ``GradientTransformation`` to chain after any optax
optimizer (the optimizer's float update ``u`` is what the update unit adds; NeuroTrainer Sec. 5
leaves generic rules such as Adam to a host processor). Its update returns ``u'`` with
``params + u' == decode(saturate(round(encode(params) + u * 2**frac)))`` exactly in float32, so
``optax.apply_updates`` lands every weight on the grid. Saturations, NaN/Inf updates and random
bits are counted in the transform's state (never silent), as exact int64 running totals.

>>> import jax.numpy as jnp, optax
>>> from pimjax.nn import ResidentWeights, resident_update, to_resident
>>> cfg = ResidentWeights(rounding="nearest_even")
>>> w, _ = to_resident({"w": jnp.array([0.5, -1.0])}, cfg)
>>> tx = optax.chain(optax.sgd(1e-6), resident_update(cfg))
>>> u, state = tx.update({"w": jnp.array([1.0, 1.0])}, tx.init(w), w)
>>> [float(v) for v in optax.apply_updates(w, u)["w"]]  # 1e-6 < 2**-17: lost without SR
[0.5, -1.0]
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from pimjax.numerics import (DEFAULT_STOCHASTIC, ROUNDING_MODES, FixedFormat, NumericEvents, StochasticConfig,
                             fold_key, quantize)
from pimjax.numerics._pow2 import scale_pow2
from pimjax.numerics._rounding import apply_overflow

_STOCHASTIC = ("stochastic", "sr_lo")
_F64, _I64 = jnp.float64, jnp.int64


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResidentWeights:
    """Fixed-point weight memory and its update rounding (NeuroTrainer Sec. 2.3, Fig. 10).

    Args:
      format: the weights' fixed-point format (static; signed; at most 24 bits so that float32
        holds every code exactly). Default Q8.16 (range +-128, step 2**-16 = 1.5e-5): 16
        fraction bits as the 32-bit BP weight operand of :func:`pimjax.nn.training_hardware`;
        the paper gives widths only.
      rounding: rounding of ``W + u`` into ``format``: ``"stochastic"`` (one random word per
        weight, NeuroTrainer "Fixed 32/16 + SR"), ``"sr_lo"`` (SR LO, Fig. 11) or a
        deterministic mode (``"nearest_even"``: "Fixed 32/16" without SR).
      stochastic: random-word source of the stochastic modes.
    """

    format: FixedFormat = FixedFormat(bits=24, frac=16)
    rounding: str = "stochastic"
    stochastic: StochasticConfig = DEFAULT_STOCHASTIC

    def __post_init__(self) -> None:
        f = self.format
        if not isinstance(f, FixedFormat) or not f.is_static:
            raise TypeError("ResidentWeights.format must be a static FixedFormat")
        if not f.signed or not 2 <= int(f.bits) <= 24:
            raise ValueError(f"ResidentWeights.format must be signed with 2..24 bits (float32 holds every "
                             f"code exactly), got {f}")
        if self.rounding not in ROUNDING_MODES:
            raise ValueError(f"ResidentWeights.rounding must be one of {ROUNDING_MODES}, got {self.rounding!r}")
        if not isinstance(self.stochastic, StochasticConfig):
            raise TypeError("ResidentWeights.stochastic must be a StochasticConfig")


@partial(jax.jit, static_argnums=1)
def to_resident(params: Any, cfg: ResidentWeights) -> tuple[Any, NumericEvents]:
    """Float params rounded to nearest onto the weight grid (loading weights into memory).

    Jitted (one compile instead of one per eager operation and parameter).
    """
    leaves, tree = jax.tree.flatten(params)
    out, ev = [], NumericEvents.zero()
    for x in leaves:
        codes, e = quantize(x, cfg.format, "nearest_even")
        out.append(_decode(codes, cfg.format.frac, x.dtype))
        ev = ev.merge(e)
    return jax.tree.unflatten(tree, out), ev


def _decode(codes: jax.Array, frac: int, dtype: Any) -> jax.Array:
    with jax.enable_x64(True):  # |code| <= 2**24: exact in float32
        return scale_pow2(codes.astype(jnp.float32), -frac).astype(dtype)


def _codes(w: jax.Array, frac: int) -> jax.Array:
    with jax.enable_x64(True):  # on-grid float32 weights: exact
        return jnp.round(scale_pow2(w.astype(jnp.float32), frac)).astype(_I64)


def rounded_sum(codes: jax.Array, u: jax.Array, cfg: ResidentWeights, *, key: Any = None
                ) -> tuple[jax.Array, NumericEvents]:
    """New codes ``saturate(round(codes + u * 2**frac))`` computed exactly; ``u`` float32.

    The stochastic modes are translation invariant on the grid (``floor(c + y + R) = c +
    floor(y + R)``), so they round ``u`` alone; the deterministic modes depend on the
    integer part of the sum (ties to even, sign for toward-zero and away), so they are
    computed from ``n = codes + floor(y)`` and ``r = y - floor(y)`` (exact in float64).
    """
    fmt = cfg.format
    with jax.enable_x64(True):
        codes = jnp.asarray(codes).astype(_I64)
        if cfg.rounding in _STOCHASTIC:
            wide = FixedFormat(bits=32, frac=int(fmt.frac))
            q, ev = quantize(u, wide, cfg.rounding, key=key, stochastic=cfg.stochastic)
            new, over = apply_overflow(codes + q, fmt.bits, True, fmt.overflow)
            return new, ev.merge(NumericEvents.make(overflow=jnp.sum(over, dtype=jnp.int64)))
        from pimjax.numerics import to_f64_exact

        uf = to_f64_exact(jnp.asarray(u, jnp.float32))
        nan, inf = jnp.isnan(uf), jnp.isinf(uf)
        y = jnp.clip(jnp.where(nan, 0.0, scale_pow2(uf, int(fmt.frac))), -(2.0**40), 2.0**40)
        fy = jnp.floor(y)
        r = y - fy
        n = codes + fy.astype(_I64)
        odd = (n & 1) == 1
        inc = {"floor": jnp.zeros_like(odd),
               "nearest_even": (r > 0.5) | ((r == 0.5) & odd),
               "nearest_away": (r > 0.5) | ((r == 0.5) & (n >= 0)),
               "toward_zero": (n < 0) & (r > 0)}[cfg.rounding]
        new, over = apply_overflow(n + inc.astype(_I64), fmt.bits, True, fmt.overflow)
        ev = NumericEvents.make(overflow=jnp.sum(over & ~inf, dtype=jnp.int64), nan=jnp.sum(nan, dtype=jnp.int64),
                                inf=jnp.sum(inf, dtype=jnp.int64))
        return new, ev


class ResidentState(NamedTuple):
    """State of :func:`resident_update`: the step count (int32; selects the random words) and
    the numeric events of every update so far (saturations, NaN, Inf and random bits summed
    over the steps), exact int64 running totals.

    The int64 leaves are made inside x64 scopes and stay int64 through ``jit``; a checkpoint
    restored as numpy arrays must be put back on the device inside ``jax.enable_x64(True)``
    (as :mod:`pimjax.apps.train._loop` does), else ``jit`` would narrow them to int32."""

    count: jax.Array
    events: NumericEvents


def total_events(state: ResidentState) -> dict[str, int]:
    """The events of all updates so far as (exact) Python ints."""
    return {f: int(v) for f, v in state.events._asdict().items()}


def resident_update(cfg: ResidentWeights, seed: int = 0) -> optax.GradientTransformation:
    """Rounds ``params + updates`` into the resident weight format (chain it last).

    Leaf ``i`` at step ``t`` draws its random words from ``fold_key(fold_key(seed, t), i)``,
    so a resumed run (the count is in the state) rounds with the same bits.
    """
    if not isinstance(cfg, ResidentWeights):
        raise TypeError("resident_update needs a ResidentWeights config")
    frac = int(cfg.format.frac)

    def init_fn(params):
        del params
        return ResidentState(count=jnp.zeros((), jnp.int32), events=NumericEvents.zero())

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("resident_update needs params (the resident weights)")
        u_leaves, tree = jax.tree.flatten(updates)
        p_leaves = tree.flatten_up_to(params)
        step_key = fold_key(jnp.uint32(seed), state.count)
        out, ev = [], state.events.to_int64()
        for i, (u, p) in enumerate(zip(u_leaves, p_leaves)):
            old = _codes(p, frac)
            new, e = rounded_sum(old, u, cfg, key=fold_key(step_key, i))
            with jax.enable_x64(True):
                out.append(_decode(new - old, frac, p.dtype))  # |new - old| < 2**24: exact
            ev = ev.merge(e)
        return jax.tree.unflatten(tree, out), ResidentState(count=state.count + 1, events=ev)

    return optax.GradientTransformation(init_fn, update_fn)
