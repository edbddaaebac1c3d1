"""Random bit sources for stochastic rounding.

Two sources (docs/design.md section 1):

* ``"hash"`` (default): a counter-based generator. Word ``i`` of a call is
  ``lowbias32(lowbias32(i ^ s0) + s1)`` where ``(s0, s1)`` are two 32-bit words drawn once
  from the caller's ``jax.random`` key and ``i`` is the element's row-major index plus
  ``offset``. Plain 32-bit integer ops, so it costs a few times a round-to-nearest instead of
  the ~40x of threefry bits. Same key, same bits.
* ``"threefry"``: ``jax.random.bits(key, shape, uint32)``, for users who want JAX's generator.

``sr_lo`` rounding (NeuroTrainer Fig. 11, section 3.3.2) has its own source, the SR LO
stream: one 32-bit Fibonacci LFSR produces one bit per clock, shifted into an ``r``-bit left
shift register (the new bit enters at the LSB). The register after clock ``t`` is the low ``r``
bits of the LFSR state ``S_t``. Polynomial (default) ``x^32 + x^22 + x^2 + x + 1`` (maximal
length, taps 32, 22, 2, 1): the feedback bit is ``s[31] ^ s[21] ^ s[1] ^ s[0]``. Seed: the
LFSR state at clock 0 (default ``0xACE1ACE1``, never 0). Word order: element ``i`` of an array
(row-major) is rounded at clock ``t0 + i + 1`` and uses the register after that clock, where
``t0`` is a 32-bit clock offset drawn from the key (``offset`` adds to it). Consecutive
elements therefore share ``r - 1`` bits, the low-overhead correlation the hardware accepts.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

BIT_SOURCES = ("hash", "threefry")


@dataclasses.dataclass(frozen=True, kw_only=True)
class StochasticConfig:
    """How stochastic rounding draws its random words.

    Args:
      bits: ``r``, width of the random word (1..32); docs/design.md section 2 takes its top ``d``
        bits. NeuroTrainer's SR LO uses a 32-bit shift register (Fig. 11).
      source: ``"hash"`` or ``"threefry"`` for ``stochastic`` rounding.
      lfsr_taps: SR LO polynomial taps (exponents; 32 must be the largest).
      lfsr_seed: SR LO LFSR state at clock 0 (non-zero 32-bit).
    """

    bits: int = 32
    source: str = "hash"
    lfsr_taps: tuple[int, ...] = (32, 22, 2, 1)
    lfsr_seed: int = 0xACE1ACE1

    def __post_init__(self) -> None:
        # numpy integers are accepted (as FixedFormat does) and stored as Python ints, so equal
        # configs compare and hash equal (they are static arguments of compiled programs)
        bits = _static_int("StochasticConfig.bits", self.bits)
        if not 1 <= bits <= 32:
            raise ValueError(f"StochasticConfig.bits must be an integer in 1..32, got {self.bits!r}")
        if self.source not in BIT_SOURCES:
            raise ValueError(f"StochasticConfig.source must be one of {BIT_SOURCES}, got {self.source!r}")
        if not isinstance(self.lfsr_taps, (tuple, list)):
            raise TypeError(f"StochasticConfig.lfsr_taps must be a tuple of integers, got {self.lfsr_taps!r}")
        taps = tuple(_static_int("StochasticConfig.lfsr_taps", t) for t in self.lfsr_taps)
        if not taps or max(taps) != 32 or min(taps) < 1 or len(set(taps)) != len(taps):
            raise ValueError(
                f"StochasticConfig.lfsr_taps must be distinct exponents in 1..32 with 32 largest, got {taps}"
            )
        seed = _static_int("StochasticConfig.lfsr_seed", self.lfsr_seed)
        if not 0 < seed < 2**32:
            raise ValueError(f"StochasticConfig.lfsr_seed must be in 1..2**32-1, got {self.lfsr_seed!r}")
        object.__setattr__(self, "bits", bits)
        object.__setattr__(self, "lfsr_taps", taps)
        object.__setattr__(self, "lfsr_seed", seed)


def _static_int(name: str, v: Any) -> int:
    """``v`` as a Python int: a Python or numpy integer (not bool), else TypeError."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {v!r}")
    return int(v)


DEFAULT_STOCHASTIC = StochasticConfig()


