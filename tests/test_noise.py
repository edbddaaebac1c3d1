"""Gaussian noise on output activations (Yang & Sze): exact formula, reproducibility, statistics."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimjax.hw import NOISE_KINDS, NoiseConfig, noise_kind_id
from pimjax.nn import (TrainingHardware, add_noise, add_output_noise, emulated_dot, noise_key, training_hardware,
                       with_hardware)
from pimjax.nn._noise import gaussian
from budget import examples  # noqa: E402  (tests/budget.py: the default run and the thorough one)


def _formula(y, key, s):
    """The documented noise: float32(float64(y) + float64(z) * float64(s)), in numpy."""
    z = np.asarray(gaussian(key, np.shape(y)), np.float64)
    return (np.asarray(y, np.float64) + z * np.asarray(s, np.float64)).astype(np.float32)


def test_noise_config_is_validated():
    assert NoiseConfig(kind="rescaled", std=0.1).kind_id == 2
    with pytest.raises(ValueError, match="NoiseConfig.kind"):
        NoiseConfig(kind="gaussian")
    with pytest.raises(ValueError, match="NoiseConfig.std"):
        NoiseConfig(std=-0.1)
    with pytest.raises(ValueError, match="NoiseConfig.std"):
        NoiseConfig(std=float("nan"))
    with pytest.raises(TypeError, match="NoiseConfig.std"):
        NoiseConfig(std=True)
    with pytest.raises(TypeError, match="NoiseConfig.std"):
        NoiseConfig(std="0.1")
    with pytest.raises(ValueError, match="NoiseConfig.over"):
        NoiseConfig(over="batch")
    with pytest.raises(TypeError):
        NoiseConfig(kind="fixed", std=0.1, over="example").replace(std=[0.1])
    with pytest.raises(TypeError):
        NoiseConfig("fixed")  # keyword-only
    with pytest.raises(dataclasses.FrozenInstanceError):
        NoiseConfig().std = 1.0
    assert [noise_kind_id(k) for k in NOISE_KINDS] == [0, 1, 2]
    with pytest.raises(ValueError, match="noise kind"):
        noise_kind_id(3)


def test_noise_is_exactly_reproducible_from_its_key():
    y = jnp.asarray(np.random.default_rng(0).standard_normal((3, 5, 7)), jnp.float32)
    for kind in ("fixed", "rescaled"):
        a = add_noise(y, kind, 0.2, 123)
        b = jax.jit(lambda y: add_noise(y, kind, 0.2, 123))(y)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, add_noise(y, kind, 0.2, jnp.uint32(123)))
        assert not np.array_equal(a, add_noise(y, kind, 0.2, 124))
    # typed and raw jax.random keys work too (and are reproducible)
    k = jax.random.key(5)
    np.testing.assert_array_equal(add_noise(y, "fixed", 0.1, k), add_noise(y, "fixed", 0.1, k))
    np.testing.assert_array_equal(add_noise(y, "fixed", 0.1, jax.random.key_data(k)),
                                  add_noise(y, "fixed", 0.1, k))


def test_noise_is_the_documented_formula():
    y = jnp.asarray(np.random.default_rng(1).standard_normal((4, 6)), jnp.float32)
    sigma = np.float32(0.3)
    np.testing.assert_array_equal(add_noise(y, "fixed", 0.3, 9), _formula(y, 9, sigma))
    m = np.max(np.abs(np.asarray(y)), axis=1, keepdims=True)
    np.testing.assert_array_equal(add_noise(y, "rescaled", 0.3, 9), _formula(y, 9, sigma * m))
    np.testing.assert_array_equal(add_noise(y, "rescaled", 0.3, 9, over="tensor"),
                                  _formula(y, 9, sigma * np.max(np.abs(np.asarray(y)))))
    np.testing.assert_array_equal(add_noise(y, "none", 0.3, 9), y)
    np.testing.assert_array_equal(add_output_noise(y, None, 9), y)
    np.testing.assert_array_equal(add_output_noise(y, NoiseConfig(kind="fixed", std=0.3), 9), _formula(y, 9, sigma))


def _ks_normal(x):
    """Kolmogorov-Smirnov distance of ``x`` to the standard normal."""
    x = np.sort(np.asarray(x, np.float64).ravel())
    n = x.size
    cdf = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    return max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))


def test_fixed_noise_has_the_requested_statistics():
    n = 200_000
    y = jnp.zeros((4, n // 4), jnp.float32)
    sigma = 0.25
    e = np.asarray(add_noise(y, "fixed", sigma, 2024), np.float64)
    # mean 0 and standard deviation sigma within 5 standard errors
    assert abs(e.mean()) < 5 * sigma / math.sqrt(n)
    assert abs(e.std() / sigma - 1) < 5 / math.sqrt(2 * n)
    # Gaussian shape: KS distance below the 99.9% critical value 1.95 / sqrt(n)
    assert _ks_normal(e[: n // 4] / sigma) < 1.95 / math.sqrt(n // 4)
    # independent of y (fixed noise does not scale with the activations)
    y2 = jnp.full((4, n // 4), 100.0, jnp.float32)
    e2 = np.asarray(add_noise(y2, "fixed", sigma, 2024), np.float64) - 100.0
    assert abs(e2.std() / sigma - 1) < 5 / math.sqrt(2 * n) + 1e-4


def test_rescaled_noise_scales_with_each_examples_maximum():
    n = 50_000
    rng = np.random.default_rng(3)
    scales = np.array([0.5, 2.0, 8.0], np.float32)
    y = (rng.uniform(-1, 1, (3, n)) * scales[:, None]).astype(np.float32)
    y[:, 0] = scales  # each example's max |y| is its scale
    sigma = 0.05
    e = np.asarray(add_noise(jnp.asarray(y), "rescaled", sigma, 7), np.float64) - y
    for i, s in enumerate(scales):
        assert abs(e[i].std() / (sigma * s) - 1) < 5 / math.sqrt(2 * n)
        assert abs(e[i].mean()) < 5 * sigma * s / math.sqrt(n)
    et = np.asarray(add_noise(jnp.asarray(y), "rescaled", sigma, 7, over="tensor"), np.float64) - y
    for i in range(3):
        assert abs(et[i].std() / (sigma * scales.max()) - 1) < 5 / math.sqrt(2 * n)


def test_traced_kind_and_level_equal_the_static_noise():
    y = jnp.asarray(np.random.default_rng(2).standard_normal((5, 3, 4)), jnp.float32)
    levels = jnp.asarray([0.0, 0.01, 0.3, 2.0], jnp.float32)
    for kind in NOISE_KINDS:
        kid = jnp.int32(NOISE_KINDS.index(kind))
        vm = jax.jit(jax.vmap(lambda l: add_noise(y, kid, l, 11)))(levels)
        for i, l in enumerate(np.asarray(levels)):
            np.testing.assert_array_equal(vm[i], add_noise(y, kind, float(l), 11))


@settings(max_examples=examples(2, 12))  # each example compiles
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3), level=st.floats(0, 10, allow_subnormal=False),
       kind=st.sampled_from(("fixed", "rescaled")), seed=st.integers(0, 2**32 - 1), over=st.sampled_from(("example", "tensor")))
def test_noise_formula_property(shape, level, kind, seed, over):
    y = np.random.default_rng(seed % 1000).standard_normal(shape).astype(np.float32)
    out = add_noise(jnp.asarray(y), kind, level, seed, over=over)
    np.testing.assert_array_equal(out, add_noise(jnp.asarray(y), kind, level, seed, over=over))
    s = np.float32(level)
    if kind == "rescaled":
        a = np.abs(y)
        m = a.max(keepdims=True) if over == "tensor" or y.ndim < 2 else a.max(axis=tuple(range(1, y.ndim)), keepdims=True)
        s = (s * m).astype(np.float32)
    np.testing.assert_array_equal(out, _formula(y, seed, s))


HW = training_hardware("fixed16", rows=8, width=4)
RNG = np.random.default_rng(0)
X = jnp.asarray(RNG.standard_normal((6, 20)), jnp.float32)
W = jnp.asarray(RNG.standard_normal((20, 5)) * 0.2, jnp.float32)
DY = jnp.asarray(RNG.standard_normal((6, 5)), jnp.float32)


def test_emulated_dot_adds_the_hardware_noise_and_passes_the_gradient_through():
    noise = NoiseConfig(kind="rescaled", std=0.1)
    hwn = dataclasses.replace(HW, noise=noise)
    seed = jnp.uint32(77)

    @jax.jit
    def run(x, w):
        y, ev = emulated_dot(x, w, hwn, seed=seed)
        y0, ev0 = emulated_dot(x, w, HW, seed=seed)
        # training: the noise is added to the forward output; d(y + n)/dy = 1 (straight through)
        g = jax.grad(lambda x, w: jnp.sum(emulated_dot(x, w, hwn, seed=seed)[0] * DY), argnums=(0, 1))(x, w)
        g0 = jax.grad(lambda x, w: jnp.sum(emulated_dot(x, w, HW, seed=seed)[0] * DY), argnums=(0, 1))(x, w)
        return y, ev, y0, ev0, g, g0

    y, ev, y0, ev0, g, g0 = run(X, W)
    np.testing.assert_array_equal(y, add_output_noise(y0, noise, noise_key(seed)))
    np.testing.assert_array_equal(ev, ev0)
    assert not np.array_equal(y, y0)
    for a, b in zip(g, g0):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="TrainingHardware.noise"):
        dataclasses.replace(HW, noise="fixed")


@pytest.mark.slow  # a model's noisy evaluation: the sweep tests (test_sweep) and the emulated_dot noise test here
def test_model_on_noisy_hardware_without_retraining():
    from flax import nnx

    from pimjax.apps.sweep.models import SmallCNN

    native = dataclasses.replace(training_hardware("native"), record_costs=False)
    model = SmallCNN(depth=2, kernel=3, channels=3, hw=native, input_size=8, rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 1)), jnp.float32)
    noisy = with_hardware(model, dataclasses.replace(native, noise=NoiseConfig(kind="fixed", std=0.5)))
    f = nnx.jit(lambda m, x, s: m(x, seed=s))
    clean, a, b, c = (f(model, x, jnp.uint32(1)), f(noisy, x, jnp.uint32(1)), f(noisy, x, jnp.uint32(1)),
                      f(noisy, x, jnp.uint32(2)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, clean) and not np.array_equal(a, c)
    assert all(isinstance(m.hw, TrainingHardware) and m.hw.noise is None
               for _, m in nnx.iter_graph(model) if hasattr(m, "hw"))  # the original is unchanged
    with pytest.raises(TypeError, match="TrainingHardware"):
        with_hardware(model, lambda layer: "native")
