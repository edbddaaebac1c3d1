"""Bring your own model: intercepted stock Flax layers and jnp code equal the built-in emulated
layers bit for bit (forward, both gradients, events, costs); rules, reports, bad input, pitfalls."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import pimjax
from pimjax.apps.cost import collect_costs
from pimjax.nn import (CostProbe, EmuConv, EmuLinear, EmulationRule, emulate, emulated_bmm, emulation,
                       emulation_report, training_hardware)
from pimjax.numerics import fold_key
from pimjax.system import default_mesh

# BP/UP round once at the output (neurotrainer_sr_out): these tests are about routing ops to the emulation;
# that program compiles faster, and the default's per-product rounding has its own tests
# (test_rounded_products, test_emulated).
HW = training_hardware("neurotrainer_sr_out", rows=4, width=2)  # FF 16-bit nearest, BP/UP 32-bit, SR at the output
DIFF = nnx.DiffState(0, nnx.Any(nnx.Param, CostProbe))


def _seed(step: int = 0) -> jax.Array:
    """The step seed an emulated site folds its salt into (``fold(fold(seed, calls), salt)``)."""
    return fold_key(jnp.uint32(0), step)


@nnx.jit
def _step(model, x):
    """Loss, parameter/probe gradients, input gradient and the cost table of one step."""
    def loss(m, x):
        y = m(x, seed=_seed()) if isinstance(m, (EmuLinear, EmuConv)) else m(x)
        return jnp.sum(y * jnp.arange(y.size, dtype=y.dtype).reshape(y.shape) / y.size)

    l, (g, gx) = nnx.value_and_grad(loss, argnums=(DIFF, 1))(model, x)
    return l, g, gx, collect_costs(nnx.pop(model, nnx.Intermediate), nnx.state(g, CostProbe))


def _same_costs(a, b):
    assert sorted(a) == sorted(b) == ["bp", "ff", "up"]
    for ph in a:
        jax.tree.map(np.testing.assert_array_equal, a[ph], b[ph])


def test_linear_equals_emulinear_bit_for_bit():
    x = jax.random.normal(jax.random.key(1), (3, 8))
    lin = nnx.Linear(8, 4, rngs=nnx.Rngs(0))
    em = emulate(lin, HW, inputs=(x,))
    site, = emulation_report(em).emulated
    assert (site.path, site.op, site.layer, site.ff_events) == ("", "dot_general", "pim_dot0", True)
    ref = EmuLinear(8, 4, hw=HW, layer_id=site.salt, rngs=nnx.Rngs(0))
    ref.kernel[...], ref.bias[...] = lin.kernel[...], lin.bias[...]
    l1, g1, gx1, c1 = _step(em, x)
    l2, g2, gx2, c2 = _step(ref, x)
    np.testing.assert_array_equal(l1, l2)
    np.testing.assert_array_equal(gx1, gx2)
    np.testing.assert_array_equal(g1["kernel"][...], g2["kernel"][...])
    np.testing.assert_array_equal(g1["pim_dot0"]["probe"][...], g2["probe"][...])
    assert np.any(g2["probe"][...] != 0)  # SR random bits counted in BP/UP
    _same_costs(c1["pim_dot0"], c2[""])
    assert int(em.pim_dot0.calls[...]) == 1


def test_conv_equals_emuconv_bit_for_bit():
    x = jax.random.normal(jax.random.key(1), (2, 6, 6, 3))
    conv = nnx.Conv(3, 4, (3, 3), strides=2, padding="SAME", rngs=nnx.Rngs(0))
    em = emulate(conv, HW, inputs=(x,))
    site, = emulation_report(em).emulated
    ref = EmuConv(3, 4, (3, 3), hw=HW, layer_id=site.salt, rngs=nnx.Rngs(0), strides=(2, 2), padding="SAME")
    ref.linear.kernel[...] = conv.kernel[...].transpose(2, 0, 1, 3).reshape(27, 4)
    l1, g1, gx1, c1 = _step(em, x)
    l2, g2, gx2, c2 = _step(ref, x)
    np.testing.assert_array_equal(l1, l2)
    np.testing.assert_array_equal(gx1, gx2)
    np.testing.assert_array_equal(g1["kernel"][...].transpose(2, 0, 1, 3).reshape(27, 4), g2["linear"]["kernel"][...])
    np.testing.assert_array_equal(g1["pim_conv0"]["probe"][...], g2["linear"]["probe"][...])
    _same_costs(c1["pim_conv0"], c2["linear"])


@pytest.mark.slow  # einsum interception: test_intercept_inner; emulated_bmm's bits: test_attention
def test_batched_einsum_equals_emulated_bmm():
    q = jax.random.normal(jax.random.key(2), (2, 5, 4))
    k = jax.random.normal(jax.random.key(3), (2, 7, 4))
    f = emulate(lambda q, k: jnp.einsum("bqd,bkd->bqk", q, k), HW)
    y, (dq, dk) = jax.jit(jax.value_and_grad(lambda q, k: jnp.sum(f(q, k) ** 2), argnums=(0, 1)))(q, k)
    site, = emulation_report(f).emulated
    s = fold_key(_seed(), site.salt)

    def ref(q, k):
        return jnp.sum(emulated_bmm(q, k.transpose(0, 2, 1), HW, seed=s)[0] ** 2)

    y2, (dq2, dk2) = jax.jit(jax.value_and_grad(ref, argnums=(0, 1)))(q, k)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(dq, dq2)
    np.testing.assert_array_equal(dk, dk2)


def _ints(key, shape):
    return jax.random.randint(jax.random.key(key), shape, -1, 2).astype(jnp.float32)


@pytest.mark.parametrize("case", [
    pytest.param(dict(x=(1, 7, 7, 4), w=(3, 3, 2, 4), strides=(2, 1), padding="SAME", groups=2),
                 marks=pytest.mark.slow),  # a plain 2-D conv: test_conv_equals_emuconv_bit_for_bit
    pytest.param(dict(x=(1, 6, 5, 2), w=(2, 3, 2, 3), strides=(1, 2), padding=((1, 0), (2, 1)), rhs_dilation=(2, 1)),
                 marks=pytest.mark.slow),
    pytest.param(dict(x=(1, 4, 4, 2), w=(3, 3, 2, 3), strides=(1, 1), padding=((2, 2), (1, 1)), lhs_dilation=(2, 2)),
                 marks=pytest.mark.slow),
    pytest.param(dict(x=(2, 9, 3), w=(3, 3, 6), strides=(2,), padding="VALID", groups=1), marks=pytest.mark.slow),
    pytest.param(dict(x=(1, 2, 5, 5), w=(3, 2, 3, 3), strides=(1, 1), padding="SAME", dn=("NCHW", "OIHW", "NCHW")),
                 marks=pytest.mark.slow),
    dict(x=(1, 4, 5, 3, 2), w=(2, 3, 2, 1, 4), strides=(2, 1, 1), padding=((1, 0), (1, 1), (0, 1)),
         rhs_dilation=(1, 2, 1), groups=2),  # 3-D: the gather path
    pytest.param(dict(x=(1, 3, 3, 3, 2), w=(2, 2, 2, 2, 3), strides=(1, 1, 1), padding=((1, 1), (0, 1), (1, 0)),
                      lhs_dilation=(2, 1, 2)), marks=pytest.mark.slow),
])
def test_conv_geometry_exact_on_integers(case):
    """fp32 datapath on small integers is exact: any layout/stride/padding/dilation/group lowering
    must then equal XLA's convolution bit for bit, forward and both gradients."""
    nsp = len(case["x"]) - 2
    dn = case.get("dn") or {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}[nsp]

    def conv(x, w):
        return jax.lax.conv_general_dilated(x, w, case["strides"], case["padding"], case.get("lhs_dilation"),
                                            case.get("rhs_dilation"), dn, feature_group_count=case.get("groups", 1))

    x, w = _ints(1, case["x"]), _ints(2, case["w"])
    em = emulate(conv, training_hardware("fp32", rows=4, width=2))
    def loss(f):
        def fn(x, w):
            y = f(x, w)
            return jnp.sum(y * (jnp.arange(y.size).reshape(y.shape) % 3))
        return jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))

    jax.tree.map(np.testing.assert_array_equal, loss(em)(x, w), loss(conv)(x, w))
    assert len(emulation_report(em).emulated) == 1


