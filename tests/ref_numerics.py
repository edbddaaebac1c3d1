"""Plain-Python reference model of ``pimjax.numerics`` (docs/design.md section 2).

Written from docs/design.md's definitions and the documented bit sources, in Python integers and
``fractions.Fraction`` only: no jax, no numpy, nothing shared with the implementation. The
tests compare the implementation against these functions with exact equality.
"""

from __future__ import annotations

import math
from fractions import Fraction

DETERMINISTIC = ("floor", "toward_zero", "nearest_even", "nearest_away")
STOCHASTIC = ("stochastic", "sr_lo")
MODES = DETERMINISTIC + STOCHASTIC

# ------------------------------------------------------------------------ fixed point


def code_range(bits: int, signed: bool) -> tuple[int, int]:
    """``[-2**(bits-1), 2**(bits-1)-1]`` signed, ``[0, 2**bits-1]`` unsigned."""
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def overflow(v: int, bits: int, signed: bool, mode: str) -> tuple[int, bool]:
    """Saturate (clip) or wrap (two's complement modulo ``2**bits``); returns (code, overflowed)."""
    lo, hi = code_range(bits, signed)
    over = not lo <= v <= hi
    if mode == "saturate":
        return min(max(v, lo), hi), over
    if mode == "wrap":
        return (v - lo) % 2**bits + lo, over
    raise ValueError(mode)


def top_bits(R: int, r: int, d: int) -> int:
    """``R'``: the top ``d`` bits of the ``r``-bit word ``R`` (docs/design.md section 2)."""
    assert 0 <= R < 2**r
    return R >> (r - d) if d <= r else R << (d - r)


def round_shift(c: int, d: int, mode: str, R: int | None = None, r: int = 32) -> int:
    """Rounds the exact integer ``c`` by ``d`` fraction bits (``d <= 0``: exact left shift).

    Deterministic modes from the exact rational ``c / 2**d``; stochastic modes (``stochastic``
    and ``sr_lo`` alike, given the word ``R``) as ``floor((c + R') / 2**d)``.
    """
    if d <= 0:
        return c * 2 ** (-d)
    x = Fraction(c, 2**d)
    if mode == "floor":
        return math.floor(x)
    if mode == "toward_zero":
        return math.trunc(x)
    if mode == "nearest_even":
        return round(x)  # Fraction.__round__ rounds half to even
    if mode == "nearest_away":
        return (1 if x >= 0 else -1) * math.floor(abs(x) + Fraction(1, 2))
    if mode in STOCHASTIC:
        if R is None:
            raise ValueError("stochastic rounding needs a word")
        return math.floor(Fraction(c + top_bits(R, r, d), 2**d))
    raise ValueError(mode)


def round_shift_int(c: int, d: int, mode: str) -> int:
    """Same as :func:`round_shift` for deterministic modes, with integer divmod (fast)."""
    if d <= 0:
        return c << (-d)
    q, m = divmod(c, 1 << d)  # floor, 0 <= m < 2**d
    if mode == "floor":
        return q
    if mode == "toward_zero":
        return q + (1 if (c < 0 and m) else 0)
    twice, one = 2 * m, 1 << d
    if mode == "nearest_even":
        return q + (1 if twice > one or (twice == one and q % 2 == 1) else 0)
    if mode == "nearest_away":
        return q + (1 if twice > one or (twice == one and c >= 0) else 0)
    raise ValueError(mode)


def requantize(c: int, src_frac: int, bits: int, frac: int, signed: bool, ovf: str, mode: str,
               R: int | None = None, r: int = 32) -> tuple[int, bool]:
    """Code ``c`` with ``src_frac`` fraction bits into ``Fx(bits, frac, signed, ovf)``."""
    d = src_frac - frac
    if mode in STOCHASTIC:
        v = round_shift(c, d, mode, R, r)
    else:
        v = round_shift_int(c, d, mode)
    return overflow(v, bits, signed, ovf)


def dyadic(x: Fraction) -> tuple[int, int]:
    """``(c, d)`` with ``x == c / 2**d`` and ``d >= 0`` minimal (x must be dyadic)."""
    num, den = x.numerator, x.denominator
    d = den.bit_length() - 1
    assert den == 1 << d, x
    return num, d


def round_real(y: Fraction, mode: str, R: int | None = None, r: int = 32) -> int:
    """Rounds the exact dyadic rational ``y`` to an integer (a real is ``c / 2**d`` exactly)."""
    c, d = dyadic(y)
    return round_shift(c, d, mode, R, r)


def quantize(x: float, bits: int, frac: int, signed: bool, ovf: str, mode: str,
             R: int | None = None, r: int = 32) -> tuple[int, bool, bool, bool]:
    """Real ``x`` into ``Fx``: returns ``(code, overflow, nan, inf)`` (docs/design.md section 2).

    NaN becomes 0 (counted as nan), +-Inf saturates (counted as inf, not as overflow),
    otherwise ``x * 2**frac`` is rounded and saturated or wrapped (counted as overflow).
    """
    lo, hi = code_range(bits, signed)
    if math.isnan(x):
        return 0, False, True, False
    if math.isinf(x):
        return (hi if x > 0 else lo), False, False, True
    y = Fraction(x) * Fraction(2) ** frac
    v = round_real(y, mode, R, r)
    code, over = overflow(v, bits, signed, ovf)
    return code, over, False, False


def decode(c: int, frac: int) -> Fraction:
    return Fraction(c) * Fraction(2) ** (-frac)


