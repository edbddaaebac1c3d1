"""Sizes of the translator (Memory Slices Sec. 5) and the full-size GNMT preset (Wu et al. 2016).

:class:`TranslatorConfig` fixes vocabularies, embedding and LSTM sizes, layers, bidirectional
first layer, residual connections, input feeding, truncated BPTT and the special tokens;
:func:`gnmt_config` is the GNMT-like network Memory Slices Sec. 6 costs. The model:
:mod:`pimjax.nn._translator`; its GEMM shapes: :mod:`pimjax.nn._translator_shapes`.
"""

from __future__ import annotations

import dataclasses

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2


@dataclasses.dataclass(frozen=True, kw_only=True)
class TranslatorConfig:
    """Sizes of a :class:`~pimjax.nn.Translator`.

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
    a 32K wordpiece vocabulary. Meant for costing by shapes (:func:`~pimjax.nn.translator_gemm_shapes`);
    its 253M float32 parameters take about 1 GB (:func:`~pimjax.nn.abstract_translator` builds it
    without allocating).
    """
    return TranslatorConfig(src_vocab=vocab, tgt_vocab=vocab, embed_dim=1024, hidden=1024, enc_layers=8,
                            dec_layers=8, bidirectional=True, residual_from=2, input_feeding=True)