class _Two(nnx.Module):
    def __init__(self, rngs):
        self.body = nnx.Linear(4, 4, rngs=rngs)
        self.head = nnx.Linear(4, 2, rngs=rngs)

    def __call__(self, x):
        return self.head(jax.nn.relu(self.body(x)))


def test_rules_pick_hardware_per_path_first_match_wins():
    x = jax.random.normal(jax.random.key(0), (2, 4))
    fx16 = training_hardware("fixed16", rows=4, width=2)
    rules = [EmulationRule(module_path="head", hw=None), EmulationRule(module_path="body", hw=fx16),
             EmulationRule(hw="bf16")]
    with pytest.warns(UserWarning, match="matched no contraction"):
        em = emulate(_Two(nnx.Rngs(0)), rules=rules, inputs=(x,))
    rep = emulation_report(em)
    routes = {s.path: (s.route, s.rule, s.hw) for s in rep.sites}
    assert routes == {"body": ("emulated", 1, fx16), "head": ("float", 0, None)}
    assert rep.unused_rules == (rules[2],)
    assert em.body.pim_dot0.hw is fx16 and not hasattr(em.head, "pim_dot0")


def test_unmatched_ops_are_reported_and_stay_native():
    x = jax.random.normal(jax.random.key(0), (2, 4))
    model = _Two(nnx.Rngs(0))
    with pytest.warns(UserWarning, match="1 contraction.*head dot_general#0"):
        em = emulate(model, rules=[EmulationRule(module_path="body", hw="fixed16")], inputs=(x,))
    rep = emulation_report(em)
    assert [s.path for s in rep.unmatched] == ["head"] and [s.path for s in rep.emulated] == ["body"]


