"""Plain reference model of one slice's multiplier array (docs/design.md section 2, steps 1-3, 5).

Written from the contract, not from ``pimjax.units``: every output element is computed with
Python integers (fixed point) or ``fractions.Fraction`` (floats), stepping through the
K-chunks of ``width`` in ascending order, one element and one adder at a time. It is slow on
purpose and only meant for the small shapes of the tests.

The only thing taken from the implementation is the stream of random words that stochastic
stages consume (the contract fixes what is done with a word, not how words are generated):
:func:`implementation_words` draws them with ``pimjax.numerics.random_words`` from the same
sub-streams and offsets the array uses (product stage: stream 1, block ``(M, W, N)`` of chunk
``c`` at offset ``c*M*W*N``; tree stage: stream 2, ``(M, N)`` at ``c*M*N``; output stage:
stream 3, ``(M, N)`` at 0).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable, NamedTuple

import numpy as np

# ------------------------------------------------------------------------------ fixed point


def code_range(fmt) -> tuple[int, int]:
    """``(lo, hi)`` integer code range of a fixed-point format."""
    bits = int(fmt.bits)
    if fmt.signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def fit(v: int, fmt) -> tuple[int, int]:
    """Saturates or wraps exact integer ``v`` into ``fmt``; returns ``(code, overflowed 0/1)``."""
    lo, hi = code_range(fmt)
    if lo <= v <= hi:
        return v, 0
    if fmt.overflow == "saturate":
        return (hi if v > hi else lo), 1
    assert fmt.overflow == "wrap", fmt.overflow
    span = 2 ** int(fmt.bits)
    return (v - lo) % span + lo, 1


def round_int(c: int, d: int, rounding: str, word: int | None = None, r_bits: int = 32) -> int:
    """``c / 2**d`` rounded to an integer by ``rounding`` (``d <= 0``: exact left shift)."""
    if d <= 0:
        return c * 2 ** (-d)
    q, rem = divmod(c, 2**d)  # Python: q = floor(c / 2**d), 0 <= rem < 2**d
    half = 2 ** (d - 1)
    if rounding == "floor":
        return q
    if rounding == "toward_zero":
        return q + 1 if (c < 0 and rem != 0) else q
    if rounding == "nearest_even":
        if rem > half or (rem == half and q % 2 == 1):
            return q + 1
        return q
    if rounding == "nearest_away":
        if rem > half or (rem == half and c >= 0):
            return q + 1
        return q
    if rounding in ("stochastic", "sr_lo"):
        assert word is not None and 0 <= word < 2**r_bits, (word, r_bits)
        # R' = the top d bits of the r-bit word
        rp = word >> (r_bits - d) if d <= r_bits else word << (d - r_bits)
        return (c + rp) // 2**d
    raise ValueError(rounding)


def requant(c: int, src_frac: int, fmt, rounding: str, word: int | None = None, r_bits: int = 32) -> tuple[int, int]:
    """Exact integer ``c`` with ``src_frac`` fraction bits into ``fmt``: ``(code, overflowed)``."""
    if fmt is None:
        return c, 0
    return fit(round_int(c, src_frac - int(fmt.frac), rounding, word, r_bits), fmt)


WordSource = Callable[[int, bool, tuple, int], np.ndarray]


def implementation_words(cfg, key) -> WordSource:
    """``words(stream, is_sr_lo, shape, offset)``: the random words pimjax's generator yields."""
    from pimjax.numerics import fold_key, random_words

    def words(stream, is_sr_lo, shape, offset):
        w = random_words(is_sr_lo, cfg.stochastic, fold_key(key, stream), tuple(shape), offset)
        return np.asarray(w).astype(np.int64)

    return words


class RefResult(NamedTuple):
    out: np.ndarray  # int64 codes (fixed) or float64 values (float)
    overflow: int
    nan: int


def _stochastic(rounding: str) -> bool:
    return rounding in ("stochastic", "sr_lo")


