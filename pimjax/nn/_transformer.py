"""A small decoder-only transformer written with stock Flax NNX layers only.

:class:`TinyTransformer` is a GPT-style stack of pre-LayerNorm blocks (causal
``nnx.MultiHeadAttention``, a ReLU MLP of ``nnx.Linear``) over ``nnx.Embed`` token and learned
position embeddings, with a final ``nnx.LayerNorm`` and an ``nnx.Linear`` head to the
vocabulary. Nothing here imports pimjax: it is a user's model as they would write it, and runs
on the emulated hardware only through :func:`pimjax.emulate`, which intercepts its
``dot_general`` calls (the Q/K/V/output projections, the attention products ``Q K^T`` and
``P V``, the MLP and the head) by module path (``blocks/0/attn/query``, ``blocks/1/mlp_in``,
``head``, ...). The attention is Flax's default (``jax.nn.dot_product_attention``: its two
einsums under a vmap over head groups), whose products pimjax records in full like any other
(docs/your_model.md).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import nnx


def lax_attention(query: jax.Array, key: jax.Array, value: jax.Array, bias: jax.Array | None = None,
                  mask: jax.Array | None = None, **unused: Any) -> jax.Array:
    """``softmax(Q K^T / sqrt(d) + bias, masked) V`` for ``nnx.MultiHeadAttention``
    (``attention_fn``; no dropout), its two products as plain ``jax.lax.dot_general`` calls.

    ``query (B, T, H, D)``, ``key`` and ``value (B, S, H, D)``; ``mask`` broadcastable to
    ``(B, H, T, S)``, True where attending. In float this is the math of Flax's default
    attention, with ``Q`` scaled before the product rather than the scores after it. Under
    :func:`pimjax.emulate` both are call sites of the attention module (``attn/pim_dot0`` =
    ``Q K^T``, ``attn/pim_dot1`` = ``P V``) with FF events and costs, as Flax's default's; this
    was :class:`TinyTransformer`'s attention before jnp contractions and vmaps inside an emulated
    model recorded their FF events, and stays an ``attention_fn`` to choose.
    """
    d = query.shape[-1]
    q = query / jnp.sqrt(d).astype(query.dtype)
    scores = jax.lax.dot_general(q, key, (((3,), (3,)), ((0, 2), (0, 2))))  # (B, H, T, S)
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
    weights = jax.nn.softmax(scores, axis=-1)
    out = jax.lax.dot_general(weights, value, (((3,), (1,)), ((0, 1), (0, 2))))  # (B, H, T, D)
    return jnp.transpose(out, (0, 2, 1, 3))


class Block(nnx.Module):
    """One pre-LayerNorm transformer block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``."""

    def __init__(self, d_model: int, heads: int, mlp_ratio: int, *, attention_fn: Callable[..., jax.Array],
                 rngs: nnx.Rngs):
        self.ln1 = nnx.LayerNorm(d_model, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(num_heads=heads, in_features=d_model, decode=False, deterministic=True,
                                           keep_rngs=False, attention_fn=attention_fn, rngs=rngs)
        self.ln2 = nnx.LayerNorm(d_model, rngs=rngs)
        self.mlp_in = nnx.Linear(d_model, mlp_ratio * d_model, rngs=rngs)
        self.mlp_out = nnx.Linear(mlp_ratio * d_model, d_model, rngs=rngs)

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.mlp_out(jax.nn.relu(self.mlp_in(self.ln2(x))))


class TinyTransformer(nnx.Module):
    """A decoder-only transformer: ``tokens (B, T) int -> logits (B, T, vocab)`` (causal).

    Args:
      vocab: vocabulary size (token ids in ``[0, vocab)``).
      d_model: width of the residual stream (divisible by ``heads``).
      heads: attention heads per block.
      layers: blocks.
      max_len: longest sequence (learned position embeddings).
      mlp_ratio: hidden width of each block's MLP over ``d_model`` (default 4).
      attention_fn: ``nnx.MultiHeadAttention``'s ``attention_fn`` (default Flax's
        ``nnx.dot_product_attention``; :func:`lax_attention` writes the same math with plain
        ``lax.dot_general`` calls).
      rngs: initialisation.

    Raises:
      ValueError naming the argument for a size that is not a positive integer, or a
      ``d_model`` not divisible by ``heads``; at call, ValueError for a sequence longer than
      ``max_len``.

    >>> m = TinyTransformer(vocab=12, d_model=16, heads=2, layers=1, max_len=8, rngs=nnx.Rngs(0))
    >>> m(jnp.zeros((3, 5), jnp.int32)).shape
    (3, 5, 12)
    """

    def __init__(self, vocab: int, d_model: int, heads: int, layers: int, max_len: int, *, mlp_ratio: int = 4,
                 attention_fn: Callable[..., jax.Array] = nnx.dot_product_attention, rngs: nnx.Rngs):
        for name, v in (("vocab", vocab), ("d_model", d_model), ("heads", heads), ("layers", layers),
                        ("max_len", max_len), ("mlp_ratio", mlp_ratio)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"TinyTransformer.{name} must be a positive integer, got {v!r}")
        if d_model % heads:
            raise ValueError(f"TinyTransformer.d_model ({d_model}) must be divisible by heads ({heads})")
        self.vocab, self.d_model, self.heads, self.num_layers, self.max_len = vocab, d_model, heads, layers, max_len
        self.embed = nnx.Embed(vocab, d_model, rngs=rngs)
        self.pos = nnx.Embed(max_len, d_model, rngs=rngs)
        self.blocks = nnx.List([Block(d_model, heads, mlp_ratio, attention_fn=attention_fn, rngs=rngs) for _ in range(layers)])
        self.ln_f = nnx.LayerNorm(d_model, rngs=rngs)
        self.head = nnx.Linear(d_model, vocab, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        t = tokens.shape[-1]
        if t > self.max_len:
            raise ValueError(f"TinyTransformer: sequence of {t} tokens is longer than max_len {self.max_len}")
        x = self.embed(tokens) + self.pos(jnp.arange(t))
        mask = nnx.make_causal_mask(tokens)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln_f(x))


__all__ = ["Block", "TinyTransformer", "lax_attention"]
