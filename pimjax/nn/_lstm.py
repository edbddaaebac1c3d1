"""LSTM cell whose one gate matmul per time step runs on the emulated hardware.

Memory Slices Sec. 5 (Fig. 10): an LSTM layer is one matmul ``[x_t, h_{t-1}] @ W`` with the four
gate filters concatenated; the gate nonlinearities are exact float32 or NeuroTrainer's PMAG
lookup tables (:func:`~pimjax.nn.activation`). Used by the translator (:mod:`pimjax.nn._translator`).
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
from flax import nnx

from pimjax._checks import check_int
from pimjax.hw import LUTConfig
from pimjax.nn._activations import activation
from pimjax.nn._emulated import TrainingHardware
from pimjax.nn._layers import EmuLinear

LUTs = LUTConfig | Mapping[str, LUTConfig | None] | None


def _lut_for(lut: LUTs, name: str) -> LUTConfig | None:
    if lut is None or isinstance(lut, LUTConfig):
        return lut
    return lut.get(name)


def _act(name: str, x: jax.Array, lut: LUTs) -> jax.Array:
    return activation(name, x, _lut_for(lut, name))


class EmuLSTMCell(nnx.Module):
    """LSTM cell with its one gate matmul on the emulated hardware.

    ``z = [x, h] @ W + b`` (``W``: ``(in_features + hidden) x 4 hidden``, gate blocks in the order
    input, forget, cell candidate, output), then ``i, f, o = sigmoid(.)``, ``g = tanh(.)``,
    ``c' = f * c + i * g`` and ``h' = o * tanh(c')``. The nonlinearities are exact float32 or
    LUTs (``lut``: one :class:`~pimjax.hw.LUTConfig` for all, or a mapping ``{"sigmoid": ...,
    "tanh": ...}``); the elementwise products are float32. The forget-gate bias starts at
    ``forget_bias``. Sizes that are not integers >= 1 raise TypeError / ValueError naming them.

    Args:
      in_features: size of ``x``.
      hidden: size of ``h`` and ``c``.
      hw: per-phase hardware of the gate matmul.
      layer_id: the gate layer's id (unique within a model: it separates random streams).
      rngs: initialisation.
      lut: activation tables, or ``None`` for exact activations.
      forget_bias: initial forget-gate bias.
      name: the gate layer's name (costs).
    """

    def __init__(self, in_features: int, hidden: int, *, hw: TrainingHardware, layer_id: int,
                 rngs: nnx.Rngs, lut: LUTs = None, forget_bias: float = 1.0, name: str = ""):
        self.in_features = check_int("in_features", in_features, 1)
        self.hidden = check_int("hidden", hidden, 1)
        self.lut = lut
        self.gates = EmuLinear(in_features + hidden, 4 * hidden, hw=hw, layer_id=layer_id, rngs=rngs,
                               name=name or f"lstm{layer_id}")
        if forget_bias:
            b = self.gates.bias[...]
            self.gates.bias[...] = b.at[hidden:2 * hidden].set(forget_bias)

    def initial_state(self, batch: int) -> tuple[jax.Array, jax.Array]:
        z = jnp.zeros((batch, self.hidden), jnp.float32)
        return z, z

    def __call__(self, x: jax.Array, state: tuple[jax.Array, jax.Array], *, seed: jax.Array
                 ) -> tuple[jax.Array, jax.Array]:
        """One step: ``x`` (B, in_features), ``state = (h, c)`` each (B, hidden); returns ``(h', c')``."""
        h, c = state
        z = self.gates(jnp.concatenate([x.astype(jnp.float32), h], axis=-1), seed=seed)
        i, f, g, o = jnp.split(z, 4, axis=-1)
        i = _act("sigmoid", i, self.lut)
        f = _act("sigmoid", f, self.lut)
        g = _act("tanh", g, self.lut)
        o = _act("sigmoid", o, self.lut)
        c2 = f * c + i * g
        h2 = o * _act("tanh", c2, self.lut)
        return h2, c2
