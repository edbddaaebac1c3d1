"""Stochastic-rounding bit sources: the counter hash, threefry, and the SR LO LFSR stream.

The SR LO stream is checked against a plain-Python simulation of the 32-bit Fibonacci LFSR
documented in ``pimjax.numerics._random`` (stepped bit by bit from the seed; the word after
clock ``t`` is the low ``r`` bits of the state), the hash against a plain-Python lowbias32.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ref_numerics as ref
from pimjax.numerics import (
    BIT_SOURCES,
    DEFAULT_STOCHASTIC,
    StochasticConfig,
    fold_key,
    hash_words,
    lfsr_state,
    random_words,
    sr_lo_words,
)
from pimjax.numerics._random import key_words, row_states, row_words, stream_words, stride_states
from budget import quick_subset  # noqa: E402  (tests/budget.py: the default run and the thorough one)

U32 = np.uint32
KEYS = [jax.random.key(0), jax.random.key(2024), jax.random.PRNGKey(7), 42, 0xDEADBEEF]


def key_id(k):
    return repr(k) if isinstance(k, int) else str(getattr(k, "dtype", type(k)))


# ------------------------------------------------------------------------------ config


def test_stochastic_config_defaults():
    c = DEFAULT_STOCHASTIC
    assert (c.bits, c.source, c.lfsr_taps, c.lfsr_seed) == (32, "hash", (32, 22, 2, 1), 0xACE1ACE1)
    assert BIT_SOURCES == ("hash", "threefry")
    assert StochasticConfig(bits=8) == StochasticConfig(bits=8)
    assert hash(StochasticConfig(bits=8)) == hash(StochasticConfig(bits=8))  # usable as a static arg
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.bits = 8  # type: ignore[misc]
    with pytest.raises(TypeError):
        StochasticConfig(8)  # keyword-only


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(bits=0), "StochasticConfig.bits"),
        (dict(bits=33), "StochasticConfig.bits"),
        (dict(bits=-1), "StochasticConfig.bits"),
        (dict(bits=True), "StochasticConfig.bits"),
        (dict(bits=8.0), "StochasticConfig.bits"),
        (dict(source="pcg"), "StochasticConfig.source"),
        (dict(source="Hash"), "StochasticConfig.source"),
        (dict(lfsr_taps=(31, 3)), "StochasticConfig.lfsr_taps"),
        (dict(lfsr_taps=(33, 32, 1)), "StochasticConfig.lfsr_taps"),
        (dict(lfsr_taps=(32, 32, 1)), "StochasticConfig.lfsr_taps"),
        (dict(lfsr_taps=(32, 0)), "StochasticConfig.lfsr_taps"),
        (dict(lfsr_taps=()), "StochasticConfig.lfsr_taps"),
        (dict(lfsr_seed=0), "StochasticConfig.lfsr_seed"),
        (dict(lfsr_seed=2**32), "StochasticConfig.lfsr_seed"),
        (dict(lfsr_seed=-5), "StochasticConfig.lfsr_seed"),
        (dict(lfsr_seed=1.5), "StochasticConfig.lfsr_seed"),
    ],
)
def test_stochastic_config_bad(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        StochasticConfig(**kwargs)


def test_bad_keys():
    with pytest.raises(ValueError, match="key"):
        random_words(False, DEFAULT_STOCHASTIC, None, (4,))
    with pytest.raises(ValueError, match="key"):
        random_words(True, DEFAULT_STOCHASTIC, None, (4,))
    with pytest.raises(TypeError, match="key"):
        hash_words(jnp.array([1.5, 2.5]), (4,))
    with pytest.raises(TypeError, match="key"):
        hash_words(jnp.array([1, 2, 3], jnp.uint32), (4,))


# ------------------------------------------------------------------------------ keys


def test_fold_key():
    # integer seeds: (key * 0x9E3779B1 + (i + 1) * 0x632BE5AB) mod 2**32, a Python int
    for key, i in ((0, 0), (42, 3), (2**32 - 1, 101), (123456789, 2**20)):
        want = (key * 0x9E3779B1 + (i + 1) * 0x632BE5AB) % 2**32
        assert fold_key(key, i) == want and isinstance(fold_key(key, i), int)
        if i < 2**31:  # a traced / array sub-stream index gives the same word
            assert int(fold_key(key, jnp.int32(i))) == want
            assert int(jax.jit(lambda j: fold_key(key, j))(jnp.int32(i))) == want
    # jax.random keys fold in
    k = jax.random.key(3)
    np.testing.assert_array_equal(jax.random.key_data(fold_key(k, 5)), jax.random.key_data(jax.random.fold_in(k, 5)))
    raw = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(np.asarray(fold_key(raw, 5)), np.asarray(jax.random.fold_in(raw, 5)))
    # distinct sub-streams give distinct words
    assert len({fold_key(7, i) for i in range(1000)}) == 1000


# ------------------------------------------------------------------------------ hash


def test_key_words_documented_sources():
    k = jax.random.key(5)
    np.testing.assert_array_equal(np.asarray(key_words(k, 2)), np.asarray(jax.random.bits(k, (2,), jnp.uint32)))
    raw = jax.random.PRNGKey(5)
    np.testing.assert_array_equal(np.asarray(key_words(raw, 2)), np.asarray(key_words(jax.random.wrap_key_data(raw), 2)))
    # integer seeds: lowbias32(seed + j * 0x9E3779B9), j = 1..n; a traced/array seed agrees
    for seed in (0, 1, 42, 2**31 - 1, 0xDEADBEEF):
        want = [ref.lowbias32(seed + j * 0x9E3779B9) for j in (1, 2, 3)]
        assert np.asarray(key_words(seed, 3)).tolist() == want
        if seed < 2**31:
            assert np.asarray(key_words(jnp.int32(seed), 3)).tolist() == want
            assert np.asarray(jax.jit(lambda s: key_words(s, 3))(jnp.int32(seed))).tolist() == want


def test_lowbias32_reference_sanity():
    # the reference hash: 0 is its fixed point, and it is a bijection (no collisions)
    assert ref.lowbias32(0) == 0
    vals = [ref.lowbias32(i) for i in range(1, 5)]
    assert len(set(vals)) == 4 and all(0 < v < 2**32 for v in vals)
    # bijective on a window (no collisions)
    assert len({ref.lowbias32(i) for i in range(5000)}) == 5000


@pytest.mark.parametrize("key", KEYS, ids=key_id)
def test_hash_words_vs_reference(key):
    s0, s1 = (int(v) for v in np.asarray(key_words(key, 2)))
    for shape, offset in (((300,), 0), ((3, 100), 17), ((5, 4, 3), np.uint32(2**32 - 30))):
        got = np.asarray(hash_words(key, shape, offset))
        assert got.shape == shape and got.dtype == np.uint32
        n = int(np.prod(shape))
        want = [ref.hash_word(s0, s1, i + int(offset)) for i in range(n)]  # row-major counter
        assert got.reshape(-1).tolist() == want
    # offsets continue the stream
    a = np.asarray(hash_words(key, (300,)))
    np.testing.assert_array_equal(np.asarray(hash_words(key, (300,), 100))[:200], a[100:])


@pytest.mark.parametrize("r", [32, 17, 8, 1])
def test_random_words_hash_and_threefry(r):
    cfg_h = StochasticConfig(bits=r)
    cfg_t = StochasticConfig(bits=r, source="threefry")
    for key in (jax.random.key(3), 99, jax.random.PRNGKey(1)):
        for offset in (0, 5):
            h = np.asarray(random_words(False, cfg_h, key, (3, 100), offset))
            full = np.asarray(hash_words(key, (3, 100), offset))
            np.testing.assert_array_equal(h, full >> U32(32 - r))  # the top r bits of the hash
            t = np.asarray(random_words(False, cfg_t, key, (3, 100), offset))
            k = jax.random.key(key) if isinstance(key, int) else key
            if k.dtype == jnp.uint32:
                k = jax.random.wrap_key_data(k)
            bits = np.asarray(jax.random.bits(jax.random.fold_in(k, offset), (3, 100), jnp.uint32))
            np.testing.assert_array_equal(t, bits >> U32(32 - r))
            assert int(h.max()) < 2**r and int(t.max()) < 2**r
            # same key, same bits
            np.testing.assert_array_equal(np.asarray(random_words(False, cfg_t, key, (3, 100), offset)), t)


def test_hash_words_look_uniform():
    # statistics (approximate): each bit is set about half the time, words are distinct
    w = np.asarray(hash_words(jax.random.key(0), (1 << 16,)))
    bits = (w[:, None] >> np.arange(32, dtype=U32)) & U32(1)
    assert np.all(np.abs(bits.mean(axis=0) - 0.5) < 0.01)
    assert len(np.unique(w)) > 65000
    assert abs(float(np.mean(w / 2.0**32)) - 0.5) < 0.005


# ------------------------------------------------------------------------------ SR LO LFSR


def test_lfsr_state_first_clocks_vs_bitwise_simulation():
    n = 2000
    for cfg in (DEFAULT_STOCHASTIC, StochasticConfig(lfsr_taps=(32, 7, 3, 2), lfsr_seed=1),
                StochasticConfig(lfsr_taps=(32, 31, 30, 10), lfsr_seed=0xFFFFFFFF)):
        want = ref.lfsr_run(cfg.lfsr_seed, n, cfg.lfsr_taps)
        got = jax.vmap(lambda t: lfsr_state(cfg, t))(np.arange(n + 1, dtype=U32))
        assert np.asarray(got).tolist() == want
        for t in (0, 1, 33, 64, 1999):
            assert int(lfsr_state(cfg, np.uint32(t))) == want[t]


def test_lfsr_reference_step_golden():
    # one clock by hand: s = 0xACE1ACE1; taps bits 31, 21, 1, 0 = 1, 1, 0, 1 -> feedback 1
    s = 0xACE1ACE1
    assert ((s >> 31) & 1, (s >> 21) & 1, (s >> 1) & 1, s & 1) == (1, 1, 0, 1)
    assert ref.lfsr_step(s) == 0x59C359C3
    assert ref.lfsr_step(0x80000000) == 0x00000001
    assert ref.lfsr_step(0x00000001) == 0x00000003
    assert ref.lfsr_step(0x00200000) == 0x00400001
    assert ref.lfsr_step(0x00000002) == 0x00000005
    assert ref.lfsr_step(0x00000004) == 0x00000008
    assert ref.lfsr_jump(s, 1) == 0x59C359C3
    assert ref.lfsr_jump(s, 1234) == ref.lfsr_run(s, 1234)[-1]


def test_lfsr_state_large_clocks_and_maximal_period():
    cfg = DEFAULT_STOCHASTIC
    f = jax.jit(lambda t: lfsr_state(cfg, t))
    for t in (2**20 + 3, 123456789, 2**31, 2**32 - 2):
        want = ref.lfsr_jump(cfg.lfsr_seed, t)
        assert int(lfsr_state(cfg, np.uint32(t))) == want == int(f(np.uint32(t)))
    # x^32 + x^22 + x^2 + x + 1 is maximal: period 2**32 - 1 and no proper divisor of it
    period = 2**32 - 1
    assert int(f(np.uint32(period))) == cfg.lfsr_seed == ref.lfsr_jump(cfg.lfsr_seed, period)
    for p in (3, 5, 17, 257, 65537):
        assert period % p == 0
        assert int(f(np.uint32(period // p))) != cfg.lfsr_seed
        assert ref.lfsr_jump(cfg.lfsr_seed, period // p) != cfg.lfsr_seed


@pytest.mark.parametrize("key", [jax.random.key(0), jax.random.key(77), 5, jax.random.PRNGKey(123)], ids=key_id)
def test_sr_lo_words_vs_lfsr_simulation(key):
    t0 = int(np.asarray(key_words(key, 1))[0])
    n = 300
    for cfg in (DEFAULT_STOCHASTIC, StochasticConfig(bits=16), StochasticConfig(bits=7),
                StochasticConfig(bits=1, lfsr_taps=(32, 7, 3, 2), lfsr_seed=12345)):
        r = cfg.bits
        # offsets 0 and 1000, and the one whose first clock is 2**32 - 1 (one full period)
        for offset in (0, 1000, (2**32 - 2 - t0) % 2**32):
            want = ref.sr_lo_words(cfg.lfsr_seed, t0, offset, n, r, cfg.lfsr_taps)
            got = np.asarray(sr_lo_words(cfg, key, (n,), np.uint32(offset)))
            assert got.dtype == np.uint32
            assert got.tolist() == want, (r, offset)
            np.testing.assert_array_equal(np.asarray(random_words(True, cfg, key, (n,), np.uint32(offset))), got)
        # row-major over a 2-d shape, and a small array crossing a block boundary
        got2 = np.asarray(sr_lo_words(cfg, key, (3, 100), 0))
        assert got2.reshape(-1).tolist() == ref.sr_lo_words(cfg.lfsr_seed, t0, 0, n, r, cfg.lfsr_taps)


def test_sr_lo_words_period_wrap_and_offset_continuity():
    cfg = DEFAULT_STOCHASTIC
    key = 11
    t0 = int(np.asarray(key_words(key, 1))[0])
    # first clock = 2**32 - 1 + 1: the state after one full period plus one clock = S_1
    off = (2**32 - 1 - t0) % 2**32
    got = np.asarray(sr_lo_words(cfg, key, (300,), np.uint32(off)))
    assert got.tolist() == ref.lfsr_run(cfg.lfsr_seed, 300)[1:]
    # a later call with offset + k continues the stream (across the 64-clock blocks too)
    long = np.asarray(sr_lo_words(cfg, key, (300,), 0))
    for k in (1, 63, 64, 65, 130):
        np.testing.assert_array_equal(np.asarray(sr_lo_words(cfg, key, (300,), k))[: 300 - k], long[k:])


def test_sr_lo_consecutive_words_share_r_minus_1_bits():
    for r in (32, 12, 2):
        cfg = StochasticConfig(bits=r)
        w = np.asarray(sr_lo_words(cfg, jax.random.key(4), (300,))).astype(np.uint64)
        mask = (1 << (r - 1)) - 1
        np.testing.assert_array_equal(w[1:] >> 1, w[:-1] & mask)


def test_sr_lo_words_jit_and_traced_offset():
    cfg = StochasticConfig(bits=24)
    key = jax.random.key(8)
    f = jax.jit(lambda k, o: sr_lo_words(cfg, k, (130,), o))
    for offset in (0, 3, 100000):
        np.testing.assert_array_equal(np.asarray(f(key, np.uint32(offset))), np.asarray(sr_lo_words(cfg, key, (130,), offset)))
    offs = np.array([0, 1, 2, 500], U32)
    batched = jax.vmap(lambda o: sr_lo_words(cfg, key, (10,), o))(offs)
    for i, o in enumerate(offs.tolist()):
        np.testing.assert_array_equal(np.asarray(batched[i]), np.asarray(sr_lo_words(cfg, key, (10,), o)))


def test_sr_lo_bits_are_balanced():
    # statistics (approximate): the stream's bits are about half ones
    w = np.asarray(sr_lo_words(DEFAULT_STOCHASTIC, jax.random.key(1), (1 << 15,)))
    assert abs(float(np.mean(w & U32(1))) - 0.5) < 0.02
    assert abs(float(np.mean(w / 2.0**32)) - 0.5) < 0.02


# ------------------------------------------------------------------------------ SR LO rows


# (the default run: one of each layout, (5, 64), (4, 48) and (3, 97); -m slow: all)
@pytest.mark.parametrize("rows,length", quick_subset([
    (5, 64),  # a multiple of 32: the rows share one sequence of states every 32 clocks
    (4, 48), (7, 9), (3, 10), (6, 100), (2, 1),  # every gcd(length, 32) clocks, gathered per row
    (3, 97), (2, 1001),  # each row's start, then 32-clock jumps
], {(5, 64), (4, 48), (3, 97)}))
def test_row_states_and_words_vs_lfsr_simulation(rows, length):
    """Rows of consecutive clocks from any state: every branch of row_states equals the
    bit-by-bit LFSR simulation (and so does stream_words over the same clocks)."""
    for cfg, clock in ((DEFAULT_STOCHASTIC, 12345), (StochasticConfig(bits=5, lfsr_taps=(32, 7, 3, 2), lfsr_seed=99), 2**32 - 7)):
        start = lfsr_state(cfg, np.uint32(clock))
        want = ref.sr_lo_words(cfg.lfsr_seed, clock - 1, 0, rows * length, cfg.bits, cfg.lfsr_taps)
        st = row_states(cfg, start, rows, length)
        assert st.shape == (rows, -(-length // 32) + 1) and st.dtype == jnp.uint32
        got = np.asarray(row_words(cfg, st, length))
        assert got.shape == (rows, length)
        assert got.reshape(-1).tolist() == want
        assert np.asarray(stream_words(cfg, start, rows * length)).tolist() == want


def test_stride_states_vs_jumps():
    """States every ``stride`` clocks from several starts (blocked recursion past 64)."""
    taps = DEFAULT_STOCHASTIC.lfsr_taps
    starts = [0xACE1ACE1, 1, 0x80000000]
    got = np.asarray(stride_states(taps, jnp.asarray(starts, jnp.uint32), 150, 37))
    assert got.shape == (3, 150)
    for r, s in enumerate(starts):
        assert got[r, [0, 1, 63, 64, 65, 149]].tolist() == [ref.lfsr_jump(s, 37 * k, taps) for k in (0, 1, 63, 64, 65, 149)]