def test_no_matching_rule_equals_native_float_exactly():
    x = jax.random.normal(jax.random.key(0), (2, 4))
    model = _Two(nnx.Rngs(0))
    with pytest.warns(UserWarning):
        em = emulate(model, rules=[EmulationRule(module_path="nothing", hw="fixed16")], inputs=(x,))
    f = nnx.jit(nnx.value_and_grad(lambda m, x: jnp.sum(m(x) ** 2)))
    (l1, g1), (l2, g2) = f(em, x), f(model, x)
    np.testing.assert_array_equal(l1, l2)
    jax.tree.map(np.testing.assert_array_equal, nnx.state(g1, nnx.Param), nnx.state(g2, nnx.Param))


@pytest.mark.slow  # phase_matmul is one jitted program either way; test_intercept_inner checks vmap
def test_jit_eager_and_vmap_identical_bits():
    x = jax.random.normal(jax.random.key(0), (3, 2, 4))
    w = jax.random.normal(jax.random.key(1), (4, 5))
    f = emulate(lambda x: x @ w, HW)
    per_example = np.stack([jax.jit(f)(xi) for xi in x])
    np.testing.assert_array_equal(jax.jit(jax.vmap(f))(x), per_example)
    np.testing.assert_array_equal(f(x[0]), per_example[0])  # eager
    model = _Two(nnx.Rngs(0))
    em1 = emulate(model, HW, inputs=(x[0],))
    em2 = emulate(model, HW, inputs=(x[0],))
    graphdef, state = nnx.split(em2)  # the functional NNX pattern: merge inside jax.jit
    functional = jax.jit(lambda st, x: nnx.merge(graphdef, st)(x))(state, x[0])
    np.testing.assert_array_equal(nnx.jit(lambda m, x: m(x))(em1, x[0]), functional)


@pytest.mark.slow
def test_one_and_eight_devices_same_bits():
    if len(jax.devices()) < 8:
        pytest.skip("needs 8 (fake) devices")
    x = jax.random.normal(jax.random.key(0), (2, 16))
    lin = nnx.Linear(16, 3, rngs=nnx.Rngs(0))
    out = []
    for d in (1, 8):
        hw = training_hardware("neurotrainer", num_slices=8, rows=2, width=2, mesh=default_mesh(devices=d))
        em = emulate(lin, hw, inputs=(x,))
        l, g, gx, _ = _step(em, x)
        out.append((l, g["kernel"][...], gx, g["pim_dot0"]["probe"][...]))
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_bad_input_names_path_and_valid_range():
    with pytest.raises(ValueError, match="unknown hardware preset 'fixed12'; valid: neurotrainer"):
        EmulationRule(hw="fixed12")
    with pytest.raises(ValueError, match="unknown op kind 'matmul'; valid: dot_general, conv_general_dilated"):
        EmulationRule(ops=("matmul",))
    with pytest.raises(ValueError, match="not a valid regular expression"):
        EmulationRule(module_path="(")
    with pytest.raises(TypeError):
        EmulationRule(precision="fixed16")  # no such field
    with pytest.raises(TypeError, match="rules\\[0\\] must be an EmulationRule"):
        emulate(lambda x: x, rules=["fixed16"])

    class Bad(nnx.Module):
        def __init__(self):
            self.w = nnx.Param(jnp.ones((4, 3)))

        def __call__(self, x):
            return jax.lax.dot_general(x, self.w[...], (((1,), (1,)), ((), ())))

    class Box(nnx.Module):
        def __init__(self):
            self.inner = Bad()

        def __call__(self, x):
            return self.inner(x)

    with pytest.raises(ValueError, match=r"inner/dot_general#0: contracting dimensions \(1,\) of lhs \(2, 4\)"):
        emulate(Box(), "fixed16")(jnp.ones((2, 4)))
    conv4d = emulate(lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1, 1, 1), "SAME"), "fixed16")
    with pytest.raises(ValueError, match=r"lowers 1, 2 or 3 spatial dimensions \(rank-3, rank-4 or rank-5 operands\)"):
        conv4d(jnp.ones((1, 1, 3, 3, 3, 3)), jnp.ones((1, 1, 2, 2, 2, 2)))