def _lowbias32(x: jax.Array) -> jax.Array:
    # Integer hash by C. Wellons ("hash prospector", lowbias32); bijective on uint32.
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def check_key(key: Any, name: str = "key") -> None:
    """Raises TypeError for a key that is neither a ``jax.random`` key, a uint32[2] raw key nor
    an integer seed, and ValueError for an integer seed outside [0, 2**32 - 1] (it would alias
    a seed in range: 2**32 + 5 gives 5's bits)."""
    if key is None:
        return
    if isinstance(key, (bool, np.bool_, str, bytes, float, complex, np.floating)):
        raise TypeError(f"{name} must be a jax.random key, a uint32[2] raw key or an integer seed in "
                        f"[0, 2**32 - 1], got {type(key).__name__} {key!r}")
    if isinstance(key, (int, np.integer)):
        if not 0 <= int(key) <= 0xFFFFFFFF:
            raise ValueError(f"{name} as an integer seed must be in [0, 2**32 - 1] (seeds outside alias those "
                             f"inside), got {int(key)}")
        return
    dt = getattr(key, "dtype", None)
    if dt is None and not isinstance(key, (list, tuple)):
        raise TypeError(f"{name} must be a jax.random key, a uint32[2] raw key or an integer seed in "
                        f"[0, 2**32 - 1], got {type(key).__name__}")
    if dt is not None and not (jnp.issubdtype(dt, jnp.integer) or jnp.issubdtype(dt, jax.dtypes.prng_key)):
        raise TypeError(f"{name} must be a jax.random key, a uint32[2] raw key or an integer seed in "
                        f"[0, 2**32 - 1], got an array of dtype {dt}")
    if (dt is not None and jnp.issubdtype(dt, jnp.integer) and getattr(key, "shape", None) == ()
            and not isinstance(key, jax.core.Tracer)):
        v = int(np.asarray(key))
        if not 0 <= v <= 0xFFFFFFFF:
            raise ValueError(f"{name} as an integer seed must be in [0, 2**32 - 1], got {v}")


def key_words(key: Any, n: int = 2) -> jax.Array:
    """``n`` uint32 words from a ``jax.random`` key (typed or raw) or an integer seed."""
    check_key(key)
    if isinstance(key, (int, np.integer)):
        base = jnp.uint32(int(key) & 0xFFFFFFFF)
        return _lowbias32(base + jnp.arange(1, n + 1, dtype=jnp.uint32) * jnp.uint32(0x9E3779B9))
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.bits(key, (n,), jnp.uint32)
    if key.dtype == jnp.uint32 and key.shape == (2,):
        return jax.random.bits(jax.random.wrap_key_data(key), (n,), jnp.uint32)
    if jnp.issubdtype(key.dtype, jnp.integer) and key.shape == ():
        base = key.astype(jnp.uint32)
        return _lowbias32(base + jnp.arange(1, n + 1, dtype=jnp.uint32) * jnp.uint32(0x9E3779B9))
    raise TypeError(f"key must be a jax.random key, a uint32[2] raw key or an integer seed, got {key}")


def fold_key(key: Any, i: Any) -> Any:
    """A key for sub-stream ``i`` of ``key`` (``i`` may be traced).

    ``jax.random`` keys use ``jax.random.fold_in``; integer seeds map to
    ``(key * 0x9E3779B1 + (i + 1) * 0x632BE5AB) mod 2**32`` (a Python int when both are ints).
    """
    if isinstance(key, (int, np.integer)) and isinstance(i, (int, np.integer)):
        return (int(key) * 0x9E3779B1 + 0x632BE5AB * (int(i) + 1)) & 0xFFFFFFFF
    if isinstance(key, (int, np.integer)):
        key = jnp.uint32(int(key) & 0xFFFFFFFF)
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) or (key.dtype == jnp.uint32 and key.shape == (2,)):
        return jax.random.fold_in(key, i)
    i32 = jnp.asarray(i).astype(jnp.uint32)
    return key.astype(jnp.uint32) * jnp.uint32(0x9E3779B1) + (i32 + jnp.uint32(1)) * jnp.uint32(0x632BE5AB)


def hash_words(key: Any, shape: tuple[int, ...], offset: Any = 0) -> jax.Array:
    """Counter-hash uint32 words, one per element of ``shape`` (row-major counter)."""
    s = key_words(key, 2)
    size = int(np.prod(shape, dtype=np.int64)) if shape else 1
    idx = jnp.arange(size, dtype=jnp.uint32) + jnp.asarray(offset).astype(jnp.uint32)
    return _lowbias32(_lowbias32(idx ^ s[0]) + s[1]).reshape(shape)


