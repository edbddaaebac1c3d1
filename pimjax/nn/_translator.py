"""LSTM cell and a GNMT-style attention translator whose matmuls run on the emulated hardware.

Memory Slices Sec. 5 trains neural machine translators: a stack of encoder LSTMs, an attention
layer, a stack of decoder LSTMs, trained with teacher forcing, bucketing (padding) and
truncated back-propagation through time. Every LSTM layer is *one* matmul per time step:
``[x_t, h_{t-1}] (B x (I+H)) @ W ((I+H) x 4H)`` (the four gate filters concatenated, Memory
Slices Fig. 10), followed by the gate activations, here exact or through NeuroTrainer's PMAG
lookup tables (:func:`~pimjax.nn.activation`).

What runs where:

* On the emulated arrays (FF/BP/UP): every LSTM gate matmul, the attention's ``W_a``
  (``dec_h @ W_a``), the attention combination ``W_c`` and the output projection to the target
  vocabulary (:class:`~pimjax.nn._layers.EmuLinear`), and the *activation x activation*
  products of attention, per sentence: the scores ``q_t enc^T`` and the context
  ``alpha_t enc`` (:class:`~pimjax.nn.EmuBatchedMatmul`: the sentence's encoder states are the
  preloaded operand, the query or the attention weights stream).
* float32 (a stated approximation): the embedding lookups (a table read, and its
  scatter-add gradient), the gate nonlinearities when no LUT is given, the cell-state
  elementwise products and the attention softmax.

Time steps run under ``jax.lax.scan`` (one compilation for any length). Each EmuLinear inside a
scan is called once per step with seed ``fold_key(seed, t)`` (the layer id is folded in by the
layer); the cost records it sows inside the scan come back stacked over time and are summed
over the steps, then sown on the layer, so a layer's ``"cost"`` intermediate holds, per call of
the model, one ``{phase: CostRecord}`` for all its time steps together. The BP/UP events reach
each layer's :class:`~pimjax.nn._layers.CostProbe` gradient summed over the steps (exactly, for
up to :data:`~pimjax.nn._emulated.MAX_PROBE_USES` (65793) steps: the probe's float32 limb
encoding, :mod:`pimjax.nn._emulated`; longer sequences raise a ValueError at trace time).

Attention is Luong's "general" score (``score = dec_h W_a enc_h^T``, on the top decoder layer,
``h~ = tanh(W_c [ctx; h])``, input feeding of ``h~`` into the first decoder layer); GNMT itself
uses additive attention from the bottom decoder layer. Padded source positions are masked out
of the softmax; padded steps of the encoder keep their state, so the backward direction of a
bidirectional first layer starts at each sentence's last real token.

Homes: the LSTM cell in :mod:`pimjax.nn._lstm`, the sizes and the GNMT preset in
:mod:`pimjax.nn._translator_config`, the costing shapes in :mod:`pimjax.nn._translator_shapes`;
this module holds the model and its time-step scanning.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from pimjax._checks import check_int
from pimjax.numerics import fold_key
from pimjax.nn._attention import EmuBatchedMatmul
from pimjax.nn._emulated import MAX_PROBE_USES, TrainingHardware, check_hardware
from pimjax.nn._layers import EmuLinear, add_costs
from pimjax.nn._lstm import EmuLSTMCell, LUTs, _act
from pimjax.nn._translator_config import TranslatorConfig


# --------------------------------------------------------------------------------------------
# scanning NNX modules
# --------------------------------------------------------------------------------------------


def _sum_time(x):
    with jax.enable_x64(True):
        return jnp.sum(x, axis=0)


def _resow(module: nnx.Module, inter: nnx.State) -> None:
    """Sow intermediates stacked over time (summed over the steps) back onto ``module``."""
    for path, var in nnx.to_flat_state(inter):
        obj = module
        for p in path[:-1]:
            obj = obj[p] if isinstance(p, int) else getattr(obj, p)
        obj.sow(nnx.Intermediate, path[-1], jax.tree.map(_sum_time, var.get_value()), init_fn=dict,
                reduce_fn=add_costs)


def _scan(module: nnx.Module, body, carry, xs, *, reverse: bool = False):
    """``lax.scan`` of ``body(module, carry, x) -> (carry, y)`` with NNX state handled functionally.

    The module's variables enter the scan as closed-over constants (gradients flow to them);
    what its layers sow inside the body comes back stacked over time, is summed over the steps
    and is sown on the original layers.
    """
    steps = jax.tree.leaves(xs)[0].shape[0]
    if steps > MAX_PROBE_USES:
        raise ValueError(f"a sequence of {steps} time steps: the layers' event probes stay exact for at most "
                         f"{MAX_PROBE_USES} uses per call (pimjax.nn._emulated); split the sequence")
    graphdef, state = nnx.split(module)

    def f(c, x):
        m = nnx.merge(graphdef, state)
        nnx.pop(m, nnx.Intermediate)
        c, y = body(m, c, x)
        return c, (y, nnx.pop(m, nnx.Intermediate))

    carry, (ys, inter) = jax.lax.scan(f, carry, xs, reverse=reverse)
    _resow(module, inter)
    return carry, ys


def _truncate(state, t, every: int | None):
    """Truncated BPTT: no gradient flows into the state entering step ``t`` when ``t % every == 0``."""
    if every is None:
        return state
    cut = (t % every) == 0
    return jax.tree.map(lambda a: jnp.where(cut, jax.lax.stop_gradient(a), a), state)


def _embed(table: jax.Array, ids: jax.Array, name: str, vocab: str) -> jax.Array:
    """Rows ``ids`` of ``table`` (V, D). Concrete ids outside ``[0, V)``: ValueError naming ``vocab``;
    traced ones (under ``jit``) embed as NaN (negative ids too, not wrapped from the end)."""
    v = table.shape[0]
    if not isinstance(ids, jax.core.Tracer):
        arr = np.asarray(ids)
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must hold integer token ids, got dtype {arr.dtype}")
        bad = int(np.count_nonzero((arr < 0) | (arr >= v)))
        if bad:
            raise ValueError(f"{name} has {bad} token id(s) outside [0, {v}) (the {vocab} of the TranslatorConfig), "
                             f"min {int(arr.min())}, max {int(arr.max())}")
    ids = jnp.where(ids < 0, v, ids)  # out of range: jnp.take's fill mode gives NaN
    return jnp.take(table, ids, axis=0, mode="fill", fill_value=jnp.nan)


# --------------------------------------------------------------------------------------------
# translator
# --------------------------------------------------------------------------------------------


class Translator(nnx.Module):
    """GNMT-style encoder-decoder LSTM translator with Luong attention on the emulated hardware.

    Args:
      config: sizes (:class:`TranslatorConfig`).
      hw: per-phase hardware of every emulated matmul.
      rngs: initialisation.
      lut: activation tables for the LSTM gates and ``h~`` (``None``: exact float32).
      layer_id_base: first layer id; the layers take consecutive ids from it.

    Layer names (and ids, in this order): ``enc0`` (or ``enc0_fw``, ``enc0_bw``), ``enc1``...,
    ``dec0``..., ``attn_wa``, ``attn_wc``, ``out_proj``, ``attn_scores``, ``attn_context``.

    Token ids (``src``, ``tgt_in``) must lie in ``[0, src_vocab)`` / ``[0, tgt_vocab)``:
    concrete (not traced) ids outside raise ValueError naming the vocabulary; under ``jit``
    nothing can be raised, and an out-of-range id (negative ones included) embeds as NaN, which
    the emulated layers count as NaN events (and a native run shows as a NaN loss).
    """

    def __init__(self, config: TranslatorConfig, *, hw: TrainingHardware, rngs: nnx.Rngs, lut: LUTs = None,
                 layer_id_base: int = 0):
        if not isinstance(config, TranslatorConfig):
            raise TypeError(f"config must be a TranslatorConfig, got {type(config).__name__}")
        check_hardware("hw", hw)
        cfg = config
        self.config = cfg
        self.lut = lut
        emb = nnx.initializers.normal(stddev=1.0)
        self.src_embed = nnx.Param(emb(rngs.params(), (cfg.src_vocab, cfg.embed_dim), jnp.float32))
        self.tgt_embed = nnx.Param(emb(rngs.params(), (cfg.tgt_vocab, cfg.embed_dim), jnp.float32))
        lid = layer_id_base
        h = cfg.hidden
        enc = []
        for i, d in enumerate(cfg.enc_in_dims()):
            if i == 0 and cfg.bidirectional:
                enc.append(EmuLSTMCell(d, h, hw=hw, layer_id=lid, rngs=rngs, lut=lut, name="enc0_fw"))
                self.enc_bw = EmuLSTMCell(d, h, hw=hw, layer_id=lid + 1, rngs=rngs, lut=lut, name="enc0_bw")
                lid += 2
            else:
                enc.append(EmuLSTMCell(d, h, hw=hw, layer_id=lid, rngs=rngs, lut=lut, name=f"enc{i}"))
                lid += 1
        if not cfg.bidirectional:
            self.enc_bw = None
        self.enc = nnx.List(enc)
        dec = []
        for i, d in enumerate(cfg.dec_in_dims()):
            dec.append(EmuLSTMCell(d, h, hw=hw, layer_id=lid, rngs=rngs, lut=lut, name=f"dec{i}"))
            lid += 1
        self.dec = nnx.List(dec)
        e = cfg.enc_out_dim
        self.attn_wa = EmuLinear(h, e, hw=hw, layer_id=lid, rngs=rngs, use_bias=False, name="attn_wa")
        self.attn_wc = EmuLinear(e + h, h, hw=hw, layer_id=lid + 1, rngs=rngs, use_bias=False, name="attn_wc")
        self.out_proj = EmuLinear(h, cfg.tgt_vocab, hw=hw, layer_id=lid + 2, rngs=rngs, name="out_proj")
        # the activation x activation products of attention, per sentence (pimjax.nn._attention)
        self.attn_scores = EmuBatchedMatmul(hw=hw, layer_id=lid + 3, name="attn_scores")
        self.attn_context = EmuBatchedMatmul(hw=hw, layer_id=lid + 4, name="attn_context")
        self.num_layer_ids = lid + 5 - layer_id_base

    # -- encoder ---------------------------------------------------------------------------

    def _run_layer(self, cell_path: tuple, x: jax.Array, mask: jax.Array, seed: jax.Array, *,
                   reverse: bool = False) -> jax.Array:
        """One LSTM layer over time. ``x``: (B, S, D), ``mask``: (B, S); returns (B, S, H)
        (zeros at padded steps, where the state is carried unchanged)."""
        b = x.shape[0]
        every = self.config.truncate_bptt

        def cell_of(m):
            obj = m
            for p in cell_path:
                obj = obj[p] if isinstance(p, int) else getattr(obj, p)
            return obj

        state0 = cell_of(self).initial_state(b)
        steps = jnp.arange(x.shape[1], dtype=jnp.uint32)

        def body(m, state, xs):
            x_t, m_t, t = xs
            state = _truncate(state, t, every)
            new = cell_of(m)(x_t, state, seed=fold_key(seed, t))
            keep = m_t[:, None]
            new = tuple(jnp.where(keep, n, o) for n, o in zip(new, state))
            return new, jnp.where(keep, new[0], 0.0)

        xs = (jnp.swapaxes(x, 0, 1), jnp.swapaxes(mask, 0, 1), steps)
        _, hs = _scan(self, body, state0, xs, reverse=reverse)
        return jnp.swapaxes(hs, 0, 1)

    def encode(self, src: jax.Array, src_mask: jax.Array | None = None, *, seed: jax.Array) -> jax.Array:
        """Encoder outputs (B, S, enc_out_dim) of source ids ``src`` (B, S)."""
        cfg = self.config
        if src_mask is None:
            src_mask = src != cfg.pad_id
        seed = jnp.asarray(seed, jnp.uint32)
        x = _embed(self.src_embed[...], src, "src", "src_vocab")
        for i in range(cfg.enc_layers):
            y = self._run_layer(("enc", i), x, src_mask, seed)
            if i == 0 and cfg.bidirectional:
                y = jnp.concatenate([y, self._run_layer(("enc_bw",), x, src_mask, seed, reverse=True)], axis=-1)
            if cfg.residual(i, x.shape[-1]):
                y = y + x
            x = y
        return x

    # -- decoder ---------------------------------------------------------------------------

    def _dec_init(self, batch: int):
        states = tuple(c.initial_state(batch) for c in self.dec)
        return states, jnp.zeros((batch, self.config.hidden), jnp.float32)

    @staticmethod
    def _dec_step(m: "Translator", carry, emb_t, t, enc, src_mask, seed):
        """One decoder step on module ``m``: returns the new carry and ``h~`` (B, H)."""
        cfg = m.config
        states, h_tilde = carry
        states = _truncate(states, t, cfg.truncate_bptt)
        s = fold_key(seed, t)
        x = jnp.concatenate([emb_t, h_tilde], axis=-1) if cfg.input_feeding else emb_t
        new_states = []
        for i, cell in enumerate(m.dec):
            st = cell(x, states[i], seed=s)
            new_states.append(st)
            y = st[0] + x if cfg.residual(i, x.shape[-1]) else st[0]
            x = y
        # Luong "general" attention, every product on the arrays: q = h W_a, then per sentence
        # the scores q enc^T and the context alpha enc (enc preloaded); the softmax in float32
        q = m.attn_wa(x, seed=s)
        scores = m.attn_scores(q[:, None, :], jnp.swapaxes(enc, 1, 2), seed=s)[:, 0, :]
        scores = jnp.where(src_mask, scores, jnp.float32(-1e9))
        alpha = jax.nn.softmax(scores, axis=-1)
        ctx = m.attn_context(alpha[:, None, :], enc, seed=s)[:, 0, :]
        h_tilde = _act("tanh", m.attn_wc(jnp.concatenate([ctx, x], axis=-1), seed=s), m.lut)
        return (tuple(new_states), h_tilde), h_tilde

    def __call__(self, src: jax.Array, tgt_in: jax.Array, *, seed: jax.Array, src_mask: jax.Array | None = None
                 ) -> jax.Array:
        """Teacher-forced logits (B, T, tgt_vocab) of target inputs ``tgt_in`` (B, T, BOS-first)."""
        cfg = self.config
        if src_mask is None:
            src_mask = src != cfg.pad_id
        seed = jnp.asarray(seed, jnp.uint32)
        enc = self.encode(src, src_mask, seed=fold_key(seed, 0))
        dseed = fold_key(seed, 1)
        emb = _embed(self.tgt_embed[...], tgt_in, "tgt_in", "tgt_vocab")
        steps = jnp.arange(tgt_in.shape[1], dtype=jnp.uint32)

        def body(m, carry, xs):
            emb_t, t = xs
            return Translator._dec_step(m, carry, emb_t, t, enc, src_mask, dseed)

        _, ht = _scan(self, body, self._dec_init(src.shape[0]), (jnp.swapaxes(emb, 0, 1), steps))
        return self.out_proj(jnp.swapaxes(ht, 0, 1), seed=fold_key(seed, 2))

    def greedy(self, src: jax.Array, max_len: int, *, seed: jax.Array, src_mask: jax.Array | None = None
               ) -> jax.Array:
        """Greedy decoding: token ids (B, max_len) int32, starting after BOS; PAD after EOS."""
        max_len = check_int("max_len", max_len, 1)
        cfg = self.config
        if src_mask is None:
            src_mask = src != cfg.pad_id
        seed = jnp.asarray(seed, jnp.uint32)
        b = src.shape[0]
        enc = self.encode(src, src_mask, seed=fold_key(seed, 0))
        dseed, oseed = fold_key(seed, 1), fold_key(seed, 2)
        steps = jnp.arange(max_len, dtype=jnp.uint32)
        tok0 = jnp.full((b,), cfg.bos_id, jnp.int32)
        done0 = jnp.zeros((b,), bool)

        def body(m, carry, t):
            dec_carry, tok, done = carry
            emb_t = jnp.take(m.tgt_embed[...], tok, axis=0)
            dec_carry, ht = Translator._dec_step(m, dec_carry, emb_t, t, enc, src_mask, dseed)
            logits = m.out_proj(ht, seed=fold_key(oseed, t))
            nxt = jnp.argmax(logits, axis=-1).astype(jnp.int32)
            out = jnp.where(done, jnp.int32(cfg.pad_id), nxt)
            done = done | (nxt == cfg.eos_id)
            return (dec_carry, nxt, done), out

        _, ids = _scan(self, body, (self._dec_init(b), tok0, done0), steps)
        return jnp.swapaxes(ids, 0, 1)
