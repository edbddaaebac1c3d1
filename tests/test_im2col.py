"""im2col (conv lowered to matmul) and the native float32 conv.

The patches equal ``jax.lax.conv_general_dilated_patches`` exactly (same values, same
channel-major feature order); their backward pass (col2im) is float, so it is compared with
the convolution's to float tolerance; an ``EmuConv`` on native hardware (a plain
``lax.conv_general_dilated``) equals the im2col matmul to float tolerance, values and
gradients.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pimjax.nn import im2col, training_hardware
from pimjax.nn._layers import EmuConv
from budget import examples  # noqa: E402  (tests/budget.py: the default run and the thorough one)


def _patches(x, ks, st_, pad):
    return jax.lax.conv_general_dilated_patches(x, ks, st_, pad, dimension_numbers=("NHWC", "HWIO", "NHWC"))


@settings(deadline=None, max_examples=examples(1, 12), suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(3, 9), w=st.integers(3, 9), c=st.integers(1, 4), kh=st.integers(1, 3), kw=st.integers(1, 3),
       sh=st.integers(1, 2), sw=st.integers(1, 2), pad=st.sampled_from(["SAME", "VALID", ((1, 0), (0, 2))]))
def test_im2col_equals_conv_patches(h, w, c, kh, kw, sh, sw, pad):
    x = jax.random.normal(jax.random.key(h * 100 + w * 10 + c), (2, h, w, c))
    got, want = im2col(x, (kh, kw), (sh, sw), pad), _patches(x, (kh, kw), (sh, sw), pad)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.slow  # im2col's backward pass against XLA's patches op; the conv layers' gradient tests run it
def test_im2col_backward_is_col2im():
    x = jax.random.normal(jax.random.key(0), (2, 7, 6, 3))
    for ks, st_, pad in [((3, 3), (1, 1), "SAME"), ((2, 2), (2, 2), "VALID"), ((3, 2), (2, 1), "SAME")]:
        g = jax.random.normal(jax.random.key(1), _patches(x, ks, st_, pad).shape)
        # jitted: one compile per geometry instead of the backward pass's ops one by one
        got = jax.jit(lambda v, g: jax.vjp(lambda v: im2col(v, ks, st_, pad), v)[1](g)[0])(x, g)
        want = jax.jit(lambda v, g: jax.vjp(lambda v: _patches(v, ks, st_, pad), v)[1](g)[0])(x, g)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_im2col_bad_input():
    with pytest.raises(ValueError, match="NHWC"):
        im2col(jnp.zeros((4, 4, 3)), (3, 3))
    with pytest.raises(ValueError, match="positive"):
        im2col(jnp.zeros((1, 4, 4, 3)), (0, 3))
    with pytest.raises(ValueError, match="padding"):
        im2col(jnp.zeros((1, 4, 4, 3)), (3, 3), (1, 1), ((1, 1),))
    with pytest.raises(ValueError, match="does not fit"):
        im2col(jnp.zeros((1, 2, 2, 3)), (3, 3), (1, 1), "VALID")


@pytest.mark.slow  # test_conv_geometry_exact_on_integers (test_intercept) compares the lowering with XLA's conv
def test_native_conv_equals_im2col_matmul():
    hw = training_hardware("native")
    conv = EmuConv(3, 5, (3, 3), hw=hw, layer_id=0, rngs=nnx.Rngs(0), strides=(2, 1), padding="SAME")
    graphdef, params, rest = nnx.split(conv, nnx.Param, ...)
    x = jax.random.normal(jax.random.key(2), (2, 7, 6, 3))

    def via_conv(p, x):
        return jnp.sum(jnp.sin(nnx.merge(graphdef, p, rest)(x, seed=jnp.uint32(0))))

    def via_matmul(p, x):
        lin = p["linear"]
        return jnp.sum(jnp.sin(im2col(x, (3, 3), (2, 1), "SAME") @ lin["kernel"][...] + lin["bias"][...]))

    np.testing.assert_allclose(float(via_conv(params, x)), float(via_matmul(params, x)), rtol=1e-5)
    gc, gm = jax.grad(via_conv, (0, 1))(params, x), jax.grad(via_matmul, (0, 1))(params, x)
    for a, e in zip(jax.tree.leaves(gc), jax.tree.leaves(gm)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=1e-4, atol=1e-5)
