"""Contractions reached through ``@``, ``jnp.matmul``/``dot``/``einsum`` (inner jits) and under a
user ``jax.vmap`` inside an emulated model: the same output bits, FF/BP/UP events and cost rows
as the equivalent direct ``lax.dot_general`` calls; stock ``nnx.MultiHeadAttention`` and
``nnx.Einsum`` get one cost row per product, FF events included."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pimjax.apps.cost import collect_costs
from pimjax.nn import CostProbe, emulate, emulation_report, training_hardware
from pimjax.nn._layers import matmul_costs
from budget import quick_subset  # noqa: E402  (tests/budget.py: the default run and the thorough one)

# BP/UP round once at the output (neurotrainer_sr_out): these tests are about routing ops to the emulation;
# that program compiles faster, and the default's per-product rounding has its own tests
# (test_rounded_products, test_emulated).
HW = training_hardware("neurotrainer_sr_out", rows=4, width=2)  # FF 16-bit nearest, BP/UP 32-bit, SR at the output
DIFF = nnx.DiffState(0, nnx.Any(nnx.Param, CostProbe))
BIG = 400.0  # inputs this large overflow FF's 16-bit products: FF events that must not get lost


@nnx.jit
def _step(model, *xs):
    """Output, parameter/probe gradients, input gradients and the cost table of one step.

    The loss weighs the output's last two axes (the same weights for every entry of a leading
    batch axis), so a batch of examples gets each example's own upstream gradient."""
    def loss(m, *xs):
        y = m(*xs)
        n = y.shape[-1] * (y.shape[-2] if y.ndim > 1 else 1)
        return jnp.sum(y * jnp.arange(n, dtype=y.dtype).reshape(y.shape[-2:]) / n), y

    (_, y), g = nnx.value_and_grad(loss, argnums=(DIFF, *range(1, 1 + len(xs))), has_aux=True)(model, *xs)
    return y, g, collect_costs(nnx.pop(model, nnx.Intermediate), nnx.state(g[0], CostProbe))


def _equal(a, b):
    jax.tree.map(np.testing.assert_array_equal, a, b)


class _Dense(nnx.Module):
    """``x @ w`` written five ways; "lax" is the direct call every other must equal."""

    def __init__(self, how):
        self.w = nnx.Param(jax.random.normal(jax.random.key(1), (8, 4)) * 3)
        self.how = how

    def __call__(self, x):
        w = self.w[...]
        return {"lax": lambda: jax.lax.dot_general(x, w, (((1,), (0,)), ((), ()))), "at": lambda: x @ w,
                "matmul": lambda: jnp.matmul(x, w), "dot": lambda: jnp.dot(x, w),
                "einsum": lambda: jnp.einsum("bi,io->bo", x, w)}[self.how]()


class _Scores(nnx.Module):
    """Attention scores ``q k^T`` (batch dimensions): einsum against the direct dot_general."""

    def __init__(self, how):
        self.how = how

    def __call__(self, q, k):
        if self.how == "lax":
            return jax.lax.dot_general(q, k, (((2,), (2,)), ((0,), (0,))))
        return jnp.einsum("bqd,bkd->bqk", q, k)


_X = jax.random.normal(jax.random.key(0), (3, 8)) * BIG
_REF: dict = {}


def _dense_ref():
    if "dense" not in _REF:
        _REF["dense"] = _step(emulate(_Dense("lax"), HW, inputs=(_X,)), _X)
    return _REF["dense"]