# ------------------------------------------------------------------------------ floats

# (mantissa bits p, smallest normal exponent emin, largest finite value, has Inf)
FLOATS = {
    "fp32": (23, -126, (2 - Fraction(1, 2**23)) * 2**127, True),
    "bf16": (7, -126, (2 - Fraction(1, 2**7)) * 2**127, True),
    "fp16": (10, -14, Fraction(65504), True),
    "fp8_e4m3": (3, -6, Fraction(448), False),
    "fp8_e5m2": (2, -14, Fraction(57344), True),
}


def floor_log2(a: Fraction) -> int:
    """``E`` with ``2**E <= a < 2**(E+1)`` for ``a > 0`` (exact)."""
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    return e


def round_float(x, name: str) -> tuple[float, bool]:
    """Rounds ``x`` (float or Fraction) to float format ``name``, to nearest, ties to even.

    Precision ``p + 1`` bits, gradual underflow below ``2**emin``. Past the largest finite
    value: +-Inf (IEEE-style formats) or +-max (fp8_e4m3, no Inf), reported as overflow.
    NaN stays NaN; +-Inf stays +-Inf (fp8_e4m3: +-max, not an overflow). Returns a Python
    float (every value of these formats is a float64).
    """
    p, emin, maxf, has_inf = FLOATS[name]
    if isinstance(x, float):
        if math.isnan(x):
            return math.nan, False
        if math.isinf(x):
            return (x if has_inf else math.copysign(float(maxf), x)), False
        if x == 0:
            return x, False  # keeps the sign of zero
        x = Fraction(x)
    if x == 0:
        return 0.0, False
    sign = -1 if x < 0 else 1
    a = abs(x)
    e = max(floor_log2(a), emin)
    ulp = Fraction(2) ** (e - p)
    q = round(a / ulp) * ulp  # half to even
    if q > maxf:
        return (sign * math.inf if has_inf else sign * float(maxf)), True
    v = float(q)
    assert Fraction(v) == q
    return (v if sign > 0 else -v), False  # -v: a result that rounds to 0 keeps x's sign


def add_rounded(a: float, b: float, name: str) -> tuple[float, bool]:
    """The exact sum ``a + b`` rounded once to ``name``."""
    if math.isnan(a) or math.isnan(b):
        return math.nan, False
    if math.isinf(a) or math.isinf(b):
        s = a + b  # inf + -inf is NaN
        if math.isnan(s):
            return math.nan, False
        return round_float(s, name)
    s = Fraction(a) + Fraction(b)
    if s == 0:
        # IEEE: x + (-x) is +0 in round-to-nearest, -0 + -0 is -0
        return (-0.0 if (math.copysign(1, a) < 0 and math.copysign(1, b) < 0) else 0.0), False
    return round_float(s, name)


# ------------------------------------------------------------------------- bit sources

M32 = 0xFFFFFFFF


def lowbias32(x: int) -> int:
    """C. Wellons' lowbias32 integer hash on 32-bit words."""
    x &= M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & M32
    x ^= x >> 16
    return x


def hash_word(s0: int, s1: int, i: int) -> int:
    """Word ``i`` of the counter hash: ``lowbias32(lowbias32(i ^ s0) + s1)`` (uint32)."""
    return lowbias32((lowbias32((i & M32) ^ s0) + s1) & M32)


def lfsr_step(s: int, taps=(32, 22, 2, 1)) -> int:
    """One clock of the 32-bit Fibonacci LFSR: feedback = XOR of bits ``t - 1`` for the taps,
    shifted in at the LSB of a left shift."""
    fb = 0
    for t in taps:
        fb ^= (s >> (t - 1)) & 1
    return ((s << 1) | fb) & M32


def lfsr_run(seed: int, n: int, taps=(32, 22, 2, 1)) -> list[int]:
    """States ``S_0 .. S_n`` stepping bit by bit from ``S_0 = seed``."""
    out = [seed]
    s = seed
    for _ in range(n):
        s = lfsr_step(s, taps)
        out.append(s)
    return out


def _gf2_matrix_of(step) -> list[int]:
    """Columns of the linear map ``step`` on 32-bit words (column j = image of bit j)."""
    return [step(1 << j) for j in range(32)]


def _gf2_apply(cols: list[int], v: int) -> int:
    out = 0
    j = 0
    while v:
        if v & 1:
            out ^= cols[j]
        v >>= 1
        j += 1
    return out


def _gf2_compose(a: list[int], b: list[int]) -> list[int]:
    """Columns of ``a after b``."""
    return [_gf2_apply(a, col) for col in b]


def lfsr_jump(seed: int, t: int, taps=(32, 22, 2, 1)) -> int:
    """``S_t`` by square-and-multiply of the one-clock map (for large ``t``)."""
    step = _gf2_matrix_of(lambda v: lfsr_step(v, taps))
    acc = [1 << j for j in range(32)]
    while t:
        if t & 1:
            acc = _gf2_compose(step, acc)
        step = _gf2_compose(step, step)
        t >>= 1
    return _gf2_apply(acc, seed)


def sr_lo_words(seed: int, t0: int, offset: int, n: int, r: int, taps=(32, 22, 2, 1)) -> list[int]:
    """SR LO words: element ``i`` uses the low ``r`` bits of ``S_(t0 + offset + i + 1)``."""
    first = t0 + offset + 1
    s = lfsr_jump(seed, first, taps)
    out = []
    for _ in range(n):
        out.append(s & ((1 << r) - 1))
        s = lfsr_step(s, taps)
    return out
