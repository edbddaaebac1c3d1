"""LSTM cell and a GNMT-style attention translator whose matmuls run on the emulated hardware.

Memory Slices Sec. 5 trains neural machine translators: a stack of encoder LSTMs, an attention
layer, a stack of decoder LSTMs, trained with teacher forcing, bucketing (padding) and
truncated back-propagation through time. Every LSTM layer is *one* matmul per time step:
``[x_t, h_{t-1}] (B x (I+H)) @ W ((I+H) x 4H)`` (the four gate filters concatenated, Memory
Slices Fig. 10), followed by the gate activations, here exact or through NeuroTrainer's PMAG
lookup tables (:func:`~pimjax.nn.activation`).

What runs where:

* On the emulated arrays (:class:`~pimjax.nn._layers.EmuLinear`, FF/BP/UP): every LSTM gate
  matmul, the attention's ``W_a`` (``dec_h @ W_a``), the attention combination ``W_c`` and the
  output projection to the target vocabulary.
* float32 (a stated approximation): the embedding lookups (a table read, and its
  scatter-add gradient), the gate nonlinearities when no LUT is given, the cell-state
  elementwise products, and the *activation x activation* products of attention: the scores
  ``q_t . enc_s`` and the context ``sum_s alpha_s enc_s`` are batched per sentence
  (``einsum``) with a float32 softmax. On the hardware they would be small per-sentence
  matmuls with both operands streamed (no preloaded weight); :func:`layer_shapes` lists them
  with ``emulated=False``.

Time steps run under ``jax.lax.scan`` (one compilation for any length). Each EmuLinear inside a
scan is called once per step with seed ``fold_key(seed, t)`` (the layer id is folded in by the
layer); the cost records it sows inside the scan come back stacked over time and are summed
over the steps, then sown on the layer, so a layer's ``"cost"`` intermediate holds, per call of
the model, one ``{phase: CostRecord}`` for all its time steps together. The BP/UP events reach
each layer's :class:`~pimjax.nn._layers.CostProbe` gradient summed over the steps.

Attention is Luong's "general" score (``score = dec_h W_a enc_h^T``, on the top decoder layer,
``h~ = tanh(W_c [ctx; h])``, input feeding of ``h~`` into the first decoder layer); GNMT itself
uses additive attention from the bottom decoder layer. Padded source positions are masked out
of the softmax; padded steps of the encoder keep their state, so the backward direction of a
bidirectional first layer starts at each sentence's last real token.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from pimjax.hw import LUTConfig
from pimjax.numerics import fold_key
from pimjax.nn._activations import activation
from pimjax.nn._emulated import TrainingHardware
from pimjax.nn._layers import EmuLinear, add_costs

LUTs = LUTConfig | Mapping[str, LUTConfig | None] | None

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2


def _lut_for(lut: LUTs, name: str) -> LUTConfig | None:
    if lut is None or isinstance(lut, LUTConfig):
        return lut
    return lut.get(name)


def _act(name: str, x: jax.Array, lut: LUTs) -> jax.Array:
    return activation(name, x, _lut_for(lut, name))


# --------------------------------------------------------------------------------------------
# LSTM cell
# --------------------------------------------------------------------------------------------


class EmuLSTMCell(nnx.Module):
    """LSTM cell with its one gate matmul on the emulated hardware.

    ``z = [x, h] @ W + b`` (``W``: ``(in_features + hidden) x 4 hidden``, gate blocks in the order
    input, forget, cell candidate, output), then ``i, f, o = sigmoid(.)``, ``g = tanh(.)``,
    ``c' = f * c + i * g`` and ``h' = o * tanh(c')``. The nonlinearities are exact float32 or
    LUTs (``lut``: one :class:`~pimjax.hw.LUTConfig` for all, or a mapping ``{"sigmoid": ...,
    "tanh": ...}``); the elementwise products are float32. The forget-gate bias starts at
    ``forget_bias``.

    Args:
      in_features: size of ``x``.
      hidden: size of ``h`` and ``c``.
      hw: per-phase hardware of the gate matmul.
      layer_id: the gate layer's id (unique within a model: it separates random streams).
      rngs: initialisation.
      lut: activation tables, or ``None`` for exact activations.
      forget_bias: initial forget-gate bias.
      name: the gate layer's name (costs).
    """

    def __init__(self, in_features: int, hidden: int, *, hw: TrainingHardware, layer_id: int,
                 rngs: nnx.Rngs, lut: LUTs = None, forget_bias: float = 1.0, name: str = ""):
        self.in_features = in_features
        self.hidden = hidden
        self.lut = lut
        self.gates = EmuLinear(in_features + hidden, 4 * hidden, hw=hw, layer_id=layer_id, rngs=rngs,
                               name=name or f"lstm{layer_id}")
        if forget_bias:
            b = self.gates.bias[...]
            self.gates.bias[...] = b.at[hidden:2 * hidden].set(forget_bias)

    def initial_state(self, batch: int) -> tuple[jax.Array, jax.Array]:
        z = jnp.zeros((batch, self.hidden), jnp.float32)
        return z, z

    def __call__(self, x: jax.Array, state: tuple[jax.Array, jax.Array], *, seed: jax.Array
                 ) -> tuple[jax.Array, jax.Array]:
        """One step: ``x`` (B, in_features), ``state = (h, c)`` each (B, hidden); returns ``(h', c')``."""
        h, c = state
        z = self.gates(jnp.concatenate([x.astype(jnp.float32), h], axis=-1), seed=seed)
        i, f, g, o = jnp.split(z, 4, axis=-1)
        i = _act("sigmoid", i, self.lut)
        f = _act("sigmoid", f, self.lut)
        g = _act("tanh", g, self.lut)
        o = _act("sigmoid", o, self.lut)
        c2 = f * c + i * g
        h2 = o * _act("tanh", c2, self.lut)
        return h2, c2


# --------------------------------------------------------------------------------------------
# configuration and shapes
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class TranslatorConfig:
    """Sizes of a :class:`Translator`.

    Args:
      src_vocab, tgt_vocab: vocabulary sizes (ids ``0, 1, 2`` are PAD, BOS, EOS by default).
      embed_dim: word-embedding size.
      hidden: LSTM hidden size (every layer).
      enc_layers, dec_layers: LSTM layers of the encoder / decoder.
      bidirectional: the first encoder layer runs both directions (outputs concatenated,
        ``2 * hidden``), as in GNMT.
      residual_from: layers with index ``>= residual_from`` (0-based) add their input to their
        output when sizes match (GNMT: from the third layer, ``2``); ``None`` for none.
      input_feeding: feed the previous attentional state ``h~`` into the first decoder layer.
      truncate_bptt: cut the gradient through the recurrent state every this many steps
        (truncated BPTT, Memory Slices Sec. 5); ``None`` for full BPTT.
      pad_id, bos_id, eos_id: special tokens.
    """

    src_vocab: int
    tgt_vocab: int
    embed_dim: int
    hidden: int
    enc_layers: int = 2
    dec_layers: int = 2
    bidirectional: bool = False
    residual_from: int | None = 2
    input_feeding: bool = True
    truncate_bptt: int | None = None
    pad_id: int = PAD_ID
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID

    def __post_init__(self) -> None:
        for f in ("src_vocab", "tgt_vocab", "embed_dim", "hidden", "enc_layers", "dec_layers"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"TranslatorConfig.{f} must be a positive int, got {v!r}")
        if self.truncate_bptt is not None and (not isinstance(self.truncate_bptt, int) or self.truncate_bptt < 1):
            raise ValueError(f"TranslatorConfig.truncate_bptt must be a positive int or None, "
                             f"got {self.truncate_bptt!r}")

    @property
    def enc_out_dim(self) -> int:
        """Size of the encoder outputs that attention reads."""
        return 2 * self.hidden if (self.bidirectional and self.enc_layers == 1) else self.hidden

    def enc_in_dims(self) -> list[int]:
        dims = [self.embed_dim]
        for i in range(1, self.enc_layers):
            dims.append(2 * self.hidden if (i == 1 and self.bidirectional) else self.hidden)
        return dims

    def dec_in_dims(self) -> list[int]:
        first = self.embed_dim + (self.hidden if self.input_feeding else 0)
        return [first] + [self.hidden] * (self.dec_layers - 1)

    def residual(self, index: int, in_dim: int) -> bool:
        return self.residual_from is not None and index >= self.residual_from and in_dim == self.hidden


def gnmt_config(*, vocab: int = 32000) -> TranslatorConfig:
    """The full-size GNMT-like translator (Memory Slices Sec. 6: LSTM0 "has parameters similar to
    Google NMT (GNMT)"; Table 3's values are not in our copy of the paper, so the sizes follow
    Wu et al. 2016, GNMT Sec. 3-5): 8 encoder layers (the first bidirectional), 8 decoder
    layers, 1024 LSTM units and 1024-wide embeddings, residual connections from the third layer,
    a 32K wordpiece vocabulary. Meant for costing by shapes (:func:`gemm_shapes`); its 253M float32
    parameters take about 1 GB (:func:`abstract_translator` builds it without allocating).
    """
    return TranslatorConfig(src_vocab=vocab, tgt_vocab=vocab, embed_dim=1024, hidden=1024, enc_layers=8,
                            dec_layers=8, bidirectional=True, residual_from=2, input_feeding=True)


class GemmShape(NamedTuple):
    """One layer's forward matmul ``(m x k) @ (k x n)``, executed ``calls`` times per batch.

    ``emulated`` is False for the activation x activation products of attention, which the
    emulation computes in float32 (see the module docstring).
    """

    name: str
    m: int
    k: int
    n: int
    calls: int = 1
    emulated: bool = True

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n * self.calls


def abstract_translator(config: TranslatorConfig, *, hw: TrainingHardware, lut: LUTs = None, seed: int = 0
                        ) -> "Translator":
    """A :class:`Translator` under :func:`flax.nnx.eval_shape`: parameters are shapes, nothing is
    allocated (e.g. ``abstract_translator(gnmt_config(), hw=...)`` for parameter counts)."""
    return nnx.eval_shape(lambda: Translator(config, hw=hw, rngs=nnx.Rngs(seed), lut=lut))


def _config_of(model: "Translator | TranslatorConfig") -> TranslatorConfig:
    cfg = model.config if isinstance(model, Translator) else model
    if not isinstance(cfg, TranslatorConfig):
        raise TypeError(f"model must be a Translator or TranslatorConfig, got {type(model).__name__}")
    return cfg


def _check_sizes(batch: int, src_len: int, tgt_len: int) -> tuple[int, int, int]:
    vals = tuple(int(v) for v in (batch, src_len, tgt_len))
    if min(vals) < 1:
        raise ValueError(f"batch, src_len and tgt_len must be >= 1, got {vals}")
    return vals


def layer_shapes(model: "Translator | TranslatorConfig", batch: int, src_len: int, tgt_len: int
                 ) -> list[GemmShape]:
    """Per-layer forward matmuls of one teacher-forced batch, from shapes only (nothing runs).

    LSTM and attention layers run once per time step (``calls`` = steps, ``m`` = batch); the
    output projection runs once on all ``batch * tgt_len`` attentional states; the attention
    scores and context are per-sentence products (``m = 1``, ``calls = batch * tgt_len``,
    ``emulated=False``). The backward phases of an emulated entry are BP ``(m x n) @ (n x k)``
    and UP ``(k x m) @ (m x n)``. Names are the layers' ``name`` (and thus their sown costs).

    Args:
      model: a :class:`Translator` or its :class:`TranslatorConfig` (e.g. :func:`gnmt_config`).
      batch, src_len, tgt_len: batch size and padded source / target lengths.
    """
    cfg = _config_of(model)
    b, s, t = _check_sizes(batch, src_len, tgt_len)
    h = cfg.hidden
    out: list[GemmShape] = []
    for i, d in enumerate(cfg.enc_in_dims()):
        if i == 0 and cfg.bidirectional:
            out.append(GemmShape("enc0_fw", b, d + h, 4 * h, s))
            out.append(GemmShape("enc0_bw", b, d + h, 4 * h, s))
        else:
            out.append(GemmShape(f"enc{i}", b, d + h, 4 * h, s))
    for i, d in enumerate(cfg.dec_in_dims()):
        out.append(GemmShape(f"dec{i}", b, d + h, 4 * h, t))
    e = cfg.enc_out_dim
    out.append(GemmShape("attn_wa", b, h, e, t))
    out.append(GemmShape("attn_scores", 1, e, s, b * t, emulated=False))
    out.append(GemmShape("attn_context", 1, s, e, b * t, emulated=False))
    out.append(GemmShape("attn_wc", b, e + h, h, t))
    out.append(GemmShape("out_proj", b * t, h, cfg.tgt_vocab, 1))
    return out


def gemm_shapes(model: "Translator | TranslatorConfig", batch: int, src_len: int, tgt_len: int
                ) -> list[tuple[str, int, int, int]]:
    """The emulated forward GEMMs ``(layer_name, M, K, N)`` of one teacher-forced batch, one per
    call, in call order, from shapes only (analytic; nothing runs).

    The same convention as :func:`pimjax.nn.gemm_shapes` for CNNs: the encoder runs layer by
    layer (``enc0`` for each of the ``src_len`` steps, then ``enc0_bw`` if bidirectional, then
    ``enc1``...), the decoder step by step (``dec0``..., ``attn_wa``, ``attn_wc`` for each of the
    ``tgt_len`` steps), then ``out_proj`` once with ``M = batch * tgt_len``. BP and UP run
    ``(M x N) @ (N x K)`` and ``(K x M) @ (M x N)``. Per-layer totals and the float attention
    products: :func:`layer_shapes`. ``gemm_shapes(gnmt_config(), ...)`` costs GNMT without
    building it.
    """
    shapes = {g.name: g for g in layer_shapes(model, batch, src_len, tgt_len)}
    cfg = _config_of(model)
    b, s, t = _check_sizes(batch, src_len, tgt_len)
    out: list[tuple[str, int, int, int]] = []
    enc_names = [g.name for g in shapes.values() if g.name.startswith("enc")]
    for name in enc_names:
        g = shapes[name]
        out += [(name, g.m, g.k, g.n)] * s
    step = [f"dec{i}" for i in range(cfg.dec_layers)] + ["attn_wa", "attn_wc"]
    for _ in range(t):
        out += [(n, shapes[n].m, shapes[n].k, shapes[n].n) for n in step]
    g = shapes["out_proj"]
    out.append(("out_proj", g.m, g.k, g.n))
    return out


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
    ``dec0``..., ``attn_wa``, ``attn_wc``, ``out_proj``.
    """

    def __init__(self, config: TranslatorConfig, *, hw: TrainingHardware, rngs: nnx.Rngs, lut: LUTs = None,
                 layer_id_base: int = 0):
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
        self.num_layer_ids = lid + 3 - layer_id_base

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
        x = jnp.take(self.src_embed[...], src, axis=0)
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
        # Luong "general" attention: q = h W_a (on the array); scores / context in float32
        q = m.attn_wa(x, seed=s)
        scores = jnp.einsum("be,bse->bs", q, enc)
        scores = jnp.where(src_mask, scores, jnp.float32(-1e9))
        alpha = jax.nn.softmax(scores, axis=-1)
        ctx = jnp.einsum("bs,bse->be", alpha, enc)
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
        emb = jnp.take(self.tgt_embed[...], tgt_in, axis=0)
        steps = jnp.arange(tgt_in.shape[1], dtype=jnp.uint32)

        def body(m, carry, xs):
            emb_t, t = xs
            return Translator._dec_step(m, carry, emb_t, t, enc, src_mask, dseed)

        _, ht = _scan(self, body, self._dec_init(src.shape[0]), (jnp.swapaxes(emb, 0, 1), steps))
        return self.out_proj(jnp.swapaxes(ht, 0, 1), seed=fold_key(seed, 2))

    def greedy(self, src: jax.Array, max_len: int, *, seed: jax.Array, src_mask: jax.Array | None = None
               ) -> jax.Array:
        """Greedy decoding: token ids (B, max_len) int32, starting after BOS; PAD after EOS."""
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
