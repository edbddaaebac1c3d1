"""Hardware-resident fixed-point weights: the in-memory update equals an exact reference bit for
bit, small updates vanish without stochastic rounding (NeuroTrainer Fig. 10) and survive with it."""

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ref_numerics as ref
from pimjax.nn import ResidentWeights, resident_update, rounded_sum, to_resident, total_events
from pimjax.numerics import FixedFormat
from budget import examples  # noqa: E402  (tests/budget.py: the default run and the thorough one)

DETERMINISTIC = ("floor", "toward_zero", "nearest_even", "nearest_away")


def _ref_sum(code: int, u: float, bits: int, frac: int, mode: str, R: int | None = None) -> tuple[int, bool]:
    """saturate(round(code + u * 2**frac)) with exact rationals."""
    if np.isnan(u):
        return code, False
    lo, hi = ref.code_range(bits, True)
    if np.isinf(u):
        return (hi if u > 0 else lo), False
    y = Fraction(code) + Fraction(float(u)) * Fraction(2) ** frac
    v = ref.round_real(y, mode, R, 32)
    return ref.overflow(v, bits, True, "saturate")


def _key_words(seed: int) -> tuple[int, int]:
    return tuple(ref.lowbias32((seed + k * 0x9E3779B9) & ref.M32) for k in (1, 2))


# golden ties and extremes, Q8.16 (24 bits, codes in [-2**23, 2**23 - 1])
GOLDEN = [  # (code, u * 2**16, {mode: new code})
    (4, 0.5, {"floor": 4, "toward_zero": 4, "nearest_even": 4, "nearest_away": 5}),
    (5, 0.5, {"floor": 5, "toward_zero": 5, "nearest_even": 6, "nearest_away": 6}),
    (-4, -0.5, {"floor": -5, "toward_zero": -4, "nearest_even": -4, "nearest_away": -5}),
    (-5, 0.5, {"floor": -5, "toward_zero": -4, "nearest_even": -4, "nearest_away": -5}),
    (0, -0.5, {"floor": -1, "toward_zero": 0, "nearest_even": 0, "nearest_away": -1}),
    (1, -2.0**-40, {"floor": 0, "toward_zero": 0, "nearest_even": 1, "nearest_away": 1}),
    (-1, 2.0**-40, {"floor": -1, "toward_zero": 0, "nearest_even": -1, "nearest_away": -1}),
    (2**23 - 1, 1.0, {m: 2**23 - 1 for m in DETERMINISTIC}),  # saturates
    (-(2**23), -3.5, {m: -(2**23) for m in DETERMINISTIC}),
]


@pytest.mark.parametrize("code,y,expected", GOLDEN)
def test_golden_ties_and_extremes(code, y, expected):
    u = np.float32(y * 2.0**-16)
    for mode, want in expected.items():
        cfg = ResidentWeights(rounding=mode)
        new, ev = rounded_sum(jnp.array([code]), jnp.array([u]), cfg)
        assert int(new[0]) == want, (code, y, mode)
        assert int(ev.overflow) == int(want != _ref_sum(code, u, 24, 16, mode)[0] or
                                       _ref_sum(code, u, 24, 16, mode)[1])


_codes = st.integers(-(2**23), 2**23 - 1)
_u = st.one_of(st.floats(-1e3, 1e3, width=32), st.sampled_from([0.0, 2.0**-17, -(2.0**-17), 3 * 2.0**-17,
                                                                 1e-30, -1e-30, float("nan"), float("inf")]))


@settings(max_examples=examples(4, 60), deadline=None)
@given(codes=st.lists(_codes, min_size=1, max_size=8), us=st.lists(_u, min_size=8, max_size=8),
       mode=st.sampled_from(DETERMINISTIC), bits=st.integers(4, 24), frac=st.integers(0, 20))