def test_functional_pattern_merged_outside_grad_raises_with_advice():
    x = jnp.ones((2, 4))
    graphdef, state = nnx.split(emulate(_Two(nnx.Rngs(0)), "fixed16", inputs=(x,)))
    model = nnx.merge(graphdef, state)  # its variables belong to the eager context
    with pytest.raises(ValueError, match="merge the model inside the differentiated function"):
        jax.jit(jax.grad(lambda x: jnp.sum(model(x))))(x)


def test_top_level_api():
    assert pimjax.emulate is emulate and pimjax.EmulationRule is EmulationRule
    assert {"emulation", "emulation_report", "EmulationReport", "no_emulation"} <= set(dir(pimjax))


class _MatmulSite(nnx.Module):
    def __init__(self, key):
        self.w = nnx.Param(jax.random.normal(jax.random.key(key), (4, 4)))

    def __call__(self, x):
        return x @ self.w[...]


class _Chain(nnx.Module):
    def __init__(self):
        self.a, self.b = _MatmulSite(1), _MatmulSite(2)

    def __call__(self, x):
        return self.b(self.a(x))


def test_jit_caches_neither_stale_nor_leaking():
    """``x @ w`` goes through jnp.matmul's (inline) jit: equal shapes at two sites, a trace made
    before emulation and the native calls after it must each get their own trace."""
    x = jax.random.normal(jax.random.key(0), (2, 4))
    native = _Chain()
    before = jax.jit(lambda x, w: x @ w)
    ref = before(x, native.a.w[...])  # traced natively before any emulation
    em = emulate(native, "fixed16", inputs=(x,))
    assert [s.path for s in emulation_report(em).emulated] == ["a", "b"]  # not one cached site
    assert all(s.ff_events for s in emulation_report(em).sites)  # x @ w: jnp.matmul runs in the model's trace
    traces = []

    @nnx.jit
    def fwd(m, x):
        traces.append(1)
        y = m(x)
        nnx.pop(m, nnx.Intermediate)  # (sown costs left in the state would change it once)
        return y

    y = fwd(em, x)
    assert np.array_equal(fwd(em, x), y) and len(traces) == 1  # same SR-free bits, no retrace per step
    assert int(em.a.pim_dot0.calls[...]) == int(em.b.pim_dot0.calls[...]) == 2
    assert not np.array_equal(y, native(x))  # emulated (16-bit)
    np.testing.assert_array_equal(before(x, native.a.w[...]), ref)  # native again after
    np.testing.assert_array_equal(x @ native.a.w[...], ref)
    np.testing.assert_array_equal(nnx.jit(lambda m, x: m(x))(native, x), native(x))


def test_emulator_internals_and_jax_rules_pass_through():
    """Built-in Emu* layers keep their own hardware (their internal contractions are not sites),
    and the dot_general batching rule (a vmap inside the model) does not re-enter the hook."""
    x = jax.random.normal(jax.random.key(0), (2, 4))

    class Mixed(nnx.Module):
        def __init__(self):
            self.emu = EmuLinear(4, 4, hw=HW, layer_id=3, rngs=nnx.Rngs(0))
            self.w = nnx.Param(jnp.ones((4, 4)))

        def __call__(self, x):
            h = self.emu(x, seed=_seed())
            return jax.vmap(lambda r: r @ self.w[...])(h)

    model = Mixed()
    em = emulate(model, "fixed16", inputs=(x,))
    site, = emulation_report(em).sites
    assert (site.path, site.shapes) == ("", ((4,), (4, 4)))  # the vmapped user matmul, once
    f = nnx.jit(lambda m, x: m.emu(x, seed=_seed()))
    np.testing.assert_array_equal(f(em, x), f(model, x))
    assert nnx.jit(lambda m, x: m(x))(em, x).shape == (2, 4)  # the site inside vmap: state updated after the call
    assert int(em.pim_dot0.calls[...]) == 1 and "cost" in nnx.pop(em, nnx.Intermediate)["pim_dot0"]


