"""LUT activations, the LSTM translator on emulated hardware, and the synthetic translation task.

* LUT activations: the forward value is the f table's entry and the backward value the f'
  table's entry, checked with exact equality against a numpy model of the tables.
* The synthetic task: deterministic, its reordering rules hold, bucketing and accuracy helpers.
* The translator (tiny: 16 x 8 arrays, NeuroTrainer precisions, LUT activations, bidirectional
  first layer): every training step gives a finite loss, finite gradients, BP/UP events in every
  emulated layer's probe gradient and FF MACs equal to :func:`translator_gemm_shapes`, and 30
  Adam steps reduce the loss; greedy decoding gives the right shapes, and extra padding changes
  no logit. On the fp32 datapath two dozen Adam steps reduce the loss too (``slow``: the float
  datapath's emulation takes about twice as long to compile as the fixed-point one).

XLA compiles dominate the runtime, so each program is compiled once (training steps under one
``lax.scan``), at backend optimisation level 0 (same results, faster compile), and sizes are tiny.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from pimjax.apps.data import (BOS, EOS, LEXICON, PAD, SRC_VOCAB, TGT_VOCAB, WORD_CLASS, bucketize,
                                               decode, make_translation_dataset, sequence_accuracy, token_accuracy,
                                               translate)
from pimjax.hw import LUTConfig
from pimjax.numerics import FixedFormat
from pimjax.nn import (ATTENTION_PRODUCTS, PROBE_SHAPE, Translator, TranslatorConfig, abstract_translator, activation, decode_events,
                       emulated_layers, gnmt_config, training_hardware, translator_gemm_shapes,
                       translator_layer_shapes)
from pimjax.nn._layers import CostProbe, EmuLinear
from pimjax.nn import EmuBatchedMatmul
from pimjax.nn._translator import _truncate

FAST_COMPILE = {"xla_backend_optimization_level": 0}
# BP/UP round once at the output (neurotrainer_sr_out): these tests are about the translator's layers and costs;
# that program compiles faster, and the default's per-product rounding has its own tests
# (test_rounded_products, test_emulated).
HW = training_hardware("neurotrainer_sr_out", rows=16, width=8)


def _compile(fn, *args):
    return jax.jit(fn).lower(*args).compile(compiler_options=FAST_COMPILE)


# --------------------------------------------------------------------------------------------
# LUT activations
# --------------------------------------------------------------------------------------------

_NP_F = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0.0),
    "d_tanh": lambda x: 1.0 - np.tanh(x) ** 2,
    "d_sigmoid": lambda x: (1.0 / (1.0 + np.exp(-x))) * (1.0 - 1.0 / (1.0 + np.exp(-x))),
    "d_relu": lambda x: (x > 0).astype(np.float64),
}


def _np_table(name: str, lut: LUTConfig) -> np.ndarray:
    """Reference table: f at each step's midpoint, rounded half-to-even to the fixed entry format."""
    fmt = lut.entry_format
    step = (lut.x_max - lut.x_min) / lut.size
    mids = lut.x_min + (np.arange(lut.size) + 0.5) * step
    codes = np.round(_NP_F[name](mids) * 2.0 ** fmt.frac)  # numpy rounds half to even
    codes = np.clip(codes, -(2 ** (fmt.bits - 1)), 2 ** (fmt.bits - 1) - 1)
    return codes * 2.0 ** -fmt.frac


def _np_lookup(name: str, x: np.ndarray, lut: LUTConfig) -> np.ndarray:
    idx = np.floor((x.astype(np.float64) - lut.x_min) * lut.size / (lut.x_max - lut.x_min))
    idx = np.clip(idx, 0, lut.size - 1).astype(np.int64)
    return _np_table(name, lut)[idx]