def fixed_matmul(a, b, cfg, words: WordSource | None = None) -> RefResult:
    """Reference of a fixed-point array: ``a`` (M, K) and ``b`` (K, N) integer codes."""
    a = [[int(x) for x in row] for row in np.asarray(a).tolist()]
    b = [[int(x) for x in row] for row in np.asarray(b).tolist()]
    m, k, n = len(a), len(b), len(b[0])
    assert all(len(r) == k for r in a)
    w = cfg.width
    nc = -(-k // w)
    pf, tf, af, of = cfg.product_format, cfg.tree_format, cfg.accumulator_format, cfg.output_format
    raw_frac = int(cfg.a_format.frac) + int(cfg.b_format.frac)
    p_frac = int(pf.frac) if pf is not None else raw_frac
    t_frac = int(tf.frac) if tf is not None else p_frac
    assert int(af.frac) == t_frac  # the accumulator keeps the tree's fraction bits
    r_bits = cfg.stochastic.bits

    def need_words(fmt, rounding):
        return fmt is not None and _stochastic(rounding)

    overflow = 0
    acc = [[0] * n for _ in range(m)]
    for c in range(nc):  # ascending K-chunk order
        pw = tw = None
        if need_words(pf, cfg.product_rounding):
            pw = words(1, cfg.product_rounding == "sr_lo", (m, w, n), c * m * w * n)
        if need_words(tf, cfg.tree_rounding):
            tw = words(2, cfg.tree_rounding == "sr_lo", (m, n), c * m * n)
        for i in range(m):
            for j in range(n):
                total = 0
                for l in range(w):
                    kk = c * w + l
                    p = a[i][kk] * b[kk][j] if kk < k else 0  # idle multipliers see zeros
                    if pf is not None:
                        word = int(pw[i, l, j]) if pw is not None else None
                        p, o = requant(p, raw_frac, pf, cfg.product_rounding, word, r_bits)
                        overflow += o
                    total += p  # the adder tree sums exactly ...
                if tf is not None:  # ... then requantizes
                    word = int(tw[i, j]) if tw is not None else None
                    total, o = requant(total, p_frac, tf, cfg.tree_rounding, word, r_bits)
                    overflow += o
                acc[i][j], o = fit(acc[i][j] + total, af)  # overflow after every addition
                overflow += o
    ow = None
    if need_words(of, cfg.output_rounding):
        ow = words(3, cfg.output_rounding == "sr_lo", (m, n), 0)
    out = np.zeros((m, n), dtype=object)
    for i in range(m):
        for j in range(n):
            v = acc[i][j]
            if cfg.activation == "relu":
                v = max(v, 0)
            else:
                assert cfg.activation == "identity"
            word = int(ow[i, j]) if ow is not None else None
            v, o = requant(v, t_frac, of, cfg.output_rounding, word, r_bits)
            overflow += o
            out[i, j] = v
    return RefResult(out.astype(np.int64), overflow, 0)


# ------------------------------------------------------------------------------ float

INF = float("inf")


class FloatSpec(NamedTuple):
    mant: int  # stored mantissa bits
    emin: int  # exponent of the smallest normal number
    max_finite: Fraction
    has_inf: bool  # False: out-of-range values saturate to +-max_finite


def _maxf(mant: int, emax: int, top_mantissa: int | None = None) -> Fraction:
    top = top_mantissa if top_mantissa is not None else 2 ** (mant + 1) - 1
    return Fraction(top) * Fraction(2) ** (emax - mant)


FLOAT_SPECS = {
    "fp32": FloatSpec(23, -126, _maxf(23, 127), True),
    "bf16": FloatSpec(7, -126, _maxf(7, 127), True),
    "fp16": FloatSpec(10, -14, _maxf(10, 15), True),  # 65504
    # e4m3 "fn": no Inf, S.1111.111 is NaN, so the largest finite is 1.110b * 2**8 = 448
    "fp8_e4m3": FloatSpec(3, -6, _maxf(3, 8, 0b1110), False),
    "fp8_e5m2": FloatSpec(2, -14, _maxf(2, 15), True),  # 57344
}
assert FLOAT_SPECS["fp8_e4m3"].max_finite == 448 and FLOAT_SPECS["fp16"].max_finite == 65504
assert FLOAT_SPECS["fp8_e5m2"].max_finite == 57344


def _is_special(x) -> bool:
    return isinstance(x, float)  # finite values are Fractions; +-inf / nan are floats


def _floor_log2(x: Fraction) -> int:
    """floor(log2(x)) for x > 0, exactly."""
    e = x.numerator.bit_length() - x.denominator.bit_length()
    if Fraction(2) ** e > x:
        e -= 1
    assert Fraction(2) ** e <= x < Fraction(2) ** (e + 1)
    return e


def _round_half_even(x: Fraction) -> int:
    q = math.floor(x)
    rem = x - q
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and q % 2 == 1):
        q += 1
    return q


