"""Gaussian noise on output activations (Yang & Sze, "Noise Resilience"), exact and reproducible.

:func:`add_noise` adds zero-mean Gaussian noise to a layer's output activations ``y``:

* ``z = sqrt(-2 log u1) cos(2 pi u2)`` (Box-Muller, float32), one draw per output element,
  with ``u1 = (a + 1) 2**-24`` in (0, 1] and ``u2 = b 2**-24`` in [0, 1), ``a`` and ``b`` the top
  24 bits of two counter-based hash words (:func:`pimjax.numerics.hash_words`) of the
  element's row-major index under ``key`` (:func:`gaussian`). The key of an emulated layer is
  :func:`noise_key` of the layer's seed, so the noise is reproducible and the same for every
  hardware config evaluated with that seed (common random numbers: a sweep over noise levels
  scales the same ``z``). A counter hash and Box-Muller instead of ``jax.random.normal``
  (threefry bits, ``erfinv``) keep the program small: they made the noise the largest part of
  a sweep's compile time;
* the standard deviation ``s`` is ``level`` (``"fixed"``) or ``float32(level * m)``
  (``"rescaled"``), ``m`` the maximum of ``|y|`` over each example (all axes but the first) or
  over the whole tensor (:class:`pimjax.hw.NoiseConfig` ``over``);
* ``y' = float32(float64(y) + float64(z) * float64(s))``: the product of two float32 numbers is
  exact in float64, so the result does not depend on whether a compiler fuses the multiply and
  the add: a vmapped sweep and a run of one config give the same bits.

``kind`` and ``level`` may be traced (a sweep vmaps over them; the kind is then an id of
:data:`pimjax.hw.NOISE_KINDS` and the noise is selected per config) or static
(:func:`add_output_noise` with a :class:`~pimjax.hw.NoiseConfig`, what
:func:`pimjax.nn.emulated_dot` applies when its hardware carries ``noise``).

The module also holds the trace-time hook through which a sweep evaluates a model's forward
matmuls with traced numerics (:func:`override_forward`); :func:`pimjax.nn.with_hardware` (in ``_layers``) puts a trained model
on other hardware (e.g. the same hardware plus noise) without retraining.
"""

from __future__ import annotations

import contextlib
import math
import contextvars
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from pimjax.hw import NOISE_SCALES, NoiseConfig, noise_kind_id
from pimjax.numerics import fold_key, hash_words

NOISE_STREAM = 7
"""Sub-stream of a layer's seed that its noise draws from (0, 1, 2 are the FF/BP/UP phases)."""

_FIXED, _RESCALED = 1, 2


def noise_key(seed: Any) -> jax.Array:
    """The noise key (a uint32 seed) of an emulated layer with seed ``seed`` (its :data:`NOISE_STREAM`)."""
    return jnp.asarray(fold_key(seed, NOISE_STREAM), jnp.uint32) if isinstance(seed, (int, np.integer)) \
        else fold_key(seed, NOISE_STREAM)


def gaussian(key: Any, shape: tuple[int, ...]) -> jax.Array:
    """Standard normal float32 draws, one per element of ``shape``, from ``key`` (module docstring).

    ``key``: an integer seed (uint32 scalar), a ``jax.random`` key or raw uint32[2] key data.
    The same key gives the same draws; draw ``i`` depends only on ``i`` and the key.
    """
    w = hash_words(key, (2, *shape))
    u1 = ((w[0] >> 8) + 1).astype(jnp.float32) * jnp.float32(2.0**-24)  # (0, 1], exact
    u2 = (w[1] >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)  # [0, 1), exact
    r = jnp.sqrt(jnp.float32(-2.0) * jnp.log(u1))
    z = r * jnp.cos(jnp.float32(2 * np.pi) * u2)
    # Divided by a run-time 1.0 (exact): XLA does not fuse a float division into a consumer that
    # reuses its elements, so the draws are computed once, not again for each config of a vmapped
    # sweep that broadcasts them (the hash and the cosine would be recomputed per config).
    one = w[0].astype(jnp.float32) * jnp.float32(0.0) + jnp.float32(1.0)  # full shape: not a reciprocal
    return z / one


def _max_abs(y: jax.Array, over: str) -> jax.Array:
    a = jnp.abs(y)
    if over == "tensor" or y.ndim < 2:
        return jnp.max(a, keepdims=True) if y.ndim else a
    return jnp.max(a, axis=tuple(range(1, y.ndim)), keepdims=True)