@pytest.mark.parametrize("lut", [LUTConfig(), LUTConfig(size=64, x_min=-4.0, x_max=4.0,
                                                         entry_format=FixedFormat(bits=8, frac=6))],
                         ids=["default", "small"])
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu"])
def test_lut_activation_forward_and_backward_are_the_tables(name, lut):
    rng = np.random.default_rng(0)
    step = (lut.x_max - lut.x_min) / lut.size
    edges = lut.x_min + np.arange(lut.size + 1) * step
    x = np.concatenate([rng.uniform(-12, 12, 500), edges, edges - 2.0 ** -20, [0.0, -0.0, 1e6, -1e6]])
    x = x.astype(np.float32)
    g = np.where(np.arange(x.size) % 2 == 0, 1.0, 0.5).astype(np.float32)

    @jax.jit
    def run(v, g):
        # backward: d/dx sum(f(x) * g) = g * f'-table (exact: g is a power of two); and under vmap
        y = activation(name, v, lut)
        dx = jax.grad(lambda v: jnp.sum(activation(name, v, lut) * g))(v)
        return y, dx, jax.vmap(jax.grad(lambda s: activation(name, s, lut)))(v)

    y, dx, dx1 = run(jnp.asarray(x), jnp.asarray(g))
    assert y.dtype == jnp.float32 and dx.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(y), _np_lookup(name, x, lut).astype(np.float32))
    np.testing.assert_array_equal(np.asarray(dx), (g * _np_lookup("d_" + name, x, lut)).astype(np.float32))
    np.testing.assert_array_equal(np.asarray(dx1), _np_lookup("d_" + name, x, lut).astype(np.float32))


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu"])
def test_exact_activation(name):
    x = jnp.linspace(-5, 5, 41, dtype=jnp.float32)
    ref = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}[name]
    np.testing.assert_array_equal(np.asarray(activation(name, x)), np.asarray(ref(x)))


def test_activation_rejects_unknown():
    with pytest.raises(ValueError):
        activation("gelu", jnp.zeros(3))
    with pytest.raises(TypeError):
        activation("tanh", jnp.zeros(3), lut="table")


def test_truncated_bptt_cuts_gradient():
    x = jnp.arange(3.0)
    for t, want in ((0, 0.0), (1, 1.0), (2, 0.0), (3, 1.0)):
        g = jax.grad(lambda v: jnp.sum(_truncate((v,), jnp.uint32(t), 2)[0]))(x)
        np.testing.assert_array_equal(np.asarray(g), np.full(3, want, np.float32))
    g = jax.grad(lambda v: jnp.sum(_truncate((v,), jnp.uint32(0), None)[0]))(x)
    np.testing.assert_array_equal(np.asarray(g), np.ones(3, np.float32))


# --------------------------------------------------------------------------------------------
# synthetic translation task
# --------------------------------------------------------------------------------------------


def test_dataset_is_deterministic_and_well_formed():
    a = make_translation_dataset(40, 10, seed=3, max_len=8)
    b = make_translation_dataset(40, 10, seed=3, max_len=8)
    c = make_translation_dataset(40, 10, seed=4, max_len=8)
    for sa, sb in ((a.train, b.train), (a.test, b.test)):
        for x, y in zip(sa, sb):
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.train.src, c.train.src)
    assert a.train.src.shape == (40, 9) and a.test.src.shape == (10, 9)
    assert a.train.src.dtype == np.int32 and a.train.src_mask.dtype == bool
    assert a.src_vocab_size == len(SRC_VOCAB) == 36 and a.tgt_vocab_size == len(TGT_VOCAB) == 36
    for sp in (a.train, a.test):
        n = sp.src_mask.sum(1)
        assert (n >= 4).all() and (n <= 9).all()  # 3..8 words + EOS
        np.testing.assert_array_equal(sp.src_mask, sp.src != PAD)
        np.testing.assert_array_equal(sp.tgt_mask, sp.tgt_out != PAD)
        np.testing.assert_array_equal(sp.tgt_mask.sum(1), n)  # same number of words
        assert (sp.tgt_in[:, 0] == BOS).all()
        np.testing.assert_array_equal(sp.src[np.arange(len(n)), n - 1], EOS)
        np.testing.assert_array_equal(sp.tgt_out[np.arange(len(n)), n - 1], EOS)
        # teacher forcing: tgt_in is tgt_out shifted right by one (BOS first), EOS not fed
        np.testing.assert_array_equal(np.where(sp.tgt_in[:, 1:] == EOS, PAD, sp.tgt_in[:, 1:]),
                                      np.where(sp.tgt_out[:, :-1] == EOS, PAD, sp.tgt_out[:, :-1]))
    lengths = set(a.train.src_mask.sum(1).tolist())
    assert len(lengths) >= 4  # varying lengths
    train = {tuple(r) for r in a.train.src.tolist()}
    assert len(train) == 40 and not train & {tuple(r) for r in a.test.src.tolist()}


