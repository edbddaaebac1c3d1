"""Validation of static integer config fields, shared by every layer of pimjax.

It imports nothing from pimjax, so numerics, hw, units, system, cost, nn and apps may all use it.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def check_int(name: str, v: Any, lo: int, hi: int | None = None) -> int:
    """Checks that ``v`` is an integer in ``lo..hi`` (both inclusive) and returns it as an ``int``.

    Python ints, numpy integer scalars and concrete 0-d integer arrays (numpy or JAX) are
    integers; bools (Python or numpy) are not, nor are traced values.

    Args:
      name: the field's name, used in the error messages.
      v: the value to check.
      lo: the smallest valid value.
      hi: the largest valid value; ``None``: no upper bound.

    Returns:
      ``int(v)``.

    Raises:
      TypeError: ``v`` is not an integer.
      ValueError: ``v`` is out of range.

    >>> check_int("rows", np.int64(4), 1, 256)
    4
    >>> check_int("rows", 0, 1, 256)
    Traceback (most recent call last):
    ...
    ValueError: rows must be in 1..256, got 0
    >>> check_int("layer_id", -1, 0)
    Traceback (most recent call last):
    ...
    ValueError: layer_id must be an integer >= 0, got -1
    >>> check_int("rows", True, 1)
    Traceback (most recent call last):
    ...
    TypeError: rows must be an integer, got bool True
    """
    if _is_zero_d_int_array(v):  # a concrete 0-d integer array (numpy or JAX): its value
        v = v.item()
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}")
    iv = int(v)
    if hi is None:
        if iv < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {iv}")
    elif not lo <= iv <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}, got {iv}")
    return iv


def _is_zero_d_int_array(v: Any) -> bool:
    dt = getattr(v, "dtype", None)
    if dt is None or getattr(v, "ndim", None) != 0 or isinstance(v, np.generic):
        return False
    if isinstance(v, jax.core.Tracer):
        return False
    return np.issubdtype(np.dtype(dt), np.integer)


def int_field(cfg: Any, field: str, lo: int, hi: int | None = None, *, name: str | None = None) -> None:
    """:func:`check_int` on the dataclass field ``cfg.field`` (named ``Class.field`` unless
    ``name``), which is then stored as a Python ``int`` (frozen dataclasses included), so a config
    built from numpy integers hashes, compares and serializes like one built from ints.

    >>> import dataclasses
    >>> @dataclasses.dataclass(frozen=True)
    ... class Cfg:
    ...     rows: int
    ...     def __post_init__(self):
    ...         int_field(self, "rows", 1, 256)
    >>> type(Cfg(np.int32(8)).rows).__name__
    'int'
    >>> Cfg(300)
    Traceback (most recent call last):
    ...
    ValueError: Cfg.rows must be in 1..256, got 300
    """
    v = check_int(name or f"{type(cfg).__name__}.{field}", getattr(cfg, field), lo, hi)
    object.__setattr__(cfg, field, v)
