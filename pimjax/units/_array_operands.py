"""Operands and configuration of the multiplier array: the checks every entry point runs and
the preparation of checked operands for a jit boundary (:mod:`._systolic`, :mod:`pimjax.system`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pimjax.hw import ArrayConfig
from pimjax.numerics import FixedFormat, NumericEvents, apply_overflow
from pimjax.numerics._events import count_true as _count
from pimjax.numerics._random import check_key

_STAGES = ("a_format", "b_format", "product_format", "tree_format", "accumulator_format", "output_format")


def check_static_formats(named, who: str) -> None:
    """TypeError unless every FixedFormat of ``named`` (``(name, format)`` pairs) is static.

    The units choose their path, bounds and code dtypes from the formats at trace time, so
    bits and frac must be Python (or numpy) integers, not traced values.
    """
    for name, fmt in named:
        if isinstance(fmt, FixedFormat) and not fmt.is_static:
            raise TypeError(
                f"{who} needs static formats (integer bits and frac), but {name} has traced or "
                "array-valued ones; traced numerics are swept with pimjax.apps.sweep"
            )


def check_config(config: Any, who: str = "systolic_matmul") -> None:
    """TypeError unless ``config`` is an :class:`~pimjax.hw.ArrayConfig` with static formats."""
    if not isinstance(config, ArrayConfig):
        raise TypeError(f"config must be an ArrayConfig, got {type(config).__name__}")
    check_static_formats(((f"ArrayConfig.{f}", getattr(config, f)) for f in _STAGES), who)


def check_shapes(a, b):
    with jax.enable_x64(True):  # keep int64 / uint32 codes (32-bit unsigned formats) intact
        a = jnp.asarray(a)
        b = jnp.asarray(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"a and b must be 2-D (M x K, K x N), got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: a is {a.shape}, b is {b.shape} (a.shape[1] must equal b.shape[0])")
    if a.shape[1] == 0:
        raise ValueError("K (a.shape[1]) must be at least 1")
    return a, b


def _in_format(x, given, fmt: FixedFormat, name: str, field: str) -> tuple[jax.Array, NumericEvents]:
    """Codes ``x`` (the array of the caller's ``given``) checked against (concrete) or brought
    into (traced) ``fmt``'s code range."""
    info = np.iinfo(x.dtype)
    if (info.min >= fmt.min_code and info.max <= fmt.max_code) or x.size == 0:
        return x, NumericEvents.zero()  # every value of the dtype is a code of fmt
    if not isinstance(given, jax.core.Tracer):
        # concrete, also a constant (numpy or jax array) of a jit trace: evaluated now, not staged
        with jax.ensure_compile_time_eval(), jax.enable_x64(True):
            c = jnp.asarray(given)
            lo, hi = (int(v) for v in jax.device_get((jnp.min(c), jnp.max(c))))
        if lo < fmt.min_code or hi > fmt.max_code:
            raise ValueError(
                f"{name} holds codes {lo}..{hi}, outside ArrayConfig.{field} {fmt}: its codes are "
                f"{fmt.min_code}..{fmt.max_code} (quantize real values with pimjax.numerics.quantize)"
            )
        return x, NumericEvents.zero()
    # traced (jit / vmap): no error can be raised; the format's overflow rule brings every code
    # into range before any path runs, and each such code is counted
    with jax.enable_x64(True):
        y, over = apply_overflow(x, fmt.bits, fmt.signed, fmt.overflow)
        y = y.astype(jnp.promote_types(x.dtype, fmt.code_dtype))
    return y, NumericEvents.make(overflow=_count(over))


def check_operands(a, b, cfg: ArrayConfig, *, who: str = "systolic_matmul"):
    """Validates (M, K) and (K, N) operands for ``cfg``'s datapath: ``(a, b, events)``.

    The one check of every entry point (:func:`systolic_matmul`, :func:`array_accumulate`,
    :func:`~pimjax.system.system_matmul`; :func:`emulated_matmul` quantizes its own). Raises
    TypeError unless ``cfg`` is an ArrayConfig with static formats, and for operands of the
    wrong kind: fixed point needs integer codes, a float datapath values of exactly the
    operand format's dtype (quantize them to it first: a float32 0.1 is no bf16 value).
    Fixed-point codes outside their format (``a_format`` / ``b_format``) raise ValueError when
    the operands are concrete; traced operands (under ``jit`` / ``vmap``) cannot raise, so
    such codes are saturated or wrapped by the format's own ``overflow`` and counted in
    ``events.overflow`` (the same result on every path). Operand dtypes whose every value is
    a code of the format (int8 for an 8-bit signed format) skip the check.
    """
    check_config(cfg, who)
    a_in, b_in = a, b
    a, b = check_shapes(a, b)
    a, ea = _check_operand(a, a_in, "a", "a_format", cfg)
    b, eb = _check_operand(b, b_in, "b", "b_format", cfg)
    return a, b, ea.merge(eb)


def _check_operand(x, given, name: str, field: str, cfg: ArrayConfig) -> tuple[jax.Array, NumericEvents]:
    fmt = getattr(cfg, field)
    if cfg.is_float:
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"{name} must be a float array for a float datapath, got dtype {x.dtype}")
        if x.dtype != fmt.dtype:
            raise TypeError(
                f"{name} must have dtype {fmt.dtype} of ArrayConfig.{field} ({fmt}), got {x.dtype}: round "
                f"it first with pimjax.numerics.quantize({name}, config.{field})"
            )
        return x, NumericEvents.zero()
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"{name} must hold integer codes for a fixed-point datapath, got dtype {x.dtype}")
    return _in_format(x, given, fmt, name, field)


def jit_operands(a, b, config: ArrayConfig, key):
    """``(a, b, key, jittable)``: checked operands and key ready to cross a jit boundary.

    Operands are checked codes (:func:`check_operands`); a concrete 64-bit code array is
    narrowed to its format's code dtype (every code fits: the check has run) and an integer
    seed goes in as the uint32 it stands for (validated by
    :func:`~pimjax.numerics._random.check_key`), so a jitted call gives the bits of an
    eager one. ``jittable`` is False where an argument cannot cross unchanged (a traced
    64-bit array, a seed given as a list): the caller then runs its core as it is.
    """
    check_key(key)
    if isinstance(key, (int, np.integer)):
        key = np.uint32(int(key))
    if not config.is_float:
        a, b = _narrow(a, config.a_format), _narrow(b, config.b_format)
    ok = (not isinstance(key, (list, tuple)) and all(_fits_jit(x) for x in (a, b))
          and not (isinstance(key, (jax.Array, np.ndarray)) and not _fits_jit(key)))
    return a, b, key, ok


def _narrow(x, fmt: FixedFormat):
    if isinstance(x, jax.core.Tracer) or np.dtype(x.dtype).itemsize <= 4:
        return x
    with jax.enable_x64(True):
        return x.astype(fmt.code_dtype)


def _fits_jit(x) -> bool:
    """True when ``x`` keeps its dtype through a jit boundary (no 64-bit type to canonicalize)."""
    dt = x.dtype
    return jax.dtypes.issubdtype(dt, jax.dtypes.prng_key) or np.dtype(dt).itemsize <= 4