@pytest.mark.slow  # the report's rows: test_intercept_inner and the Linear/Conv tests here
def test_stock_layers_are_planned():
    """MultiHeadAttention, LSTM cells, Einsum, ConvTranspose and grouped/dilated convs are
    intercepted; Embed (a gather) is not a contraction (planning only: an abstract trace)."""
    r = nnx.Rngs(0)

    class Stock(nnx.Module):
        def __init__(self):
            self.emb = nnx.Embed(10, 8, rngs=r)
            self.att = nnx.MultiHeadAttention(2, 8, qkv_features=8, decode=False, rngs=r)
            self.lstm = nnx.LSTMCell(8, 8, rngs=r)
            self.olstm = nnx.OptimizedLSTMCell(8, 8, rngs=r)
            self.ein = nnx.Einsum("btd,dh->bth", (8, 4), rngs=r)
            self.ct = nnx.ConvTranspose(4, 4, (3,), strides=(2,), rngs=r)
            self.gc = nnx.Conv(4, 4, (3,), feature_group_count=2, kernel_dilation=2, rngs=r)

        def __call__(self, tok):
            h = self.att(self.emb(tok))
            c = (jnp.zeros((2, 8)), jnp.zeros((2, 8)))
            _, h1 = self.lstm(c, h[:, 0])
            _, h2 = self.olstm(c, h[:, 1])
            return self.gc(self.ct(self.ein(h))).sum() + h1.sum() + h2.sum()

    em = emulate(Stock(), "fixed16", inputs=(jnp.array([[1, 2, 3], [4, 5, 6]]),))
    rep = emulation_report(em)
    assert all(s.route == "emulated" for s in rep.sites)
    paths = [s.path for s in rep.sites]
    assert paths.count("att") == 2 and paths.count("lstm/ii") == 1 and "emb" not in paths
    assert len(rep.sites) == 19 and {"ct", "gc", "ein", "olstm/dense_h", "att/out"} <= set(paths)
    assert isinstance(em.att.pim_dot1, pimjax.nn.EmulatedOp)


@pytest.mark.slow
def test_stock_attention_trains_with_costs():
    x = jax.random.normal(jax.random.key(0), (2, 3, 8))
    att = nnx.MultiHeadAttention(2, 8, qkv_features=8, decode=False, rngs=nnx.Rngs(0))
    em = emulate(att, HW, inputs=(x,))
    _, g, gx, costs = _step(em, x)
    assert {"query/pim_dot0", "pim_dot0", "pim_dot1", "out/pim_dot0"} <= set(costs)
    assert float(costs["pim_dot0"]["bp"].random_bits) > 0  # BP events of the scores via the probe
    assert int(em.pim_dot0.calls[...]) == 1


class _Block(nnx.Module):
    def __init__(self, rngs):
        self.lin = nnx.Linear(4, 4, use_bias=False, rngs=rngs)

    def __call__(self, x):
        return jnp.tanh(self.lin(x))


class _Stack(nnx.Module):
    """Three layers made by nnx.vmap and run by nnx.scan: one call site for all of them."""

    def __init__(self, rngs):
        @nnx.split_rngs(splits=3)
        @nnx.vmap(in_axes=(0,), out_axes=0)
        def make(rngs):
            return _Block(rngs)

        self.blocks = make(rngs)

    def __call__(self, x):
        @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
        def body(x, block):
            return block(x)

        return body(x, self.blocks)