def test_translation_rules_on_examples():
    L = LEXICON
    assert translate("the big red dog sees a cat today".split()) == [
        L["the"], L["dog"], L["big"], L["red"], L["a"], L["cat"], L["today"], L["sees"]]
    assert translate("every child sleeps".split()) == [L["every"], L["child"], L["sleeps"]]
    assert translate("a old tree holds this quiet book".split()) == [
        L["a"], L["tree"], L["old"], L["this"], L["book"], L["quiet"], L["holds"]]
    with pytest.raises(ValueError):
        translate("dog the sees".split())
    assert len(set(L.values())) == len(L)  # one-to-one lexicon

    d = make_translation_dataset(200, 0, seed=1, max_len=10)
    inv = {v: k for k, v in L.items()}
    reordered = 0
    for src_row, tgt_row in zip(d.train.src, d.train.tgt_out):
        src = decode(src_row, SRC_VOCAB)
        tgt = decode(tgt_row)
        assert tgt == translate(src)
        back = [inv[w] for w in tgt]
        assert sorted(back) == sorted(src)  # word-by-word lexical mapping
        assert WORD_CLASS[back[-1]] in ("vt", "vi")  # the verb is last
        for i, w in enumerate(back):  # adjectives follow their noun (or another adjective)
            if WORD_CLASS[w] == "adj":
                assert WORD_CLASS[back[i - 1]] in ("noun", "adj")
        for i, w in enumerate(src):  # ... and precede it in the source
            if WORD_CLASS[w] == "adj":
                assert WORD_CLASS[src[i + 1]] in ("noun", "adj")
        reordered += back != src
    assert reordered > 100  # most sentences are reordered: position-wise copying is not enough


def test_bucketize_and_accuracy():
    d = make_translation_dataset(60, 0, seed=2, max_len=10)
    buckets = bucketize(d.train, [(11, 11), (6, 6)])
    assert [b for b, _ in buckets] == [(6, 6), (11, 11)]
    assert sum(len(sp.src) for _, sp in buckets) == 60
    for (s, t), sp in buckets:
        assert sp.src.shape[1] == s and sp.tgt_out.shape[1] == t
        for row, mrow in zip(sp.src, sp.src_mask):
            assert decode(row, SRC_VOCAB) and row[mrow.sum() - 1] == EOS
    with pytest.raises(ValueError):
        bucketize(d.train, [(4, 4)])

    tgt, mask = d.train.tgt_out, d.train.tgt_mask
    logits = jax.nn.one_hot(tgt, 36) * 5.0
    assert float(token_accuracy(logits, tgt, mask)) == 1.0
    assert float(sequence_accuracy(logits, tgt, mask)) == 1.0
    wrong = np.array(tgt)
    wrong[0, 0] = (wrong[0, 0] + 1) % 36
    total = mask.sum()
    assert float(token_accuracy(wrong, tgt, mask)) == pytest.approx((total - 1) / total)
    assert float(sequence_accuracy(wrong, tgt, mask)) == pytest.approx(59 / 60)
    # padded positions do not count; predictions shorter than the targets count as wrong there
    assert float(token_accuracy(np.where(mask, tgt, 7), tgt, mask)) == 1.0
    short = tgt[:, :3]
    assert float(token_accuracy(short, tgt, mask)) == pytest.approx(np.minimum(mask.sum(1), 3).sum() / total)


# --------------------------------------------------------------------------------------------
# translator
# --------------------------------------------------------------------------------------------