def test_deterministic_update_equals_reference(codes, us, mode, bits, frac):
    lo, hi = ref.code_range(bits, True)
    codes = [min(max(c, lo), hi) for c in codes]
    us = np.asarray(us[: len(codes)], np.float32)
    cfg = ResidentWeights(format=FixedFormat(bits=bits, frac=frac), rounding=mode)
    new, ev = rounded_sum(jnp.asarray(codes), jnp.asarray(us), cfg)
    want = [_ref_sum(c, float(u), bits, frac, mode) for c, u in zip(codes, us)]
    np.testing.assert_array_equal(np.asarray(new), [w for w, _ in want])
    assert int(ev.overflow) == sum(o for _, o in want)
    assert int(ev.nan) == int(np.isnan(us).sum()) and int(ev.inf) == int(np.isinf(us).sum())


@settings(max_examples=examples(6, 40), deadline=None)
@given(codes=st.lists(st.integers(-(2**20), 2**20), min_size=8, max_size=8),  # one shape: one compile
       us=st.lists(st.floats(-1.0, 1.0, width=32), min_size=8, max_size=8), seed=st.integers(0, 2**32 - 1))
def test_stochastic_update_equals_reference(codes, us, seed):
    us = np.asarray(us[: len(codes)], np.float32)
    cfg = ResidentWeights(rounding="stochastic")
    new, ev = rounded_sum(jnp.asarray(codes), jnp.asarray(us), cfg, key=seed)
    s0, s1 = _key_words(seed)
    want = [_ref_sum(c, float(u), 24, 16, "stochastic", R=ref.hash_word(s0, s1, i))[0]
            for i, (c, u) in enumerate(zip(codes, us))]
    np.testing.assert_array_equal(np.asarray(new), want)
    assert int(ev.random_bits) == 32 * len(codes)


def _step(cfg, w, g, lr, steps=1, seed=0):
    tx = optax.chain(optax.sgd(lr), resident_update(cfg, seed=seed))
    state = tx.init(w)
    upd = jax.jit(tx.update)
    for _ in range(steps):
        u, state = upd(g, state, w)
        w = optax.apply_updates(w, u)
    return w, state


def test_small_updates_vanish_without_sr_and_survive_with_it():
    """NeuroTrainer Fig. 10 in one weight: eta * dW = 1e-6 is below half a step (2**-17)."""
    w, _ = to_resident({"w": jnp.zeros((4096,), jnp.float32) + 0.25}, ResidentWeights())
    g = {"w": jnp.ones((4096,), jnp.float32)}
    near, _ = _step(ResidentWeights(rounding="nearest_even"), w, g, 1e-6, steps=50)
    np.testing.assert_array_equal(np.asarray(near["w"]), np.asarray(w["w"]))  # lost, every step
    for mode in ("stochastic", "sr_lo"):
        sr, state = _step(ResidentWeights(rounding=mode), w, g, 1e-6, steps=50)
        moved = float(np.mean(np.asarray(w["w"], np.float64) - np.asarray(sr["w"], np.float64)))
        assert abs(moved - 50e-6) < 5e-6, (mode, moved)  # unbiased: E[W + u] = W - 50 * 1e-6
        ev = total_events(state[1])
        assert ev["random_bits"] == 50 * 4096 * 32 and ev["overflow"] == 0


def test_update_lands_on_the_grid_and_equals_the_exact_sum():
    rng = np.random.default_rng(0)
    cfg = ResidentWeights(rounding="stochastic")
    w, _ = to_resident({"a": jnp.asarray(rng.standard_normal((33, 7)), jnp.float32),
                        "b": jnp.asarray(rng.standard_normal((5,)), jnp.float32)}, cfg)
    g = {k: jnp.asarray(rng.standard_normal(v.shape), jnp.float32) for k, v in w.items()}
    tx = optax.chain(optax.sgd(3e-4), resident_update(cfg, seed=7))
    u, state = tx.update(g, tx.init(w), w)
    new = optax.apply_updates(w, u)
    sgd_u, _ = optax.sgd(3e-4).update(g, optax.sgd(3e-4).init(w), w)
    for i, k in enumerate(sorted(w)):  # leaves in tree order; leaf i's key: fold_key(fold_key(7, 0), i)
        from pimjax.numerics import fold_key

        codes = jnp.round(w[k] * 2**16).astype(jnp.int32)
        want, _ = rounded_sum(codes, sgd_u[k], cfg, key=fold_key(fold_key(jnp.uint32(7), 0), i))
        np.testing.assert_array_equal(np.asarray(new[k], np.float64) * 2**16, np.asarray(want, np.float64))
    assert int(state[1].count) == 1