@pytest.mark.parametrize("how", quick_subset(["at", "einsum", "matmul", "dot"], {"at", "einsum"}))
def test_jnp_contraction_equals_direct_dot_general(how):
    """Same output bits, gradients, probe gradients (BP/UP events) and cost rows (FF events
    included) as ``lax.dot_general``: the op runs in the model's trace, not jnp's inner jit."""
    em = emulate(_Dense(how), HW, inputs=(_X,))
    site, = emulation_report(em).sites
    assert (site.layer, site.route, site.ff_events) == ("pim_dot0", "emulated", True)
    y, g, costs = _step(em, _X)
    ref = _dense_ref()
    _equal((y, g, costs), ref)
    assert list(costs) == ["pim_dot0"] and float(costs["pim_dot0"]["ff"].overflow) > 0  # FF events arrived
    assert float(costs["pim_dot0"]["bp"].random_bits) > 0
    assert int(em.pim_dot0.calls[...]) == 1


def test_batched_einsum_equals_direct_dot_general():
    q = jax.random.normal(jax.random.key(2), (2, 5, 4)) * BIG
    k = jax.random.normal(jax.random.key(3), (2, 7, 4))
    out = [_step(emulate(_Scores(how), HW, inputs=(q, k)), q, k) for how in ("einsum", "lax")]
    _equal(out[0], out[1])
    assert float(out[0][2]["pim_dot0"]["ff"].overflow) > 0


class _Mapped(nnx.Module):
    """A per-example product under a user ``jax.vmap`` (an unmapped weight)."""

    def __init__(self):
        self.w = nnx.Param(jax.random.normal(jax.random.key(1), (8, 4)) * 3)

    def __call__(self, x):
        return jax.vmap(lambda r: r @ self.w[...])(x)


def test_vmap_events_summed_over_the_mapped_axis():
    """Under ``vmap`` over ``B`` examples each example is its own emulated product (same seed):
    the output is the per-example runs' stacked, the FF events and probe gradients (BP/UP
    events) are their sums, and the cost record is ``B`` per-example products (calls x B)."""
    x = jax.random.normal(jax.random.key(0), (3, 2, 8)) * BIG
    em = emulate(_Mapped(), HW, inputs=(x,))
    site, = emulation_report(em).sites
    assert site.ff_events and site.shapes == ((2, 8), (8, 4))  # per-example shapes
    y, g, costs = _step(em, x)
    singles = [_step(emulate(_Mapped(), HW, inputs=(x[i:i + 1],)), x[i:i + 1]) for i in range(3)]
    np.testing.assert_array_equal(y, jnp.concatenate([s[0] for s in singles]))
    np.testing.assert_array_equal(g[1], jnp.concatenate([s[1][1] for s in singles]))  # BP per example
    probe = g[0]["pim_dot0"]["probe"][...]
    np.testing.assert_array_equal(probe, sum(s[1][0]["pim_dot0"]["probe"][...] for s in singles))
    rec = costs["pim_dot0"]
    for f in ("overflow", "nan", "inf", "random_bits"):
        assert float(getattr(rec["ff"], f)) == sum(float(getattr(s[2]["pim_dot0"]["ff"], f)) for s in singles)
    assert float(rec["ff"].overflow) > 0 and float(rec["ff"].macs) == 3 * 2 * 8 * 4
    assert float(rec["up"].overflow) > 0  # UP's saturated words, counted per example and summed
    ff_ev = {k: getattr(rec["ff"], k) for k in ("overflow", "nan", "inf", "random_bits")}
    expect = matmul_costs(2, 8, 4, HW, {"ff": jnp.stack([ff_ev[k] for k in ff_ev])}, calls=3, per_example=True)
    assert float(rec["ff"].energy_dram_pj) == float(expect["ff"].energy_dram_pj)
    assert float(rec["up"].macs) == float(expect["up"].macs) and float(rec["ff"].time_s) == float(expect["ff"].time_s)
    assert int(em.pim_dot0.calls[...]) == 1


def _flat_attention(query, key, value, bias=None, mask=None, **unused):
    """``jax.nn.dot_product_attention``'s math (xla, no mask) without its vmap over head groups."""
    logits = jnp.einsum("BTNH,BSNH->BNTS", query, key, preferred_element_type=jnp.float32)
    logits *= jnp.array(1.0 / np.sqrt(query.shape[-1]), dtype=logits.dtype)
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(key.dtype)
    return jnp.einsum("BNTS,BSNH->BTNH", probs, value)


