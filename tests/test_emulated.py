"""The emulated matmul op: FF/BP/UP gradients equal the per-phase emulated matmuls bit for bit."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pimjax.hw import AggregationConfig, ArrayConfig, SystemConfig
from pimjax.nn import PhaseConfig, TrainingHardware, emulated_dot, phase_matmul, training_hardware
from pimjax.nn._layers import emulated_dot_general
from pimjax.numerics import FixedFormat, fold_key

HW = training_hardware("neurotrainer", rows=8, width=4)
RNG = np.random.default_rng(0)
X = jnp.asarray(RNG.standard_normal((6, 20)), jnp.float32)
W = jnp.asarray(RNG.standard_normal((20, 5)) * 0.2, jnp.float32)
DY = jnp.asarray(RNG.standard_normal((6, 5)) * 1e-2, jnp.float32)
SEED = jnp.uint32(11)


def _loss(x, w, probe):
    y, ev = emulated_dot(x, w, HW, seed=SEED, probe=probe)
    return jnp.sum(y * DY), (y, ev)


def test_gradients_are_the_phase_matmuls_bit_for_bit():
    (_, (y, ev)), (dx, dw, dprobe) = jax.value_and_grad(_loss, argnums=(0, 1, 2), has_aux=True)(
        X, W, jnp.zeros((2, 4), jnp.float32))
    y_ref, ev_ff = phase_matmul(X, W, HW.ff, key=fold_key(SEED, 0), mesh=None)
    dx_ref, ev_bp = phase_matmul(DY, W.T, HW.bp, key=fold_key(SEED, 1), mesh=None)
    dw_ref, ev_up = phase_matmul(X.T, DY, HW.up, key=fold_key(SEED, 2), mesh=None)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    np.testing.assert_array_equal(dw, dw_ref)
    np.testing.assert_array_equal(ev, np.asarray(ev_ff, np.float32))
    np.testing.assert_array_equal(dprobe[0], np.asarray(ev_bp, np.float32))
    np.testing.assert_array_equal(dprobe[1], np.asarray(ev_up, np.float32))
    assert dprobe[0, 3] > 0 and dprobe[1, 3] > 0  # BP/UP round stochastically: random bits used


def test_jit_equals_eager():
    g = jax.grad(lambda x, w: _loss(x, w, jnp.zeros((2, 4)))[0], argnums=(0, 1))
    a, b = g(X, W), jax.jit(g)(X, W)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def _wide_system() -> SystemConfig:
    # 32-bit operands with 24 fraction bits, exact products kept in the exact accumulator path
    f = FixedFormat(bits=24, frac=16)
    acc = FixedFormat(bits=32, frac=16)
    arr = ArrayConfig(rows=8, width=4, a_format=f, b_format=f, product_format=acc, accumulator_format=acc,
                      output_format=acc)
    return SystemConfig(array=arr, num_slices=2, aggregation=AggregationConfig(
        packet_format=None, accumulator_format=acc, output_format=acc))


def test_wide_formats_match_float_training():
    s = PhaseConfig(system=_wide_system())
    hw = TrainingHardware(ff=s, bp=s, up=s)

    def loss(x, w, hw):
        return jnp.sum(emulated_dot(x, w, hw, seed=0)[0] * DY)

    native = training_hardware("native")
    ge = jax.grad(loss, argnums=(0, 1))(X, W, hw)
    gn = jax.grad(loss, argnums=(0, 1))(X, W, native)
    for e, n in zip(ge, gn):
        np.testing.assert_allclose(e, n, atol=2e-4, rtol=1e-3)  # float tolerance: quantized to 2**-16


def test_dot_general_in_nnx_linear():
    lin = nnx.Linear(20, 5, dot_general=emulated_dot_general(HW, seed=SEED), rngs=nnx.Rngs(0))
    lin.kernel[...] = W
    y = lin(X)
    y_ref, _ = emulated_dot(X, W, HW, seed=SEED)
    np.testing.assert_array_equal(y, y_ref + lin.bias[...])


def test_bad_input():
    with pytest.raises(ValueError, match="last dimension"):
        emulated_dot(X, W.T, HW, seed=0)
    with pytest.raises(TypeError, match="PhaseConfig.system"):
        PhaseConfig(system="fast")
    with pytest.raises(ValueError, match="precision"):
        training_hardware("fp64")
    with pytest.raises(TypeError, match="TrainingHardware.ff"):
        dataclasses.replace(HW, ff=None)