@pytest.mark.parametrize("mode", ["stochastic", "nearest_even"])
def test_formats_on_one_grid_differ_only_where_the_narrower_saturates(mode):
    """Resident formats with the same fraction bits (Q4.8, Q8.8, Q16.8) give the same weights
    and events bit for bit in a run where the narrowest saturates nothing: width adds range
    only. This is why the Q8.16 runs of Fig. 10 that saturate nothing are its 32-bit (Q16.16)
    runs (pimjax/apps/fidelity/_neurotrainer.py)."""
    rng = np.random.default_rng(1)
    w0 = {"w": jnp.asarray(np.round(rng.uniform(-6, 6, (257,)) * 256) / 256, jnp.float32)}
    g = {"w": jnp.asarray(rng.standard_normal((257,)), jnp.float32)}
    runs = [_step(ResidentWeights(format=FixedFormat(bits=b, frac=8), rounding=mode), w0, g, 0.03, steps=4)
            for b in (12, 16, 24)]
    assert total_events(runs[0][1][1])["overflow"] == 0
    for w, state in runs[1:]:
        np.testing.assert_array_equal(np.asarray(w["w"]), np.asarray(runs[0][0]["w"]))
        assert total_events(state[1]) == total_events(runs[0][1][1])
    # a weight pushed past +8: Q4.8 saturates (counted) and only there do the formats part
    edge = {"w": jnp.asarray([7.90625, 1.0], jnp.float32)}  # on the grid
    (wn, sn), (ww, sw) = (_step(ResidentWeights(format=FixedFormat(bits=b, frac=8), rounding=mode), edge,
                                {"w": jnp.asarray([-10.0, 1.0], jnp.float32)}, 0.03) for b in (12, 16))
    assert total_events(sn[1])["overflow"] == 1 and total_events(sw[1])["overflow"] == 0
    assert float(wn["w"][0]) == 8 - 2**-8 and float(ww["w"][0]) > 8
    assert float(wn["w"][1]) == float(ww["w"][1])


def test_saturation_and_nan_are_counted():
    cfg = ResidentWeights(format=FixedFormat(bits=8, frac=4), rounding="nearest_even")
    w = {"w": jnp.array([7.0, -8.0, 1.0], jnp.float32)}
    _, state = _step(cfg, w, {"w": jnp.array([-1.0, 1.0, jnp.nan], jnp.float32)}, 1.0)
    ev = total_events(state[1])
    assert ev["overflow"] == 2 and ev["nan"] == 1


def test_update_events_are_exact_int64_running_totals():
    """The state's events are int64 sums over the steps (random bits too), exact past 2**31
    under jit although x64 is off."""
    from pimjax.nn import ResidentState
    from pimjax.numerics import NumericEvents

    cfg = ResidentWeights()
    w, _ = to_resident({"w": jnp.zeros((1000,), jnp.float32)}, cfg)
    tx = resident_update(cfg)
    start = ResidentState(count=jnp.zeros((), jnp.int32),
                          events=NumericEvents.make(overflow=2**31 + 5, random_bits=2**31 - 1))
    step = jax.jit(lambda s: tx.update({"w": jnp.full((1000,), 1e-6, jnp.float32)}, s, w)[1])
    state = step(step(start))
    assert all(np.asarray(x).dtype == np.int64 for x in state.events)
    assert total_events(state) == {"overflow": 2**31 + 5, "nan": 0, "inf": 0,
                                   "random_bits": 2**31 - 1 + 2 * 1000 * 32}
    assert int(state.count) == 2


def test_bad_config():
    with pytest.raises(ValueError, match="ResidentWeights.format"):
        ResidentWeights(format=FixedFormat(bits=32, frac=16))
    with pytest.raises(ValueError, match="ResidentWeights.rounding"):
        ResidentWeights(rounding="banker")
    with pytest.raises(TypeError, match="ResidentWeights.format"):
        ResidentWeights(format="q8.16")
    with pytest.raises(ValueError, match="needs params"):
        resident_update(ResidentWeights()).update({"w": jnp.zeros(2)}, resident_update(ResidentWeights()).init(None))