# ----------------------------------------------------------------------------------------
# SR LO: 32-bit Fibonacci LFSR stream, vectorised through GF(2) jump matrices.
# A matrix is 32 uint32 row masks: bit i of M @ v is parity(M[i] & v).


def _step_matrix(taps: tuple[int, ...]) -> np.ndarray:
    rows = np.zeros(32, dtype=np.uint64)
    rows[0] = sum(1 << (t - 1) for t in taps)  # new LSB = feedback bit
    for i in range(1, 32):
        rows[i] = 1 << (i - 1)  # shift left by one
    return rows


def _gf2_apply_np(m: np.ndarray, v: int) -> int:
    out = 0
    for i in range(32):
        out |= (bin(int(m[i]) & v).count("1") & 1) << i
    return out


def _gf2_matmul_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # (a @ b) row i = XOR of b rows j where bit j of a[i] is set
    out = np.zeros(32, dtype=np.uint64)
    for i in range(32):
        acc = 0
        ai = int(a[i])
        for j in range(32):
            if (ai >> j) & 1:
                acc ^= int(b[j])
        out[i] = acc
    return out


@functools.lru_cache(maxsize=None)
def _powers(taps: tuple[int, ...], count: int, stride: int) -> np.ndarray:
    """Row masks of ``M**(k * stride)`` for k in 0..count-1, shape (count, 32) uint32."""
    m = _step_matrix(taps)
    step = np.array([1 << i for i in range(32)], dtype=np.uint64)  # identity
    base = step.copy()
    p = m.copy()
    e = stride
    while e:  # base = m ** stride
        if e & 1:
            base = _gf2_matmul_np(base, p)
        p = _gf2_matmul_np(p, p)
        e >>= 1
    out = np.zeros((count, 32), dtype=np.uint64)
    cur = step
    for k in range(count):
        out[k] = cur
        cur = _gf2_matmul_np(base, cur)
    return out.astype(np.uint32)


@functools.lru_cache(maxsize=None)
def _square_chain(taps: tuple[int, ...]) -> np.ndarray:
    """Row masks of ``M**(2**j)`` for j in 0..31, shape (32, 32) uint32."""
    m = _step_matrix(taps)
    out = np.zeros((32, 32), dtype=np.uint64)
    p = m.copy()
    for j in range(32):
        out[j] = p
        p = _gf2_matmul_np(p, p)
    return out.astype(np.uint32)


def _gf2_apply(rows: jax.Array, v: jax.Array) -> jax.Array:
    """Applies matrices ``rows[..., 32]`` to states ``v[...]`` (broadcasting), uint32."""
    bits = jax.lax.population_count(rows & v[..., None]) & jnp.uint32(1)
    return jnp.sum(bits << jnp.arange(32, dtype=jnp.uint32), axis=-1, dtype=jnp.uint32)


def lfsr_state(cfg: StochasticConfig, clock: Any) -> jax.Array:
    """LFSR state after ``clock`` clocks from the seed (``clock`` a uint32 scalar, traced ok)."""
    chain = jnp.asarray(_square_chain(tuple(cfg.lfsr_taps)))
    clock = jnp.asarray(clock).astype(jnp.uint32)
    state = jnp.uint32(cfg.lfsr_seed)
    return jax.lax.fori_loop(0, 32, _lfsr_jump_body, (chain, clock, state))[2]


def _lfsr_jump_body(j, carry):
    # module level (not a closure) so that eager calls reuse one compiled loop
    chain, clock, s = carry
    take = (clock >> j.astype(jnp.uint32)) & jnp.uint32(1)
    return chain, clock, jnp.where(take == 1, _gf2_apply(chain[j], s), s)


_BLOCK = 64
_WORD = 32  # clocks between the states sr_lo_words computes: the LFSR's width


def sr_lo_clock(key: Any, offset: Any = 0) -> jax.Array:
    """The clock (uint32) whose register the first word of a call with ``key`` and ``offset``
    uses: ``t0 + offset + 1`` modulo the LFSR period ``2**32 - 1`` (module docstring)."""
    with jax.enable_x64(True):
        # the period is 2**32 - 1: reduce modulo that (not 2**32) so that clock t0 + offset + 1
        # keeps its meaning past 2**32
        t0 = key_words(key, 1)[0].astype(jnp.int64) + jnp.asarray(offset).astype(jnp.int64)
        return ((t0 + 1) % (2**32 - 1)).astype(jnp.uint32)


