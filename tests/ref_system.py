"""Plain reference model of the multi-slice system (docs/design.md section 2, steps 1-5).

Written from the contract, not from ``pimjax.system`` / ``pimjax.units``: Python integers
(fixed point) or ``fractions.Fraction`` (floats), one output element and one addition at a time.

1. Slice ``s`` (ascending ``s``) runs its K-range ``[lo, hi)`` -- columns ``lo:hi`` of A and
   rows ``lo:hi`` of B, all N columns -- through the one-slice array semantics (steps 1-3:
   K-chunks of ``width`` counted from the start of the range, the last one zero-padded).
   That is :func:`ref_array.fixed_matmul` / :func:`ref_array.float_matmul` with no output stage
   (exact output format, identity activation), whose result is the slice's final accumulator.
   A slice with an empty K-range sends nothing.
2. Its accumulator (tree fraction bits) is requantized to the packet format with
   ``packet_rounding`` (saturate / wrap counted).
3. The owner's aggregation engine adds the packets in ascending slice index into its
   accumulator format, starting from 0, with overflow applied and counted after every addition
   (floats: rounded to nearest even after every addition).
4. The activation is applied to the exact aggregated value (or looked up in the LUT) and the
   result requantized to the output format.

As in ``ref_array``, the only thing taken from the implementation is the stream of random
words that stochastic stages consume (the contract fixes what is done with a word, not how
words are generated). The sub-streams (documented in ``pimjax.units._aggregation`` and
``pimjax.system._matmul``): the array of slice ``s`` uses ``fold_key(fold_key(key, 21), s)``
as its key (its stages then draw from their own streams 1 and 2, see ``ref_array``); packets of
slice ``s`` round with words ``(M, N)`` at offset 0 of ``fold_key(fold_key(key, 11), s)``; the
output stage with words ``(M, N)`` at offset 0 of ``fold_key(key, 12)``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np

import ref_array as ref

SLICE_STREAM, PACKET_STREAM, OUTPUT_STREAM = 21, 11, 12



class SystemRef(NamedTuple):
    out: np.ndarray  # int64 codes (fixed) or float64 values (float)
    overflow: int
    nan: int
    aggregated: list  # the aggregated accumulator (ints or Fractions / special floats), M x N


def _stochastic(rounding: str) -> bool:
    return rounding in ("stochastic", "sr_lo")


def _words(stream_key, rounding: str, cfg_array, shape) -> np.ndarray:
    from pimjax.numerics import random_words

    w = random_words(rounding == "sr_lo", cfg_array.stochastic, stream_key, tuple(shape), 0)
    return np.asarray(w).astype(np.int64)


def _fold(key, *streams):
    from pimjax.numerics import fold_key

    for s in streams:
        key = fold_key(key, s)
    return key


# ------------------------------------------------------------------------------ activation


def _f(name: str, x: float) -> float:
    """The activation on a float64 value (math library)."""
    if name == "identity":
        return x
    if name == "relu":
        return max(x, 0.0)
    if name == "tanh":
        return math.tanh(x)
    if name == "sigmoid":
        if x >= 0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)
    raise ValueError(name)


def round_real(t: Fraction, rounding: str, word: int | None = None, r_bits: int = 32) -> int:
    """A real ``t`` (already scaled by ``2**frac``) rounded to an integer.

    Stochastic modes: ``floor(t + R / 2**r)`` -- docs/design.md's ``floor((c + R') / 2**d)`` with
    ``d`` beyond the word's width, where ``R'`` is the whole word shifted up.
    """
    q = math.floor(t)
    rem = t - q
    if rounding == "floor":
        return q
    if rounding == "toward_zero":
        return q + 1 if (t < 0 and rem != 0) else q
    if rounding == "nearest_even":
        return q + 1 if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and q % 2 == 1) else q
    if rounding == "nearest_away":
        return q + 1 if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and t >= 0) else q
    if _stochastic(rounding):
        assert word is not None
        return math.floor(t + Fraction(word, 2**r_bits))
    raise ValueError(rounding)


def _quantize_value(y, fmt, rounding: str, word=None, r_bits: int = 32):
    """A real value (Fraction) into ``fmt``: ``(code or float value, overflowed)``."""
    from pimjax.numerics import FloatFormat

    if isinstance(fmt, FloatFormat):
        return ref.round_float(y, fmt.name)
    return ref.fit(round_real(Fraction(y) * 2 ** int(fmt.frac), rounding, word, r_bits), fmt)


def lut_table(name: str, lut) -> list:
    """Entry ``i``: ``f(x_min + (i + 0.5) * step)`` rounded to nearest even in the entry format."""
    step = (Fraction(lut.x_max) - Fraction(lut.x_min)) / lut.size
    table = []
    for i in range(lut.size):
        mid = Fraction(lut.x_min) + (i + Fraction(1, 2)) * step
        fv = Fraction(_f(name, float(mid)))
        v, _ = _quantize_value(fv, lut.entry_format, "nearest_even")
        if not isinstance(v, (Fraction, float)):  # a fixed-point code
            v = Fraction(v, 2 ** int(lut.entry_format.frac))
        table.append(v)
    return table


def lut_lookup(table: list, x: Fraction, lut):
    """``clip(floor((x - x_min) * size / (x_max - x_min)), 0, size - 1)``, exactly."""
    idx = math.floor((x - Fraction(lut.x_min)) * lut.size / (Fraction(lut.x_max) - Fraction(lut.x_min)))
    return table[min(max(idx, 0), lut.size - 1)]


# ------------------------------------------------------------------------------ fixed point


def _fixed_system(a, b, cfg, k_ranges, key) -> SystemRef:
    arr, agg = cfg.array, cfg.aggregation
    m, n = a.shape[0], b.shape[1]
    slice_cfg = arr.replace(output_format=None, activation="identity")  # steps 1-3 only
    pf, af = agg.packet_format, agg.accumulator_format
    t_frac = arr.tree_frac
    r_bits = arr.stochastic.bits
    overflow = 0
    acc = [[0] * n for _ in range(m)]
    for s, (lo, hi) in enumerate(k_ranges):  # ascending slice index
        if hi == lo:
            continue  # an empty K-range sends nothing
        words = ref.implementation_words(arr, _fold(key, SLICE_STREAM, s)) if key is not None else None
        part = ref.fixed_matmul(a[:, lo:hi], b[lo:hi, :], slice_cfg, words)
        overflow += part.overflow
        pw = None
        if pf is not None and _stochastic(agg.packet_rounding):
            assert key is not None, "stochastic packet rounding needs a key"
            pw = _words(_fold(key, PACKET_STREAM, s), agg.packet_rounding, arr, (m, n))
        for i in range(m):
            for j in range(n):
                word = int(pw[i, j]) if pw is not None else None
                p, o = ref.requant(int(part.out[i, j]), t_frac, pf, agg.packet_rounding, word, r_bits)
                overflow += o
                acc[i][j], o = ref.fit(acc[i][j] + p, af)  # overflow after every addition
                overflow += o
    out, o = _fixed_output(acc, agg, arr, key)
    return SystemRef(out, overflow + o, 0, acc)


def _fixed_output(acc, agg, arr, key):
    """Step 4 on the aggregated codes ``acc`` (lists, ``agg.accumulator_format.frac`` fraction
    bits): ``(codes, overflow)``; stochastic words from ``fold_key(key, 12)``."""
    m, n = len(acc), len(acc[0])
    of = agg.output_format
    r_bits = arr.stochastic.bits
    overflow = 0
    frac = int(agg.accumulator_format.frac)
    ow = None
    if of is not None and _stochastic(agg.output_rounding):
        assert key is not None, "stochastic output rounding needs a key"
        ow = _words(_fold(key, OUTPUT_STREAM), agg.output_rounding, arr, (m, n))
    table = lut_table(agg.activation, agg.lut) if agg.lut is not None else None
    out = np.zeros((m, n), dtype=np.int64)
    for i in range(m):
        for j in range(n):
            word = int(ow[i, j]) if ow is not None else None
            v = acc[i][j]
            if table is None and agg.activation in ("identity", "relu"):
                if agg.activation == "relu":
                    v = max(v, 0)
                code, o = ref.requant(v, frac, of, agg.output_rounding, word, r_bits)
            else:
                x = Fraction(v, 2**frac)  # the exact aggregated value
                y = lut_lookup(table, x, agg.lut) if table is not None else Fraction(_f(agg.activation, float(x)))
                if of is None:  # exact output: a LUT's entry codes pass through
                    assert table is not None, "a fixed-point system with exact tanh/sigmoid needs an output format"
                    code, o = y * 2 ** int(agg.lut.entry_format.frac), 0
                    assert code.denominator == 1
                    code = int(code)
                else:
                    code, o = _quantize_value(y, of, agg.output_rounding, word, r_bits)
            overflow += o
            out[i, j] = code
    return out, overflow


# ------------------------------------------------------------------------------ float


def _add(x, y):
    if isinstance(x, float) or isinstance(y, float):  # +-inf / nan
        return float(x) + float(y)
    return x + y


def _value(v: float):
    return v if not math.isfinite(v) else Fraction(v)


def _float_system(a, b, cfg, k_ranges) -> SystemRef:
    arr, agg = cfg.array, cfg.aggregation
    m, n = a.shape[0], b.shape[1]
    slice_cfg = arr.replace(output_format=None, activation="identity")
    pf, af = agg.packet_format, agg.accumulator_format
    overflow = 0
    acc = [[Fraction(0)] * n for _ in range(m)]
    for lo, hi in k_ranges:  # ascending slice index
        if hi == lo:
            continue
        part = ref.float_matmul(a[:, lo:hi], b[lo:hi, :], slice_cfg)
        overflow += part.overflow
        for i in range(m):
            for j in range(n):
                p = _value(float(part.out[i, j]))
                if pf is not None:
                    p, o = ref.round_float(p, pf.name)
                    overflow += o
                acc[i][j], o = ref.round_float(_add(acc[i][j], p), af.name)  # round after every addition
                overflow += o
    out, o, nan = _float_output(acc, agg)
    return SystemRef(out, overflow + o, nan, acc)


def _float_output(acc, agg):
    """Step 4 on the aggregated float values ``acc``: ``(values, overflow, nan)``."""
    m, n = len(acc), len(acc[0])
    of = agg.output_format
    overflow = 0
    table = lut_table(agg.activation, agg.lut) if agg.lut is not None else None
    out = np.zeros((m, n), dtype=np.float64)
    nan = 0
    for i in range(m):
        for j in range(n):
            x = acc[i][j]
            special = isinstance(x, float)  # +-inf or nan
            if special and math.isnan(x):
                nan += 1
                y = x
            elif table is not None:
                y = table[0 if x < 0 else -1] if special else lut_lookup(table, x, agg.lut)
            elif agg.activation == "relu":
                y = max(x, Fraction(0)) if not special else (x if x > 0 else Fraction(0))
            elif agg.activation == "identity":
                y = x
            else:
                y = _value(_f(agg.activation, float(x)))
            if of is not None:
                y, o = ref.round_float(y, of.name)
                overflow += o
            out[i, j] = float(y)
    return out, overflow, nan


# ------------------------------------------------------------------------------ entry point


def system_matmul(a, b, cfg, k_ranges, key=None) -> SystemRef:
    """Reference ``act(A @ B)`` on ``cfg.num_slices`` slices holding ``k_ranges`` of K."""
    a = np.asarray(a)
    b = np.asarray(b)
    assert len(k_ranges) == cfg.num_slices
    if cfg.array.is_float:
        return _float_system(a.astype(np.float64), b.astype(np.float64), cfg, k_ranges)
    return _fixed_system(a.astype(np.int64), b.astype(np.int64), cfg, k_ranges, key)


# ------------------------------------------------------------------------------ parallel node

HOST_STREAM = 1024  # the host's sub-stream of the key (unit u uses sub-stream u)


def chunk_split(k: int, parts: int, width: int) -> list[tuple[int, int]]:
    """``k`` cut into whole ``width``-chunks dealt to ``parts`` in order, the first
    ``chunks % parts`` parts taking one chunk more (ranges clipped at ``k``)."""
    chunks = -(-k // width)
    sizes = [chunks // parts + (p < chunks % parts) for p in range(parts)]
    edges = np.minimum(np.cumsum([0] + sizes) * width, k)
    return [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:])]


def parallel_matmul(a, b, pcfg, key=None, k_ranges=None) -> SystemRef:
    """Reference node of ``pcfg.num_units`` units (``pimjax.system._parallel``'s docstring).

    ``"data"``: unit ``u`` takes rows ``[u p, (u + 1) p)`` (``p = ceil(M / N)``) through the whole
    system reference. ``"model"``: unit ``u`` takes its K-range (``k_ranges`` or whole
    array-width chunks dealt evenly) through the system reference with an identity
    aggregation; the host requantizes each partial (unit output fraction bits) to its packet
    format, adds them in ascending unit index into its accumulator (overflow after every
    addition; floats rounded after every addition), then applies the output stage. Keys: unit
    ``u`` ``fold_key(key, u)``; the host ``h = fold_key(key, 1024)``: packets of unit ``u``
    words ``(M, N)`` of ``fold_key(fold_key(h, 11), u)``, the output ``fold_key(h, 12)``.
    ``aggregated`` is ``None`` for ``"data"``.
    """
    a, b = np.asarray(a), np.asarray(b)
    unit, n_units = pcfg.unit, pcfg.num_units
    arr = unit.array
    m, k, n = a.shape[0], a.shape[1], b.shape[1]

    def run_unit(u, a_u, b_u):
        ranges = chunk_split(a_u.shape[1], unit.num_slices, arr.width)
        return system_matmul(a_u, b_u, unit, ranges, None if key is None else _fold(key, u))

    overflow = nan = 0
    if pcfg.scheme == "data":
        p = -(-m // n_units)
        outs = []
        for u in range(n_units):
            lo, hi = min(m, u * p), min(m, (u + 1) * p)
            if hi > lo:
                r = run_unit(u, a[lo:hi], b)
                outs.append(r.out)
                overflow, nan = overflow + r.overflow, nan + r.nan
        return SystemRef(np.concatenate(outs, axis=0), overflow, nan, None)
    host = pcfg.host
    hkey = None if key is None else _fold(key, HOST_STREAM)
    pf, af = host.packet_format, host.accumulator_format
    uagg = unit.aggregation
    in_frac = int((uagg.output_format or uagg.accumulator_format).frac) if not arr.is_float else 0
    acc = [[0 if not arr.is_float else Fraction(0)] * n for _ in range(m)]
    nan_in = np.zeros((m, n), bool)  # a partial of this output was NaN (counted by its unit)
    for u, (lo, hi) in enumerate(k_ranges or chunk_split(k, n_units, arr.width)):  # ascending unit index
        if hi == lo:
            continue  # an idle unit sends nothing
        r = run_unit(u, a[:, lo:hi], b[lo:hi, :])
        overflow, nan = overflow + r.overflow, nan + r.nan
        if arr.is_float:
            nan_in |= np.isnan(np.asarray(r.out, np.float64))
        pw = None
        if pf is not None and not arr.is_float and _stochastic(host.packet_rounding):
            pw = _words(_fold(hkey, PACKET_STREAM, u), host.packet_rounding, arr, (m, n))
        for i in range(m):
            for j in range(n):
                if arr.is_float:
                    v = _value(float(r.out[i, j]))
                    if pf is not None:
                        v, o = ref.round_float(v, pf.name)
                        overflow += o
                    acc[i][j], o = ref.round_float(_add(acc[i][j], v), af.name)
                else:
                    word = int(pw[i, j]) if pw is not None else None
                    v, o = ref.requant(int(r.out[i, j]), in_frac, pf, host.packet_rounding, word, arr.stochastic.bits)
                    overflow += o
                    acc[i][j], o = ref.fit(acc[i][j] + v, af)
                overflow += o
    if arr.is_float:
        out, o, h_nan = _float_output(acc, host)
        nan += h_nan - int(nan_in.sum())  # the host counts only the NaNs its own additions make
    else:
        out, o = _fixed_output(acc, host, arr, hkey)
    return SystemRef(out, overflow + o, nan, acc)


def icn_counts(*, m, n, tile_cols, k_sizes, owners, hops, element_bytes, payload_bytes, header_bytes):
    """Interconnect counts from Memory Slices Sec. 3.2 coalescing (independent of pimjax).

    At cycle ``c`` the adder trees of a slice emit one diagonal of an ``M x R'`` output tile:
    ``n_c = min(c + 1, R', M, M + R' - 1 - c)`` elements, coalesced into
    ``ceil(n_c / (payload // element_bytes))`` packets with one header each.
    """
    epp = payload_bytes // element_bytes
    tot = dict(packets=0, local_packets=0, bytes=0, hop_bytes=0, hops=0, elements=0)
    for s, size in enumerate(k_sizes):
        if size == 0:
            continue
        for t, owner in enumerate(owners):
            r = min(n, (t + 1) * tile_cols) - t * tile_cols
            p = sum(-(-min(c + 1, r, m, m + r - 1 - c) // epp) for c in range(m + r - 1))
            tot["elements"] += m * r
            if owner == s:
                tot["local_packets"] += p
                continue
            h = hops(s, owner)
            nb = p * header_bytes + m * r * element_bytes
            tot["packets"] += p
            tot["bytes"] += nb
            tot["hops"] += p * h
            tot["hop_bytes"] += nb * h
    return tot
