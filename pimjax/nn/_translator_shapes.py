"""The translator's matmuls from shapes only, for costing (Memory Slices Sec. 5-6).

:func:`layer_shapes` lists each layer's forward matmul (:class:`GemmShape`; the attention
products, per sentence, marked ``reuse=False``) and :func:`gemm_shapes` every emulated GEMM call
in call order, both analytic; :func:`abstract_translator` builds a :class:`~pimjax.nn.Translator`
without allocating its parameters. Exported as :func:`pimjax.nn.translator_layer_shapes` and
:func:`pimjax.nn.translator_gemm_shapes`.
"""

from __future__ import annotations

from typing import NamedTuple

from flax import nnx

from pimjax.nn._emulated import TrainingHardware
from pimjax.nn._lstm import LUTs
from pimjax.nn._translator import Translator
from pimjax.nn._translator_config import TranslatorConfig


#: The translator's activation x activation products (attention): their preloaded operand is a
#: sentence's encoder states, a new operand on every call (no weight reuse across calls).
ATTENTION_PRODUCTS: tuple[str, ...] = ("attn_scores", "attn_context")


class GemmShape(NamedTuple):
    """One layer's forward matmul ``(m x k) @ (k x n)``, executed ``calls`` times per batch.

    ``reuse`` is False for the activation x activation products of attention
    (:data:`ATTENTION_PRODUCTS`), whose preloaded operand changes from call to call.
    """

    name: str
    m: int
    k: int
    n: int
    calls: int = 1
    reuse: bool = True

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
    ``reuse=False``). The backward phases of an emulated entry are BP ``(m x n) @ (n x k)``
    and UP ``(k x m) @ (m x n)``. Names are the layers' ``name`` (and thus their sown costs).

    Args:
      model: a :class:`Translator` or its :class:`TranslatorConfig` (e.g. :func:`~pimjax.nn.gnmt_config`).
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
    out.append(GemmShape("attn_scores", 1, e, s, b * t, reuse=False))
    out.append(GemmShape("attn_context", 1, s, e, b * t, reuse=False))
    out.append(GemmShape("attn_wc", b, e + h, h, t))
    out.append(GemmShape("out_proj", b * t, h, cfg.tgt_vocab, 1))
    return out


def gemm_shapes(model: "Translator | TranslatorConfig", batch: int, src_len: int, tgt_len: int
                ) -> list[tuple[str, int, int, int]]:
    """The emulated forward GEMMs ``(layer_name, M, K, N)`` of one teacher-forced batch, one per
    call, in call order, from shapes only (analytic; nothing runs).

    The same convention as :func:`pimjax.nn.gemm_shapes` for CNNs: the encoder runs layer by
    layer (``enc0`` for each of the ``src_len`` steps, then ``enc0_bw`` if bidirectional, then
    ``enc1``...), the decoder step by step (``dec0``..., ``attn_wa``, then ``batch`` calls each
    of ``attn_scores`` and ``attn_context``, one per sentence, then ``attn_wc``, for each of the
    ``tgt_len`` steps), then ``out_proj`` once with ``M = batch * tgt_len``. BP and UP run
    ``(M x N) @ (N x K)`` and ``(K x M) @ (M x N)``. Per-layer totals: :func:`layer_shapes`. ``gemm_shapes(gnmt_config(), ...)`` costs GNMT without
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
    step = ([f"dec{i}" for i in range(cfg.dec_layers)] + ["attn_wa"] + ["attn_scores"] * b
            + ["attn_context"] * b + ["attn_wc"])
    for _ in range(t):
        out += [(n, shapes[n].m, shapes[n].k, shapes[n].n) for n in step]
    g = shapes["out_proj"]
    out.append(("out_proj", g.m, g.k, g.n))
    return out
