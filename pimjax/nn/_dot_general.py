"""A ``dot_general`` for Flax NNX layers that runs on the emulated hardware and records its costs.

``nnx.Linear(..., dot_general=EmulatedDotGeneral(hw))`` (or another NNX layer whose
``dot_general`` contracts ``x[..., K]`` with ``w[K, N]``; other dimension numbers, e.g. batch
dimensions, raise a ValueError) computes its matmul with :func:`pimjax.nn.emulated_dot`: FF on
``hw.ff``, and under ``grad`` the input gradient on ``hw.bp`` and the weight gradient on
``hw.up``, each at its own precision (NeuroTrainer Sec. 2, Table 4). The object is an NNX
module, so it becomes a submodule of the layer that holds it and carries state:

* a :class:`CostProbe` whose gradient carries the BP/UP numeric events, and a sown
  ``nnx.Intermediate`` ``"cost"`` (phase -> :class:`~pimjax.cost.CostRecord`), as
  :class:`pimjax.nn._layers.EmuLinear` does, so :func:`pimjax.apps.cost._collect.collect_costs`
  reports the layer per phase (differentiate with respect to ``nnx.Any(nnx.Param, CostProbe)``
  to get the BP/UP events);
* an :class:`SRCalls` counter: call ``i`` rounds with the words of seed
  ``fold(fold(seed, layer_id), i)``, so every step and every layer gets its own stochastic
  rounding bits while a rerun from the same state gives the same bits.

Give each layer its own instance: one shared by two layers is one submodule, so their costs
and probe events add up under one path, and its counter advances once per call of either.
Every call is a use of the probe (exact for up to :data:`~pimjax.nn.MAX_PROBE_USES` uses in
one differentiated call).

``precision`` and ``preferred_element_type`` are ignored (the hardware fixes the precision);
``out_sharding`` (which ``nnx.Linear`` passes) is accepted and ignored: the emulated slices are
laid over devices by ``hw``'s mesh, not by the output sharding.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from pimjax._checks import check_int
from pimjax.nn._emulated import TrainingHardware, check_hardware, emulated_dot
from pimjax.nn._layers import CostProbe, add_costs, events_only_costs, matmul_costs, zero_probe
from pimjax.numerics import fold_key


class SRCalls(nnx.Variable):
    """Calls of an :class:`EmulatedDotGeneral` so far (uint32): the index folded into its seed."""


class EmulatedDotGeneral(nnx.Module):
    """``lhs[..., K] @ rhs[K, N]`` on emulated hardware, as a Flax ``dot_general``.

    Args:
      hw: the per-phase hardware (:func:`pimjax.nn.training_hardware`).
      seed: base seed of the stochastic-rounding words (0 .. 2**32 - 1).
      layer_id: folded into the seed, so layers sharing ``seed`` draw different words (>= 0).

    Raises:
      TypeError / ValueError naming the argument for a bad ``hw``, ``seed`` or ``layer_id``; at
      call, ValueError for dimension numbers other than ``x[..., K] @ w[K, N]``.

    >>> from flax import nnx
    >>> from pimjax.nn import training_hardware
    >>> lin = nnx.Linear(8, 4, dot_general=EmulatedDotGeneral(training_hardware("fixed16", rows=4, width=2)),
    ...                  rngs=nnx.Rngs(0))
    >>> y = lin(jnp.ones((2, 8)))
    >>> costs = nnx.pop(lin, nnx.Intermediate)["dot_general"]["cost"].get_value()
    >>> int(lin.dot_general.calls[...]), sorted(costs), int(costs["ff"].macs)
    (1, ['bp', 'ff', 'up'], 64)
    """

    def __init__(self, hw: TrainingHardware, *, seed: int = 0, layer_id: int = 0):
        self.hw = check_hardware("hw", hw)
        self.seed = check_int("seed", seed, 0, 2**32 - 1)
        self.layer_id = check_int("layer_id", layer_id, 0)
        self.probe = CostProbe(zero_probe())
        self.calls = SRCalls(jnp.zeros((), jnp.uint32))

    def __call__(self, lhs: jax.Array, rhs: jax.Array, dimension_numbers: Any, precision: Any = None,
                 preferred_element_type: Any = None, out_sharding: Any = None) -> jax.Array:
        (lc, rc), (lb, rb) = dimension_numbers
        if tuple(lb) or tuple(rb) or tuple(lc) != (lhs.ndim - 1,) or tuple(rc) != (0,) or rhs.ndim != 2:
            raise ValueError(f"EmulatedDotGeneral supports x[..., K] @ w[K, N] only, got dimension_numbers "
                             f"{dimension_numbers} for shapes {lhs.shape} and {rhs.shape}")
        i = self.calls[...]
        self.calls[...] = i + jnp.uint32(1)
        s = fold_key(fold_key(jnp.uint32(self.seed), self.layer_id), i)
        y, ev = emulated_dot(lhs, rhs, self.hw, seed=s, probe=self.probe[...])
        m, (k, n) = math.prod(lhs.shape[:-1]), rhs.shape
        self.sow(nnx.Intermediate, "cost", matmul_costs(m, k, n, self.hw, {"ff": ev})
                 if self.hw.record_costs else events_only_costs(ev), init_fn=dict, reduce_fn=add_costs)
        return y


def emulated_dot_general(hw: TrainingHardware, seed: int = 0, layer_id: int = 0) -> EmulatedDotGeneral:
    """``EmulatedDotGeneral(hw, seed=seed, layer_id=layer_id)``: a ``dot_general`` for
    ``nnx.Linear(..., dot_general=...)`` (see :class:`EmulatedDotGeneral`)."""
    return EmulatedDotGeneral(hw, seed=seed, layer_id=layer_id)


__all__ = ["EmulatedDotGeneral", "SRCalls", "emulated_dot_general"]