@pytest.mark.slow  # two emulated MHA steps; the default run checks vmap and einsum on their own (above)
def test_stock_attention_one_cost_row_per_product_with_ff_events():
    """Stock ``nnx.MultiHeadAttention`` (``jax.nn.dot_product_attention``: a vmap over head
    groups, two einsums) records every product's FF events and costs under the module path, bit
    for bit as the same math without the vmap."""
    x = jax.random.normal(jax.random.key(0), (2, 3, 8)) * 30
    out = []
    for fn in (nnx.dot_product_attention, _flat_attention):
        att = nnx.MultiHeadAttention(2, 8, qkv_features=8, decode=False, attention_fn=fn, rngs=nnx.Rngs(0))
        em = emulate(att, HW, inputs=(x,))
        rep = emulation_report(em)
        assert all(s.ff_events for s in rep.sites) and len(rep.emulated) == 6
        out.append(_step(em, x))
    _equal(out[0], out[1])
    costs = out[0][2]
    assert sorted(costs) == ["key/pim_dot0", "out/pim_dot0", "pim_dot0", "pim_dot1", "query/pim_dot0",
                             "value/pim_dot0"]
    assert float(costs["pim_dot0"]["ff"].macs) == 2 * 2 * 3 * 3 * 4  # B, heads, T, S, head dim
    assert float(costs["pim_dot0"]["ff"].overflow) > 0


@pytest.mark.slow  # nnx.Einsum is jnp.einsum: test_batched_einsum_equals_direct_dot_general
def test_stock_einsum_layer_records_ff_events():
    x = jax.random.normal(jax.random.key(0), (2, 3, 8)) * BIG
    ein = nnx.Einsum("btd,dh->bth", (8, 4), rngs=nnx.Rngs(0))
    em = emulate(ein, HW, inputs=(x,))
    site, = emulation_report(em).emulated
    assert site.ff_events and site.path == ""
    _, _, costs = _step(em, x)
    assert list(costs) == ["pim_dot0"] and float(costs["pim_dot0"]["ff"].overflow) > 0
    assert float(costs["pim_dot0"]["ff"].macs) == 2 * 3 * 8 * 4


def test_native_after_emulation_and_other_threads_untouched():
    """The jnp entry points are the jitted originals again once no emulation is active."""
    import jax._src.numpy.tensor_contractions as tc

    before = (jnp.matmul, jnp.dot, tc.matmul, jnp.einsum.__code__, jax.vmap.__wrapped__.__code__)
    em = emulate(_Dense("at"), HW, inputs=(_X,))
    nnx.jit(lambda m, x: m(x))(em, _X)
    assert (jnp.matmul, jnp.dot, tc.matmul, jnp.einsum.__code__, jax.vmap.__wrapped__.__code__) == before
    w = em.w[...]
    np.testing.assert_array_equal(_X @ w, jax.lax.dot_general(_X, w, (((1,), (0,)), ((), ()))))


def test_user_jit_inside_the_model_is_reported_without_ff_events():
    """A user ``jax.jit`` inside the model is an inner trace nothing carries out of: the site is
    emulated, marked ``ff_events=False`` in the report, and its counter still advances."""
    class Jitted(nnx.Module):
        def __init__(self):
            self.w = nnx.Param(jnp.ones((8, 4)))

        def __call__(self, x):
            return jax.jit(lambda a, b: a @ b)(x, self.w[...])

    em = emulate(Jitted(), HW, inputs=(_X,))
    site, = emulation_report(em).sites
    assert site.route == "emulated" and not site.ff_events
    assert "(inner trace: FF events not recorded)" in str(emulation_report(em))
    nnx.jit(lambda m, x: m(x))(em, _X)
    assert int(em.pim_dot0.calls[...]) == 1 and "cost" in nnx.pop(em, nnx.Intermediate)["pim_dot0"]
