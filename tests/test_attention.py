"""Attention's activation x activation products on the emulated arrays (``emulated_bmm``).

Each example's FF/BP/UP must be, bit for bit, the single-matmul op ``emulated_dot`` (itself
checked against the per-phase reference matmuls in test_emulated.py) with seed
``fold_key(seed, i)``, and the batch's events their exact sum.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pimjax.nn import (EmuBatchedMatmul, decode_events, emulated_bmm, emulated_dot, training_hardware,
                       zero_probe)
from pimjax.nn._layers import matmul_costs
from pimjax.numerics import fold_key

# BP/UP round once at the output (neurotrainer_sr_out): these tests are about the batched products' plumbing;
# that program compiles faster, and the default's per-product rounding has its own tests
# (test_rounded_products, test_emulated).
HW = training_hardware("neurotrainer_sr_out", rows=4, width=4)
RNG = np.random.default_rng(3)
B, M, K, N = 3, 2, 6, 5
A = jnp.asarray(RNG.standard_normal((B, M, K)), jnp.float32)
BB = jnp.asarray(RNG.standard_normal((B, K, N)) * 0.5, jnp.float32)
DY = jnp.asarray(RNG.standard_normal((B, M, N)) * 1e-2, jnp.float32)
SEED = jnp.uint32(7)


def test_bmm_is_emulated_dot_per_example_bit_for_bit():
    def loss(a, b, p, dy):
        y, ev = emulated_bmm(a, b, HW, seed=SEED, probe=p)
        return jnp.sum(y * dy), (y, ev)

    bmm_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))  # one compile, two uses
    (_, (y, ev)), (da, db, dp) = bmm_grad(A, BB, zero_probe(), DY)
    ff_sum = np.zeros(4, np.int64)
    bpup_sum = np.zeros((2, 4), np.int64)
    def one(a, b, p, i, dy):
        yi, evi = emulated_dot(a, b, HW, seed=fold_key(SEED, i), probe=p)
        return jnp.sum(yi * dy), (yi, evi)

    one_grad = jax.jit(jax.value_and_grad(one, argnums=(0, 1, 2), has_aux=True))  # one compile for every i
    for i in range(B):
        (_, (yi, evi)), (dai, dbi, dpi) = one_grad(A[i], BB[i], zero_probe(), jnp.uint32(i), DY[i])
        np.testing.assert_array_equal(y[i], yi)
        np.testing.assert_array_equal(da[i], dai)
        np.testing.assert_array_equal(db[i], dbi)
        ff_sum += np.asarray(decode_events(evi))
        bpup_sum += np.asarray(decode_events(dpi))
    np.testing.assert_array_equal(np.asarray(decode_events(ev)), ff_sum)
    np.testing.assert_array_equal(np.asarray(decode_events(dp)), bpup_sum)
    assert bpup_sum[0, 3] > 0 and bpup_sum[1, 3] > 0  # BP/UP round stochastically
    # every example draws its own words: example 0's result is not example 1's on equal operands
    same = [jnp.broadcast_to(x[:1], x.shape) for x in (A, BB, DY)]
    _, (_, g, _) = bmm_grad(same[0], same[1], zero_probe(), same[2])
    assert not np.array_equal(np.asarray(g[0]), np.asarray(g[1]))


def test_layer_records_batch_calls_and_events():
    layer = EmuBatchedMatmul(hw=HW, layer_id=4, name="attn_scores")
    y = layer(A, BB, seed=SEED)
    y_ref, ev = emulated_bmm(A, BB, HW, seed=fold_key(SEED, 4))
    np.testing.assert_array_equal(y, y_ref)
    costs = nnx.pop(layer, nnx.Intermediate)["cost"].get_value()
    want = matmul_costs(M, K, N, HW, {"ff": ev}, calls=B)
    for ph in ("ff", "bp", "up"):
        assert costs[ph].to_dict() == want[ph].to_dict(), ph
    assert int(costs["ff"].macs) == B * M * K * N


def test_bad_input():
    with pytest.raises(ValueError, match=r"a \(B, M, K\) and b \(B, K, N\)"):
        emulated_bmm(A, BB[:, :-1], HW, seed=0)
    with pytest.raises(ValueError, match=r"a \(B, M, K\) and b \(B, K, N\)"):
        emulated_bmm(A[0], BB[0], HW, seed=0)
    with pytest.raises(ValueError, match="probe must be a float32 array"):
        emulated_bmm(A, BB, HW, seed=0, probe=jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match="layer_id must be an integer >= 0"):
        EmuBatchedMatmul(hw=HW, layer_id=-1)
