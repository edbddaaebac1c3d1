"""Per-example matmuls of two activations (attention) on the emulated hardware, FF/BP/UP.

Luong attention multiplies activations by activations: the scores ``q_b @ enc_b^T`` and the
context ``alpha_b @ enc_b`` of each sentence ``b``. On the slices each is a small matmul of
its own (Memory Slices Sec. 5 runs "the attention layer" on the arrays with the LSTMs): the
encoder states ``enc_b`` are the preloaded operand (register B, the role a weight plays), the
decoder's query or attention weights stream through register A. :func:`emulated_bmm` runs
``a[i] @ b[i]`` for every ``i`` of a batch in the three phases of training, as
:func:`~pimjax.nn.emulated_dot` does for a layer's weights:

* FF ``Y_i = A_i @ B_i`` on ``hw.ff`` (``A_i`` in the FF activation format, ``B_i`` in the
  FF weight-operand format);
* BP ``dA_i = dY_i @ B_i^T`` on ``hw.bp``;
* UP ``dB_i = A_i^T @ dY_i`` on ``hw.up`` (the gradient flows on into the encoder).

Example ``i`` rounds stochastically with seed ``fold(seed, i)``. The batch's events are summed
inside the op (exact int64) before they are encoded, so a call is *one* use of the probe
whatever the batch size (the probe's exactness bound counts uses: :mod:`pimjax.nn._emulated`).
Costs: ``batch`` calls of an ``(M, K) @ (K, N)`` matmul; the preloaded operand is reloaded on
every call (no reuse of ``enc`` across decoder steps is assumed).

With ``hw.modules = N > 1`` (NeuroTrainer Sec. 5.3, :mod:`pimjax.nn._modules`) the sentences
are routed per module: sentence ``i`` runs whole, in all three phases, on the module holding
it (``i // (B / N)``: the same contiguous blocks as the layers' rows) with the same seed as on
one module, so the numbers equal ``modules = 1``'s; nothing is synced (``dB_i`` is an
activation gradient, not a weight's). The batch must be divisible by ``N``; the costs are
``B / N`` calls per module, the modules concurrent.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from pimjax._checks import check_int
from pimjax.nn._emulated import (TrainingHardware, check_hardware, check_probe, encode_events, phase_matmul,
                                 zero_probe)
from pimjax.nn._layers import CostProbe, add_costs, events_only_costs, matmul_costs
from pimjax.nn._modules import check_module_batch
from pimjax.nn._noise import add_output_noise, forward_override, noise_key
from pimjax.numerics import NumericEvents, fold_key


def _summed(ev: NumericEvents) -> NumericEvents:
    """Events of a vmapped phase (one count per example) summed exactly (int64)."""
    with jax.enable_x64(True):
        return NumericEvents(*(jnp.sum(jnp.asarray(x).astype(jnp.int64)) for x in ev))


def _phase_bmm(a, b, seeds, phase, mesh, stream: int, transpose_b: bool = False):
    def one(x, w, s):
        return phase_matmul(x, w, phase, key=fold_key(s, stream), mesh=mesh, transpose_b=transpose_b)

    y, ev = jax.vmap(one)(a, b, seeds)
    return y, _summed(ev)


@partial(jax.custom_vjp, nondiff_argnums=(4,))
def _bmm(a, b, seeds, probe, hw: TrainingHardware):
    y, ev = _phase_bmm(a, b, seeds, hw.ff, hw.mesh, 0)
    return y, encode_events(ev)


def _bmm_fwd(a, b, seeds, probe, hw):
    y, ev = _phase_bmm(a, b, seeds, hw.ff, hw.mesh, 0)
    return (y, encode_events(ev)), (a, b, seeds)


def _bmm_bwd(hw, res, cts):
    a, b, seeds = res
    dy, _ = cts
    da, ev_bp = _phase_bmm(dy, b, seeds, hw.bp, hw.mesh, 1, transpose_b=True)
    db, ev_up = _phase_bmm(jnp.swapaxes(a, 1, 2), dy, seeds, hw.up, hw.mesh, 2)
    dprobe = jnp.stack([encode_events(ev_bp), encode_events(ev_up)])
    return da, db, np.zeros(np.shape(seeds), dtype=jax.dtypes.float0), dprobe


_bmm.defvjp(_bmm_fwd, _bmm_bwd)


def emulated_bmm(a: jax.Array, b: jax.Array, hw: TrainingHardware, *, seed: Any,
                 probe: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """``a[i] @ b[i]`` for every ``i``, FF/BP/UP on the emulated hardware (module docstring).

    Args:
      a: (B, M, K) float (streamed operand).
      b: (B, K, N) float (preloaded operand).
      hw: the per-phase hardware.
      seed: uint32 scalar; example ``i`` uses ``fold_key(seed, i)``.
      probe: a zero probe (:func:`~pimjax.nn.zero_probe`) whose gradient carries the BP/UP events.

    Returns:
      ``(y, ff_events)``: ``y`` (B, M, N) float32 and the batch's FF events, encoded
      (:data:`~pimjax.nn._emulated.EVENT_SHAPE`), as :func:`~pimjax.nn.emulated_dot` returns them.

    Raises:
      ValueError: operands that are not (B, M, K) and (B, K, N), a bad probe, or a batch ``B``
        not divisible by ``hw.modules``.
      NotImplementedError: inside a sweep's traced-numerics forward pass (sweeps cover the
        CNN layers).
    """
    check_hardware("emulated_bmm's hw", hw)
    if np.ndim(a) != 3 or np.ndim(b) != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"emulated_bmm needs a (B, M, K) and b (B, K, N), got shapes {np.shape(a)} and {np.shape(b)}")
    probe = check_probe(probe)
    check_module_batch(np.shape(a), hw.modules, "emulated_bmm")
    if forward_override() is not None:
        raise NotImplementedError("emulated_bmm (attention) has no traced-numerics sweep datapath")
    seed = jnp.asarray(seed, jnp.uint32)
    seeds = jax.vmap(lambda i: fold_key(seed, i))(jnp.arange(a.shape[0], dtype=jnp.uint32))
    y, ev = _bmm(a.astype(jnp.float32), b.astype(jnp.float32), seeds, probe, hw)
    if hw.noise is not None:  # noise on the output activations, as emulated_dot
        y = add_output_noise(y, hw.noise, noise_key(seed))
    return y, ev


class EmuBatchedMatmul(nnx.Module):
    """A layer computing ``a[i] @ b[i]`` (two activations) with :func:`emulated_bmm`; it owns a
    :class:`CostProbe` and sows its per-phase costs (``batch`` calls of the matmul) as
    ``nnx.Intermediate`` ``"cost"``, like :class:`~pimjax.nn._layers.EmuLinear`.

    Args:
      hw: the per-phase hardware.
      layer_id: folded into the seed (>= 0).
      name: the layer's name in cost tables.
    """

    def __init__(self, *, hw: TrainingHardware, layer_id: int, name: str = ""):
        self.hw = check_hardware("hw", hw)
        self.layer_id = check_int("layer_id", layer_id, 0)
        self.name = name or f"bmm{layer_id}"
        self.probe = CostProbe(zero_probe())

    def __call__(self, a: jax.Array, b: jax.Array, *, seed: jax.Array) -> jax.Array:
        s = fold_key(jnp.asarray(seed, jnp.uint32), self.layer_id)
        y, ev = emulated_bmm(a, b, self.hw, seed=s, probe=self.probe[...])
        (batch, m, k), n = a.shape, b.shape[2]
        self.sow(nnx.Intermediate, "cost", matmul_costs(m, k, n, self.hw, {"ff": ev}, calls=batch, per_example=True)
                 if self.hw.record_costs else events_only_costs(ev), init_fn=dict, reduce_fn=add_costs)
        return y


__all__ = ["EmuBatchedMatmul", "emulated_bmm"]