def sr_lo_words(cfg: StochasticConfig, key: Any, shape: tuple[int, ...], offset: Any = 0) -> jax.Array:
    """SR LO register contents, one ``cfg.bits``-bit word per element (see module docstring).

    The register after clock ``t + s`` (``0 <= s < 32``) holds the stream bits of the states
    after clocks ``t`` and ``t + 32``: ``S_(t+s) = (S_t << s) | (S_(t+32) >> (32 - s))`` (one
    stream bit enters per clock). So only every 32nd state is computed, by GF(2) jumps
    (:func:`stride_states`), and each word is two shifts and an OR
    (:func:`register_windows`).
    """
    size = int(np.prod(shape, dtype=np.int64)) if shape else 1
    start = lfsr_state(cfg, sr_lo_clock(key, offset))  # state after the first element's clock
    return stream_words(cfg, start, size).reshape(shape)


def stream_words(cfg: StochasticConfig, start: jax.Array, size: int) -> jax.Array:
    """The ``size`` SR LO words (low ``cfg.bits`` bits of the registers) after ``start``'s clock
    and the next ``size - 1`` clocks, flat (size,) uint32 (:func:`sr_lo_words`)."""
    nq = -(-size // _WORD)
    states = stride_states(tuple(cfg.lfsr_taps), start[None], nq + 1, _WORD)[0]
    w = register_windows(states).reshape(-1)[:size]
    if cfg.bits < 32:
        w = w & jnp.uint32((1 << cfg.bits) - 1)
    return w


def row_states(cfg: StochasticConfig, start: jax.Array, rows: int, length: int) -> jax.Array:
    """States every 32 clocks of ``rows`` consecutive rows of ``length`` clocks each.

    ``start``: the LFSR state (uint32 scalar) after the first row's first clock. Returns
    ``(rows, ceil(length / 32) + 1)`` uint32: ``[r, q]`` is the state ``r length + 32 q``
    clocks later, from which :func:`row_words` forms every word of row ``r`` (two shifts and
    an OR each, :func:`sr_lo_words`).

    Two ways to the same states: every ``G = gcd(length, 32)`` clocks of the whole range, one
    long jump sequence, gathered per row (``G = 32``: the rows share that sequence); or each
    row's start first, then 32-clock jumps from it. The first is picked unless it computes
    more than six times as many states (measured on a 2-core CPU: ~2-5 ns a state in long
    sequences, 10-15 ns in the rows' short ones).
    """
    taps = tuple(cfg.lfsr_taps)
    nq = -(-length // _WORD)
    grid = math.gcd(length, _WORD)
    per, step = length // grid, _WORD // grid
    if per <= 6 * (nq + 2):
        # row r's state q is grid state r per + q step: states q < nq lie in row r's own
        # per grid states (every step-th), state nq (grid offset o = nq step) in row r + o // per
        o = nq * step
        st = stride_states(taps, start[None], (rows + o // per + 1) * per, grid)[0].reshape(-1, per)
        last = st[o // per:o // per + rows, o % per]
        return jnp.concatenate([st[:rows, ::step], last[:, None]], axis=1)
    starts = stride_states(taps, start[None], rows, length)[0]
    return stride_states(taps, starts, nq + 1, _WORD)


def row_words(cfg: StochasticConfig, states: jax.Array, length: int) -> jax.Array:
    """Words ``(..., length)`` of rows from their :func:`row_states` ``(..., Q)``: elementwise
    in the states, so XLA computes them inside the loop that consumes them."""
    nq = states.shape[-1] - 1
    w = register_windows(states).reshape(*states.shape[:-1], nq * _WORD)[..., :length]
    if cfg.bits < 32:
        w = w & jnp.uint32((1 << cfg.bits) - 1)
    return w


def register_windows(states: jax.Array) -> jax.Array:
    """The 32 states after each of ``states[..., :-1]``'s clocks, from states 32 clocks apart.

    ``states[..., q]`` is the LFSR state after clock ``t + 32 q``; returns shape
    ``(..., Q - 1, 32)`` whose ``[..., q, s]`` is the state after clock ``t + 32 q + s``.
    """
    s = jnp.arange(_WORD, dtype=jnp.uint32)
    hi = states[..., :-1, None] << s
    lo = (states[..., 1:, None] >> jnp.uint32(1)) >> (jnp.uint32(_WORD - 1) - s)  # >> (32 - s), 0 at s = 0
    return hi | lo


def stride_states(taps: tuple[int, ...], starts: jax.Array, count: int, stride: int) -> jax.Array:
    """``M**(k * stride) starts[r]`` for every start and k < count: shape (R, count) uint32.

    Recursive blocking by :data:`_BLOCK` (static ``count``): the states every ``64 stride``
    clocks first, then 64 jumps from each. Every reshape merges neighbouring axes, so XLA
    keeps the loops vectorized.
    """
    r = starts.shape[0]
    if count <= _BLOCK:
        return _gf2_apply_many(_power_columns(taps, count, stride), starts)
    outer = -(-count // _BLOCK)
    supers = stride_states(taps, starts, outer, stride * _BLOCK)  # (R, outer)
    inner = _gf2_apply_many(_power_columns(taps, _BLOCK, stride), supers.reshape(-1))  # (R * outer, 64)
    return inner.reshape(r, outer * _BLOCK)[:, :count]


@functools.lru_cache(maxsize=None)
def _power_columns(taps: tuple[int, ...], count: int, stride: int) -> np.ndarray:
    """Column masks of ``M**(k * stride)``, k < count: ``[j, k]`` is column j, shape (32, count)."""
    rows = _powers(taps, count, stride).astype(np.uint64)  # (count, 32) row masks
    bits = (rows[:, :, None] >> np.arange(32, dtype=np.uint64)) & np.uint64(1)  # [k, i, j] = M_k[i, j]
    return (bits << np.arange(32, dtype=np.uint64)[None, :, None]).sum(axis=1).T.astype(np.uint32)


def _gf2_apply_many(cols: np.ndarray, v: jax.Array) -> jax.Array:
    """Every matrix of ``cols`` (column masks, (32, Q)) applied to every state of ``v`` (n,):
    shape (n, Q). ``M v`` is the XOR of the columns ``j`` where bit ``j`` of ``v`` is set.

    Written as an XOR reduction: XLA does not fuse a reduction into its consumers, so each
    state is computed once, not again for each of the 32 words it yields
    (:func:`register_windows`; measured on a 2-core CPU: 0.3 ns per word against ~25 ns
    when the jumps were fused into the words).
    """
    masks = jnp.uint32(0) - ((v[None, :] >> jnp.arange(32, dtype=jnp.uint32)[:, None]) & jnp.uint32(1))  # (32, n)
    terms = masks[:, :, None] & jnp.asarray(cols)[:, None, :]  # (32, n, Q)
    return jax.lax.reduce(terms, jnp.uint32(0), jax.lax.bitwise_xor, (0,))


def random_words(
    rounding_is_sr_lo: bool,
    cfg: StochasticConfig,
    key: Any,
    shape: tuple[int, ...],
    offset: Any = 0,
) -> jax.Array:
    """The ``cfg.bits``-bit random words that stochastic (or SR LO) rounding consumes."""
    if key is None:
        raise ValueError("stochastic and sr_lo rounding need a key (jax.random key or int seed)")
    check_key(key)
    if rounding_is_sr_lo:
        return sr_lo_words(cfg, key, shape, offset)
    if cfg.source == "threefry":
        if isinstance(key, (int, np.integer)):
            k = jax.random.key(int(key))
        else:
            k = key if isinstance(key, jax.Array) else jnp.asarray(key)
            if k.dtype == jnp.uint32 and k.shape == (2,):
                k = jax.random.wrap_key_data(k)
            elif k.ndim == 0 and jnp.issubdtype(k.dtype, jnp.integer):
                # an integer seed folded with a traced index (fold_key) is a 0-d uint32 array:
                # the same key as the Python int of the same value
                k = jax.random.key(k)
        w = jax.random.bits(jax.random.fold_in(k, jnp.asarray(offset).astype(jnp.uint32)), shape, jnp.uint32)
    else:
        w = hash_words(key, shape, offset)
    if cfg.bits < 32:
        w = w >> jnp.uint32(32 - cfg.bits)  # keep the top bits of the hash
    return w