def test_gemm_shapes_analytic_and_gnmt():
    cfg = TranslatorConfig(src_vocab=30, tgt_vocab=20, embed_dim=6, hidden=4, enc_layers=3, dec_layers=2,
                           bidirectional=True)
    g = translator_gemm_shapes(cfg, 2, 5, 7)
    names = [n for n, *_ in g]
    assert names[:10] == ["enc0_fw"] * 5 + ["enc0_bw"] * 5
    assert names[-1] == "out_proj" and len(g) == 5 * 4 + 7 * (4 + 2 * 2) + 1
    assert names[20:28] == ["dec0", "dec1", "attn_wa", "attn_scores", "attn_scores", "attn_context",
                            "attn_context", "attn_wc"]  # one scores / context product per sentence
    assert ("attn_scores", 1, 4, 5) in g and ("attn_context", 1, 5, 4) in g
    assert ("enc0_fw", 2, 6 + 4, 16) in g and ("enc1", 2, 8 + 4, 16) in g and ("enc2", 2, 4 + 4, 16) in g
    assert ("dec0", 2, 6 + 4 + 4, 16) in g and ("attn_wa", 2, 4, 4) in g and ("attn_wc", 2, 8, 4) in g
    assert g[-1] == ("out_proj", 14, 4, 20)
    layers = translator_layer_shapes(cfg, 2, 5, 7)
    assert sum(s.macs for s in layers) == sum(m * k * n for _, m, k, n in g)
    assert {s.name for s in layers if not s.reuse} == set(ATTENTION_PRODUCTS) == {"attn_scores", "attn_context"}

    gnmt = gnmt_config()
    assert (gnmt.hidden, gnmt.enc_layers, gnmt.dec_layers, gnmt.bidirectional) == (1024, 8, 8, True)
    big = {n: (m, k, n_) for n, m, k, n_ in translator_gemm_shapes(gnmt, 128, 50, 50)}
    assert big["enc0_fw"] == (128, 2048, 4096) and big["enc1"] == (128, 3072, 4096)
    assert big["dec0"] == (128, 3072, 4096) and big["dec7"] == (128, 2048, 4096)
    assert big["out_proj"] == (6400, 1024, 32000)
    abstract = abstract_translator(gnmt, hw=HW)  # nothing allocated
    n_params = sum(x.size for x in jax.tree.leaves(nnx.state(abstract, nnx.Param)))
    assert 200e6 < n_params < 300e6
    assert translator_gemm_shapes(abstract, 1, 2, 3) == translator_gemm_shapes(gnmt, 1, 2, 3)


TINY = TranslatorConfig(src_vocab=36, tgt_vocab=36, embed_dim=8, hidden=8, enc_layers=1, dec_layers=1,
                        bidirectional=True)


@pytest.fixture(scope="module")
def tiny_nt():
    model = Translator(TINY, hw=HW, rngs=nnx.Rngs(0), lut=LUTConfig())
    d = make_translation_dataset(8, 2, seed=0, max_len=5)
    return model, d


@pytest.mark.slow  # the translator's emulated training: test_exact_events' LSTM steps cover its events
def test_training_steps_neurotrainer(tiny_nt):
    """Adam steps on NeuroTrainer precisions with LUT activations, compiled once (``lax.scan``).

    Every step: finite loss and parameter gradients, BP/UP events (random bits of stochastic
    rounding) in every emulated layer's probe gradient, one cost record per layer whose FF MACs
    equal :func:`translator_gemm_shapes`; over the steps the loss falls.
    """
    model, d = tiny_nt
    src, tgt_in, tgt_out, tmask = (jnp.asarray(a) for a in (d.train.src, d.train.tgt_in, d.train.tgt_out,
                                                            d.train.tgt_mask))
    layers = emulated_layers(model)
    assert [m.name for m in layers] == ["enc0_fw", "enc0_bw", "dec0", "attn_wa", "attn_wc", "out_proj",
                                        "attn_scores", "attn_context"]
    assert [m.layer_id for m in layers] == list(range(8))
    paths = {lyr.name: tuple(p) for p, lyr in nnx.iter_graph(model) if isinstance(lyr, (EmuLinear, EmuBatchedMatmul))}
    graphdef, params, probes, rest = nnx.split(model, nnx.Param, CostProbe, ...)
    tx = optax.adam(3e-2)
    steps = 30

    def loss_fn(params, probes, seed):
        m = nnx.merge(graphdef, params, probes, rest)
        logits = m(src, tgt_in, seed=seed)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, tgt_out)
        return jnp.sum(ce * tmask) / jnp.sum(tmask), nnx.pop(m, nnx.Intermediate)

    def train(params):
        def step(carry, seed):
            p, o = carry
            (loss, inter), (g, gprobe) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(p, probes, seed)
            u, o = tx.update(g, o, p)
            finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(g)]))
            nonzero = jnp.stack([jnp.any(x != 0) for x in jax.tree.leaves(g)])
            return (optax.apply_updates(p, u), o), (loss, finite, nonzero, gprobe, inter)

        return jax.lax.scan(step, (params, tx.init(params)), jnp.arange(steps, dtype=jnp.uint32))[1]

    losses, finite, nonzero, gprobe, inter = _compile(train, params)(params)
    losses = np.asarray(losses)
    assert np.isfinite(losses).all() and np.asarray(finite).all()
    assert np.asarray(nonzero)[0].all()  # every parameter gets a gradient (embeddings included)
    assert losses[-3:].mean() < 0.5 * losses[:3].mean(), losses

    macs = {}
    for name, m_, k, n in translator_gemm_shapes(TINY, *src.shape, tgt_in.shape[1]):
        macs[name] = macs.get(name, 0) + m_ * k * n
    assert set(paths) == set(macs)
    flat_probe = {p: v.get_value() for p, v in nnx.to_flat_state(gprobe)}
    flat_cost = {p: v.get_value() for p, v in nnx.to_flat_state(inter)}
    for name, p in paths.items():
        ev = np.asarray(flat_probe[p + ("probe",)])
        assert ev.shape == (steps, *PROBE_SHAPE) and np.isfinite(ev).all()
        ev = np.asarray(decode_events(ev))  # exact counts, (steps, 2, 4)
        assert (ev[:, 0, 3] > 0).all() and (ev[:, 1, 3] > 0).all(), name  # BP, UP: SR random bits
        costs = flat_cost[p + ("cost",)]
        assert set(costs) == {"ff", "bp", "up"}  # one record, summed over the calls and the time steps
        np.testing.assert_array_equal(np.asarray(costs["ff"].macs), np.full(steps, macs[name]))
        np.testing.assert_array_equal(np.asarray(costs["ff"].random_bits), 0)  # FF rounds to nearest