def round_float(x, name: str):
    """Rounds ``x`` (Fraction or special float) to format ``name``: ``(value, overflowed)``."""
    spec = FLOAT_SPECS[name]
    if _is_special(x):
        if math.isinf(x) and not spec.has_inf:
            return (spec.max_finite if x > 0 else -spec.max_finite), 0
        return x, 0
    if x == 0:
        return Fraction(0), 0
    ax = abs(x)
    e = max(_floor_log2(ax), spec.emin)
    ulp = Fraction(2) ** (e - spec.mant)
    q = _round_half_even(ax / ulp) * ulp
    sign = 1 if x > 0 else -1
    if q > spec.max_finite:
        return ((sign * INF) if spec.has_inf else sign * spec.max_finite), 1
    return sign * q, 0


def _add(x, y):
    if _is_special(x) or _is_special(y):
        return float(x) + float(y)
    return x + y


def _mul(x, y):
    if _is_special(x) or _is_special(y):
        return float(x) * float(y)
    return x * y


def _to_value(v):
    f = float(v)
    return f if not math.isfinite(f) else Fraction(f)


def float_matmul(a, b, cfg) -> RefResult:
    """Reference of a float array: ``a`` (M, K), ``b`` (K, N) values in the operand formats."""
    a = [[_to_value(x) for x in row] for row in np.asarray(a, dtype=np.float64).tolist()]
    b = [[_to_value(x) for x in row] for row in np.asarray(b, dtype=np.float64).tolist()]
    m, k, n = len(a), len(b), len(b[0])
    w = cfg.width
    nc = -(-k // w)
    leaves = 1
    while leaves < w:
        leaves *= 2
    pf, tf, af, of = (f.name if f is not None else None for f in
                      (cfg.product_format, cfg.tree_format, cfg.accumulator_format, cfg.output_format))
    assert tf is not None and af is not None
    overflow = 0

    def rnd(x, name):
        nonlocal overflow
        v, o = round_float(x, name)
        overflow += o
        return v

    acc = [[Fraction(0)] * n for _ in range(m)]
    for c in range(nc):
        for i in range(m):
            for j in range(n):
                prods = []
                for l in range(w):
                    kk = c * w + l
                    p = _mul(a[i][kk], b[kk][j]) if kk < k else Fraction(0)  # exact product
                    if pf is not None:
                        p = rnd(p, pf)
                    prods.append(p)
                prods += [Fraction(0)] * (leaves - w)
                if len(prods) == 1:
                    t = rnd(prods[0], tf)  # a one-leaf tree still delivers a tree-format value
                else:
                    while len(prods) > 1:  # balanced pairwise tree, one rounding per adder
                        prods = [rnd(_add(prods[2 * q], prods[2 * q + 1]), tf) for q in range(len(prods) // 2)]
                    t = prods[0]
                acc[i][j] = rnd(_add(acc[i][j], t), af)  # rounding after every addition
    out = np.zeros((m, n), dtype=np.float64)
    nan = 0
    for i in range(m):
        for j in range(n):
            v = acc[i][j]
            if cfg.activation == "relu":
                if _is_special(v):
                    v = v if (math.isnan(v) or v > 0) else Fraction(0)
                else:
                    v = max(v, Fraction(0))
            if _is_special(v) and math.isnan(v):
                nan += 1
            if of is not None:
                v = rnd(v, of)
            out[i, j] = float(v)
    return RefResult(out, overflow, nan)


def matmul(a, b, cfg, words: WordSource | None = None) -> RefResult:
    """Reference ``C = A @ B`` for any :class:`pimjax.hw.ArrayConfig`."""
    if cfg.is_float:
        return float_matmul(a, b, cfg)
    return fixed_matmul(a, b, cfg, words)
