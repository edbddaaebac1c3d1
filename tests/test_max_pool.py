"""Max pooling with the argmax index (NeuroTrainer Sec. 3.3.3) against a plain numpy reference.

The reference walks each window row-major and keeps the first maximum (a NaN beats any number,
the first NaN wins, ``-0.0 == 0.0`` keeps the first); the value must be that very element (bit
for bit, sign of zero and NaN included) and the gradient must reach it alone.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pimjax.nn import max_pool_with_index
from budget import examples, quick_subset  # noqa: E402  (tests/budget.py: the default run and the thorough one)

_VALUES = np.array([-0.0, 0.0, 1.0, -1.0, 2.5, np.nan, np.inf, -np.inf, 1.0, 2.5], np.float32)


def _ref_pool(x: np.ndarray, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    n, h, w, c = x.shape
    ho, wo = (h - window) // stride + 1, (w - window) // stride + 1
    y = np.zeros((n, ho, wo, c), np.float32)
    idx = np.zeros((n, ho, wo, c), np.int64)
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                for ch in range(c):
                    best, bi = None, -1
                    for t in range(window * window):
                        v = x[b, i * stride + t // window, j * stride + t % window, ch]
                        if best is None or (np.isnan(v) and not np.isnan(best)) or (
                                not np.isnan(best) and not np.isnan(v) and v > best):
                            best, bi = v, t
                    y[b, i, j, ch], idx[b, i, j, ch] = best, bi
    return y, idx


@settings(deadline=None, max_examples=examples(6, 15), suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(2, 7), w=st.integers(2, 7), c=st.integers(1, 3), window=st.integers(1, 3),
       overlap=st.booleans(), seed=st.integers(0, 2**16))
def test_max_pool_equals_reference_bits(h, w, c, window, overlap, seed):
    window = min(window, h, w)
    stride = max(1, window - 1) if overlap else window
    x = np.random.default_rng(seed).choice(_VALUES, size=(2, h, w, c))
    y, idx = max_pool_with_index(jnp.asarray(x), window, stride)
    ry, ridx = _ref_pool(x, window, stride)
    y = np.asarray(y)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ry))
    bits = lambda a: np.where(np.isnan(a), 0, a.view(np.uint32))  # noqa: E731  (the bits; any NaN is a NaN)
    np.testing.assert_array_equal(bits(y), bits(ry))
    np.testing.assert_array_equal(np.asarray(idx), ridx)


def test_max_pool_golden_ties_and_signed_zero():
    # windows (2x2, row-major): [-0, 0, 0, -0] -> first (-0, idx 0); [1, 1, 1, 1] -> idx 0;
    # [0, nan, 1, nan] -> the first NaN (idx 1); [-inf]*4 -> idx 0
    x = np.array([[-0.0, 0.0, 1, 1, 0, np.nan, -np.inf, -np.inf],
                  [0.0, -0.0, 1, 1, 1, np.nan, -np.inf, -np.inf]], np.float32).reshape(1, 2, 8, 1)
    y, idx = max_pool_with_index(jnp.asarray(x), 2)
    y = np.asarray(y).ravel()
    assert np.signbit(y[0]) and y[0] == 0 and y[1] == 1 and np.isnan(y[2]) and y[3] == -np.inf
    assert np.asarray(idx).ravel().tolist() == [0, 0, 1, 0]


@pytest.mark.parametrize("window,stride", quick_subset([(2, 2), (3, 2), (3, 3)], {(3, 2)}))
def test_max_pool_gradient_goes_to_the_argmax_only(window, stride):
    x = np.random.default_rng(3).choice(np.array([0.0, 1.0, 2.0, 2.0, -1.0], np.float32), size=(2, 7, 6, 2))
    _, ridx = _ref_pool(x, window, stride)
    g = np.random.default_rng(4).integers(-8, 9, size=ridx.shape).astype(np.float32)  # sums exact in any order
    got = jax.grad(lambda v: jnp.sum(max_pool_with_index(v, window, stride)[0] * g))(jnp.asarray(x))
    want = np.zeros_like(x)
    for (b, i, j, ch), t in np.ndenumerate(ridx):
        want[b, i * stride + t // window, j * stride + t % window, ch] += g[b, i, j, ch]
    np.testing.assert_array_equal(np.asarray(got), want)


def test_max_pool_bad_input():
    x = jnp.zeros((1, 4, 4, 1))
    with pytest.raises(ValueError, match="window"):
        max_pool_with_index(x, 0)
    with pytest.raises(ValueError, match="stride"):
        max_pool_with_index(x, 2, 0)
    with pytest.raises(ValueError, match="NHWC"):
        max_pool_with_index(jnp.zeros((4, 4)), 2)
    with pytest.raises(ValueError, match="does not fit"):
        max_pool_with_index(x, 5)