@pytest.mark.slow  # compiles greedy decoding; the training steps above keep the translator's bits
def test_greedy_decoding_and_padding_invariance(tiny_nt):
    """Greedy decoding shapes; extra padding (a larger bucket) changes no logit."""
    model, d = tiny_nt
    graphdef, state = nnx.split(model)
    src, tgt_in = jnp.asarray(d.test.src), jnp.asarray(d.test.tgt_in)
    seed = jnp.uint32(1)

    def run(state, src, tgt_in, seed):
        m = nnx.merge(graphdef, state)
        return m.greedy(src, 7, seed=seed), m(src, tgt_in, seed=seed)

    def forward(state, src, tgt_in, seed):
        return nnx.merge(graphdef, state)(src, tgt_in, seed=seed)

    ids, logits = _compile(run, state, src, tgt_in, seed)(state, src, tgt_in, seed)
    src2, tgt_in2 = (jnp.pad(a, ((0, 0), (0, 2))) for a in (src, tgt_in))
    logits2 = _compile(forward, state, src2, tgt_in2, seed)(state, src2, tgt_in2, seed)
    t = tgt_in.shape[1]
    assert ids.shape == (2, 7) and ids.dtype == jnp.int32
    assert logits.shape == (2, t, 36) and logits2.shape == (2, t + 2, 36)
    assert np.isfinite(np.asarray(logits)).all()
    np.testing.assert_array_equal(np.asarray(logits2[:, :t]), np.asarray(logits))
    ids = np.asarray(ids)
    assert ((ids >= 0) & (ids < 36)).all()
    for row in ids:  # PAD after the first EOS
        eos = np.nonzero(row == EOS)[0]
        if len(eos):
            assert (row[eos[0] + 1:] == PAD).all()


@pytest.mark.slow
def test_float_training_reduces_loss():
    hw = training_hardware("fp32", rows=16, width=8)
    cfg = TranslatorConfig(src_vocab=36, tgt_vocab=36, embed_dim=16, hidden=16, enc_layers=1, dec_layers=1)
    model = Translator(cfg, hw=hw, rngs=nnx.Rngs(1))
    d = make_translation_dataset(16, 0, seed=5, max_len=5)
    src, tgt_in, tgt_out, tmask = (jnp.asarray(a) for a in (d.train.src, d.train.tgt_in, d.train.tgt_out,
                                                            d.train.tgt_mask))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.adam(3e-2)
    steps = 24

    def loss_fn(params, seed):
        logits = nnx.merge(graphdef, params, rest)(src, tgt_in, seed=seed)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, tgt_out)
        return jnp.sum(ce * tmask) / jnp.sum(tmask)

    def train(params):
        def step(carry, seed):
            p, o = carry
            loss, g = jax.value_and_grad(loss_fn)(p, seed)
            u, o = tx.update(g, o, p)
            return (optax.apply_updates(p, u), o), loss

        (p, _), losses = jax.lax.scan(step, (params, tx.init(params)), jnp.arange(steps, dtype=jnp.uint32))
        return losses, p

    losses, _ = _compile(train, params)(params)
    losses = np.asarray(losses)
    assert np.isfinite(losses).all()
    assert losses[-3:].mean() < 0.3 * losses[:3].mean(), losses  # about 3.4 -> 0.4
