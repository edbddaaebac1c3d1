"""Number formats: fixed point ``Fx(bits, frac, signed, overflow)`` and float formats.

docs/design.md section 2: a fixed-point code ``c`` has the value ``c * 2**-frac``; its range is
``[-2**(bits-1), 2**(bits-1)-1]`` (signed) or ``[0, 2**bits-1]`` (unsigned); overflow either
saturates (clips) or wraps (two's complement modulo ``2**bits``).

Formats are frozen, keyword-only dataclasses validated at construction. ``FixedFormat`` is also
a pytree whose numeric fields are leaves, so a sweep can ``vmap`` over bit widths and fraction
bits (traced values skip the construction-time checks, which concrete values always pass).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Union

import jax
import ml_dtypes
import numpy as np

ROUNDING_MODES: tuple[str, ...] = (
    "floor",
    "toward_zero",
    "nearest_even",
    "nearest_away",
    "stochastic",
    "sr_lo",
)
"""Rounding modes, in the order of their integer ids (a traced rounding is an id)."""

OVERFLOW_MODES: tuple[str, ...] = ("saturate", "wrap")
"""Fixed-point overflow modes, in the order of their integer ids."""

MAX_FIXED_BITS = 32


def rounding_id(rounding: Any) -> Any:
    """Returns the integer id of a rounding mode name; ids (also traced ones) pass through."""
    if isinstance(rounding, str):
        if rounding not in ROUNDING_MODES:
            raise ValueError(
                f"rounding must be one of {ROUNDING_MODES}, got {rounding!r}"
            )
        return ROUNDING_MODES.index(rounding)
    if rounding is None or isinstance(rounding, (bool, float, bytes)):
        raise TypeError(f"rounding must be a mode name (one of {ROUNDING_MODES}) or an integer id in "
                        f"0..{len(ROUNDING_MODES) - 1}, got {rounding!r}")
    if isinstance(rounding, (int, np.integer)):
        if not 0 <= int(rounding) < len(ROUNDING_MODES):
            raise ValueError(
                f"rounding id must be in 0..{len(ROUNDING_MODES) - 1}, got {rounding}"
            )
        return int(rounding)
    return rounding  # traced / array id: checked by the caller's data


def _is_concrete(v: Any) -> bool:
    return not isinstance(v, jax.core.Tracer)


def _check_int_field(name: str, v: Any, lo: int, hi: int) -> None:
    if isinstance(v, bool):
        raise TypeError(f"{name} must be an integer, got bool {v!r}")
    if isinstance(v, (int, np.integer)):
        if not lo <= int(v) <= hi:
            raise ValueError(f"{name} must be in {lo}..{hi}, got {v}")
        return
    if isinstance(v, float):
        raise TypeError(f"{name} must be an integer, got float {v!r}")
    if _is_concrete(v):
        arr = np.asarray(v)
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
        if arr.size and (arr.min() < lo or arr.max() > hi):
            raise ValueError(f"{name} must be in {lo}..{hi}, got values {arr.min()}..{arr.max()}")


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True, kw_only=True)
class FixedFormat:
    """Fixed-point format ``Fx(bits, frac, signed, overflow)`` (docs/design.md section 2).

    Args:
      bits: total width, 1..32 (a Python int, or an integer array/tracer for sweeps).
      frac: fraction bits; the value of code ``c`` is ``c * 2**-frac``. Any integer in
        -64..64 (negative means the LSB weighs more than 1).
      signed: two's complement if True, else unsigned.
      overflow: ``"saturate"`` (clip to range) or ``"wrap"`` (modulo ``2**bits``).

    Example:
      >>> from pimjax.numerics import FixedFormat
      >>> q8_8 = FixedFormat(bits=16, frac=8)
      >>> q8_8.max_value, q8_8.min_value
      (127.99609375, -128.0)
    """

    bits: Any
    frac: Any = 0
    signed: bool = True
    overflow: str = "saturate"

    def __post_init__(self) -> None:
        _check_int_field("FixedFormat.bits", self.bits, 1, MAX_FIXED_BITS)
        _check_int_field("FixedFormat.frac", self.frac, -64, 64)
        if not isinstance(self.signed, (bool, np.bool_)):
            raise TypeError(f"FixedFormat.signed must be a bool, got {self.signed!r}")
        if self.overflow not in OVERFLOW_MODES:
            raise ValueError(
                f"FixedFormat.overflow must be one of {OVERFLOW_MODES}, got {self.overflow!r}"
            )

    # pytree: numeric fields are leaves, signedness and overflow are static.
    def tree_flatten(self):
        return (self.bits, self.frac), (self.signed, self.overflow)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        object.__setattr__(obj, "bits", children[0])
        object.__setattr__(obj, "frac", children[1])
        object.__setattr__(obj, "signed", aux[0])
        object.__setattr__(obj, "overflow", aux[1])
        return obj

    @property
    def is_static(self) -> bool:
        """True when bits and frac are Python integers (not traced or batched)."""
        return isinstance(self.bits, (int, np.integer)) and isinstance(self.frac, (int, np.integer))

    @property
    def min_code(self) -> int:
        return -(1 << (int(self.bits) - 1)) if self.signed else 0

    @property
    def max_code(self) -> int:
        b = int(self.bits)
        return (1 << (b - 1)) - 1 if self.signed else (1 << b) - 1

    @property
    def min_value(self) -> float:
        return float(self.min_code) * 2.0 ** -int(self.frac)

    @property
    def max_value(self) -> float:
        return float(self.max_code) * 2.0 ** -int(self.frac)

    @property
    def code_dtype(self) -> np.dtype:
        """Smallest standard integer dtype that holds every code (int64 when traced)."""
        if not self.is_static:
            return np.dtype(np.int64)
        b = int(self.bits)
        for dt, width in ((np.int8, 8), (np.int16, 16), (np.int32, 32)):
            if (self.signed and b <= width) or (not self.signed and b < width):
                return np.dtype(dt)
        return np.dtype(np.int64)

    def __str__(self) -> str:
        s = "Fx" if self.signed else "UFx"
        return f"{s}({self.bits},{self.frac},{self.overflow})"


_FLOAT_DTYPES = {
    "fp32": np.dtype(np.float32),
    "bf16": np.dtype(ml_dtypes.bfloat16),
    "fp16": np.dtype(np.float16),
    "fp8_e4m3": np.dtype(ml_dtypes.float8_e4m3fn),
    "fp8_e5m2": np.dtype(ml_dtypes.float8_e5m2),
}
FLOAT_FORMAT_NAMES: tuple[str, ...] = tuple(_FLOAT_DTYPES)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FloatFormat:
    """Float format through ``ml_dtypes``: fp32, bf16, fp16, fp8 e4m3 (fn) and fp8 e5m2.

    Rounding into a float format is round-to-nearest-even (docs/design.md section 2, float
    datapaths). Values beyond the largest finite number become +-Inf for the IEEE-style
    formats and saturate to +-max for ``fp8_e4m3`` (it has no Inf); both are counted as
    overflow events.

    Example:
      >>> from pimjax.numerics import FloatFormat
      >>> FloatFormat(name="bf16").mantissa_bits
      7
    """

    name: str

    def __post_init__(self) -> None:
        if self.name not in _FLOAT_DTYPES:
            raise ValueError(
                f"FloatFormat.name must be one of {FLOAT_FORMAT_NAMES}, got {self.name!r}"
            )

    @property
    def dtype(self) -> np.dtype:
        return _FLOAT_DTYPES[self.name]

    @property
    def mantissa_bits(self) -> int:
        return int(ml_dtypes.finfo(self.dtype).nmant)

    @property
    def min_normal_exp(self) -> int:
        return int(ml_dtypes.finfo(self.dtype).minexp)

    @property
    def max_finite(self) -> float:
        return float(ml_dtypes.finfo(self.dtype).max)

    @property
    def has_inf(self) -> bool:
        return self.name != "fp8_e4m3"

    @property
    def bits(self) -> int:
        return int(self.dtype.itemsize * 8)

    def __str__(self) -> str:
        return self.name


Format = Union[FixedFormat, FloatFormat]


def fx(bits: int, frac: int = 0, *, signed: bool = True, overflow: str = "saturate") -> FixedFormat:
    """Shorthand for ``FixedFormat(bits=bits, frac=frac, signed=signed, overflow=overflow)``."""
    return FixedFormat(bits=bits, frac=frac, signed=signed, overflow=overflow)


def check_format(name: str, fmt: Any, *, allow_exact: bool = False) -> None:
    """Raises TypeError unless ``fmt`` is a FixedFormat, a FloatFormat (or None if allowed)."""
    if fmt is None and allow_exact:
        return
    if not isinstance(fmt, (FixedFormat, FloatFormat)):
        allowed = "FixedFormat, FloatFormat" + (" or None (exact)" if allow_exact else "")
        raise TypeError(f"{name} must be a {allowed}, got {type(fmt).__name__}")