@pytest.mark.slow
def test_scan_over_layers_each_layer_its_own_sr_stream():
    """A scanned stack has one call site; its op state is stacked and layer ``l`` folds ``l``
    into its seed: equal, bit for bit, to three EmuLinear layers with layer ids 0, 1, 2."""
    x = jax.random.normal(jax.random.key(0), (2, 4))
    em = emulate(_Stack(nnx.Rngs(0)), HW, inputs=(x,))
    site, = emulation_report(em).emulated
    assert site.path == "blocks/lin" and em.blocks.lin.pim_dot0.stack == 3
    kernels = em.blocks.lin.kernel[...]
    refs = [EmuLinear(4, 4, hw=HW, layer_id=l, rngs=nnx.Rngs(0), use_bias=False) for l in range(3)]
    for l, r in enumerate(refs):
        r.kernel[...] = kernels[l]
    base = fold_key(_seed(), site.salt)

    @nnx.jit
    def ref_step(refs, x):
        def loss(refs, x):
            for r in refs:
                x = jnp.tanh(r(x, seed=base))
            return jnp.sum(x * jnp.arange(x.size).reshape(x.shape))
        return nnx.value_and_grad(loss, argnums=(DIFF, 1))(refs, x)

    @nnx.jit
    def em_step(m, x):
        def loss(m, x):
            y = m(x)
            return jnp.sum(y * jnp.arange(y.size).reshape(y.shape))
        l, (g, gx) = nnx.value_and_grad(loss, argnums=(DIFF, 1))(m, x)
        probes = pimjax.nn.sum_probe_stacks(nnx.state(g, CostProbe))
        inter = nnx.pop(m, nnx.Intermediate)
        return l, (g, gx), collect_costs(inter, probes), collect_costs(inter, nnx.state(g, CostProbe))

    l1, (g1, gx1), costs, costs_stacked = em_step(em, x)
    jax.tree.map(np.testing.assert_array_equal, costs_stacked, costs)  # collect_costs sums the layer axis itself
    assert float(costs["blocks/lin/pim_dot0"]["bp"].random_bits) > 0
    l2, (g2, gx2) = ref_step(nnx.List(refs), x)
    np.testing.assert_array_equal(l1, l2)
    np.testing.assert_array_equal(gx1, gx2)
    for l in range(3):
        np.testing.assert_array_equal(g1["blocks"]["lin"]["kernel"][...][l], g2[l]["kernel"][...])
        np.testing.assert_array_equal(g1["blocks"]["lin"]["pim_dot0"]["probe"][...][l], g2[l]["probe"][...])
    assert list(costs) == ["blocks/lin/pim_dot0"] and float(costs["blocks/lin/pim_dot0"]["ff"].macs) == 3 * 2 * 4 * 4
    np.testing.assert_array_equal(em.blocks.lin.pim_dot0.calls[...], [1, 1, 1])


@pytest.mark.slow
def test_remat_same_bits_and_one_counted_call():
    class Inner(nnx.Module):
        def __init__(self):
            self.lin = nnx.Linear(4, 4, rngs=nnx.Rngs(0))

        def __call__(self, x):
            return jnp.tanh(self.lin(x))

    class Outer(nnx.Module):
        def __init__(self, remat):
            self.b, self.remat = Inner(), remat

        def __call__(self, x):
            return nnx.remat(Inner.__call__)(self.b, x) if self.remat else self.b(x)

    x = jax.random.normal(jax.random.key(0), (2, 4))
    outs = []
    for remat in (False, True):
        em = emulate(Outer(remat), HW, inputs=(x,))
        l, g = nnx.jit(nnx.value_and_grad(lambda m, x: jnp.sum(m(x) ** 2), argnums=DIFF))(em, x)
        outs.append((l, g["b"]["lin"]["kernel"][...], g["b"]["lin"]["pim_dot0"]["probe"][...],
                     em.b.lin.pim_dot0.calls[...]))
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
    assert int(outs[1][3]) == 1


def test_threads_one_emulated_one_native():
    """The patch is process-wide but active per thread: a native thread tracing concurrently stays native."""
    import threading

    x = jax.random.normal(jax.random.key(0), (2, 4))
    w = jax.random.normal(jax.random.key(1), (4, 3))
    em = emulate(lambda x: x @ w, "fixed16")
    out, barrier = {}, threading.Barrier(2)

    def run(name, fn):
        barrier.wait()
        for _ in range(3):
            out[name] = np.asarray(fn(x))

    threads = [threading.Thread(target=run, args=("emu", jax.jit(em))),
               threading.Thread(target=run, args=("native", jax.jit(lambda x: x @ w)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(out["native"], np.asarray(jax.jit(lambda x: x @ w)(x)))
    np.testing.assert_array_equal(out["emu"], np.asarray(jax.jit(em)(x)))
    assert not np.array_equal(out["emu"], out["native"])