def add_noise(y: jax.Array, kind: Any, level: Any, key: Any, *, over: str = "example") -> jax.Array:
    """``y`` plus zero-mean Gaussian noise (module docstring); float32 in, float32 out.

    Args:
      y: the layer's output activations (first axis: the examples of the batch).
      kind: ``"none"``, ``"fixed"``, ``"rescaled"`` or their (possibly traced) integer ids.
      level: the standard deviation (fixed) or its ratio to the maximum magnitude (rescaled);
        a number or a traced float32 scalar.
      key: an integer seed (a uint32 scalar, e.g. :func:`noise_key`), a ``jax.random`` key or
        uint32[2] key data.
      over: ``"example"`` or ``"tensor"``: what the maximum of rescaled noise is taken over.

    >>> import jax.numpy as jnp
    >>> y = jnp.zeros((2, 3))
    >>> bool(jnp.all(add_noise(y, "none", 0.5, 0) == y))
    True
    >>> a, b = add_noise(y, "fixed", 0.5, 0), add_noise(y, "fixed", 0.5, 0)
    >>> bool(jnp.all(a == b)), bool(jnp.any(a != y))
    (True, True)
    """
    if over not in NOISE_SCALES:
        raise ValueError(f"over must be one of {NOISE_SCALES}, got {over!r}")
    kid = noise_kind_id(kind)
    y = jnp.asarray(y, jnp.float32)
    if isinstance(kid, int) and kid == 0:
        return y
    if isinstance(level, bool) or isinstance(level, str):
        raise TypeError(f"level must be a number >= 0 (a noise standard deviation or ratio), got {level!r}")
    if isinstance(level, (int, float, np.number)) or (isinstance(level, np.ndarray) and level.ndim == 0):
        if not (math.isfinite(float(level)) and float(level) >= 0):
            raise ValueError(f"level must be a finite number >= 0 (a noise standard deviation or ratio), got {level!r}")
        level = np.float32(level)
    lvl = jnp.asarray(level, jnp.float32)
    z = gaussian(key, y.shape)
    if isinstance(kid, int):
        s = lvl if kid == _FIXED else lvl * _max_abs(y, over)
    else:
        kid = jnp.asarray(kid)
        s = jnp.where(kid == _RESCALED, lvl * _max_abs(y, over), lvl)
    s = jax.lax.stop_gradient(s)  # a perturbation: the gradient passes straight through (d y'/d y = 1)
    with jax.enable_x64(True):
        out = (y.astype(jnp.float64) + z.astype(jnp.float64) * s.astype(jnp.float64)).astype(jnp.float32)
    if not isinstance(kid, int):
        out = jnp.where(kid == 0, y, out)
    return out


def add_output_noise(y: jax.Array, noise: NoiseConfig | None, key: Any) -> jax.Array:
    """``y`` with the noise of a (static) :class:`~pimjax.hw.NoiseConfig` (None: unchanged)."""
    if noise is None:
        return jnp.asarray(y, jnp.float32)
    if not isinstance(noise, NoiseConfig):
        raise TypeError(f"noise must be a NoiseConfig or None, got {type(noise).__name__}")
    return add_noise(y, noise.kind, noise.std, key, over=noise.over)


# ---------------------------------------------------------------------------------------------
# trace-time override of the forward matmul (sweeps with traced numerics)

_FORWARD: contextvars.ContextVar[Callable | None] = contextvars.ContextVar("pimjax_forward_override", default=None)


def forward_override() -> Callable | None:
    """The active forward override of :func:`pimjax.nn.emulated_dot`, or None."""
    return _FORWARD.get()


@contextlib.contextmanager
def override_forward(fn: Callable) -> Iterator[None]:
    """While tracing inside this context, ``emulated_dot(x, w, hw, seed=...)`` returns ``fn(x, w, hw, seed)``.

    ``fn`` gets the unflattened input ``x`` (..., K), the float32 weights (K, N), the layer's
    hardware and its seed, and returns ``(y, ff_events)`` like ``emulated_dot``. Sweeps use it
    to run every layer of an unchanged model on hardware with traced numerics
    (:mod:`pimjax.apps.sweep`); it is a trace-time setting (nothing changes outside it).
    """
    token = _FORWARD.set(fn)
    try:
        yield
    finally:
        _FORWARD.reset(token)


__all__ = ["NOISE_STREAM", "add_noise", "gaussian", "add_output_noise", "forward_override", "noise_key", "override_forward"]
