"""The emulated matmul op: FF/BP/UP gradients equal the per-phase emulated matmuls bit for bit."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pimjax.hw import AggregationConfig, ArrayConfig, SystemConfig
from pimjax.nn import (EVENT_SHAPE, PROBE_SHAPE, PhaseConfig, TrainingHardware, decode_events, emulated_dot,
                       phase_matmul, probe_events, training_hardware, zero_probe)
from pimjax.apps.cost import collect_costs
from pimjax.nn import CostProbe, emulated_dot_general
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
        X, W, zero_probe())
    y_ref, ev_ff = phase_matmul(X, W, HW.ff, key=fold_key(SEED, 0), mesh=None)
    dx_ref, ev_bp = phase_matmul(DY, W.T, HW.bp, key=fold_key(SEED, 1), mesh=None)
    dw_ref, ev_up = phase_matmul(X.T, DY, HW.up, key=fold_key(SEED, 2), mesh=None)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    np.testing.assert_array_equal(dw, dw_ref)
    assert ev.shape == EVENT_SHAPE and dprobe.shape == PROBE_SHAPE
    np.testing.assert_array_equal(np.asarray(decode_events(ev)), np.asarray(ev_ff))
    np.testing.assert_array_equal(np.asarray(decode_events(dprobe)), np.asarray([ev_bp, ev_up]))
    got = probe_events(dprobe, ev)
    for ph, want in (("ff", ev_ff), ("bp", ev_bp), ("up", ev_up)):
        assert [int(v) for v in got[ph]] == [int(v) for v in want], ph
    assert int(got["bp"].random_bits) > 0 and int(got["up"].random_bits) > 0  # BP/UP round stochastically


def test_jit_equals_eager():
    g = jax.grad(lambda x, w: _loss(x, w, zero_probe())[0], argnums=(0, 1))
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


def _dot_general_seed(seed: int, layer_id: int, call: int) -> jax.Array:
    return fold_key(fold_key(jnp.uint32(seed), layer_id), jnp.uint32(call))


def test_dot_general_in_nnx_linear():
    """``nnx.Linear(dot_general=...)``: call i runs emulated_dot with its own seed, bit for bit,
    records FF/BP/UP costs, and its probe carries the BP/UP events."""
    lin = nnx.Linear(20, 5, dot_general=emulated_dot_general(HW, seed=11, layer_id=3), rngs=nnx.Rngs(0))
    lin.kernel[...] = W
    for call in range(2):  # a fresh seed per call: the second call's SR words differ
        y = lin(X)
        y_ref, ev_ref = emulated_dot(X, W, HW, seed=_dot_general_seed(11, 3, call))
        np.testing.assert_array_equal(y, y_ref + lin.bias[...])
        costs = nnx.pop(lin, nnx.Intermediate)["dot_general"]["cost"].get_value()
        assert sorted(costs) == ["bp", "ff", "up"]
        assert [int(costs[p].macs) for p in ("ff", "bp", "up")] == [6 * 20 * 5] * 3
        assert int(costs["ff"].overflow) == int(decode_events(ev_ref)[0])
    assert int(lin.dot_general.calls[...]) == 2

    # under grad (and jit, as a training step runs it), BP/UP come back through the probe
    diff = nnx.DiffState(0, nnx.Any(nnx.Param, CostProbe))

    @nnx.jit
    def step(lin):
        grads = nnx.grad(lambda m: jnp.sum(m(X) * DY), argnums=diff)(lin)
        return grads, nnx.pop(lin, nnx.Intermediate)

    grads, inter = step(lin)
    _, (dx_ref, dw_ref, dprobe_ref) = jax.value_and_grad(
        lambda x, w, p: jnp.sum(emulated_dot(x, w, HW, seed=_dot_general_seed(11, 3, 2), probe=p)[0] * DY),
        argnums=(0, 1, 2))(X, W, zero_probe())
    np.testing.assert_array_equal(grads["kernel"][...], dw_ref)
    np.testing.assert_array_equal(np.asarray(decode_events(grads["dot_general"]["probe"][...])),
                                  np.asarray(decode_events(dprobe_ref)))
    costs = collect_costs(inter, nnx.state(grads, CostProbe))["dot_general"]
    assert int(costs["bp"].random_bits) == int(decode_events(dprobe_ref)[0, 3]) > 0
    assert int(lin.dot_general.calls[...]) == 3
    with pytest.raises(ValueError, match="x\\[..., K\\] @ w\\[K, N\\] only"):
        lin.dot_general(X, W, (((0,), (0,)), ((), ())))
    with pytest.raises(ValueError, match="seed must be in 0..4294967295"):
        emulated_dot_general(HW, seed=-1)


def test_bad_input():
    with pytest.raises(ValueError, match="last dimension"):
        emulated_dot(X, W.T, HW, seed=0)
    with pytest.raises(TypeError, match="PhaseConfig.system"):
        PhaseConfig(system="fast")
    with pytest.raises(ValueError, match="precision"):
        training_hardware("fp64")
    with pytest.raises(TypeError, match="TrainingHardware.ff"):
        dataclasses.replace(HW, ff=None)
