"""A deterministic synthetic translation task for LSTM translators (Memory Slices Sec. 5).

The source language has 33 words in six classes; sentences come from a seeded grammar::

    S  -> NP VP [ADV]            NP -> DET ADJ{0,1,2} NOUN
    VP -> VT NP | VI

The target language translates word by word (a fixed one-to-one lexicon, target ids a fixed
permutation of the source ids) and reorders:

* adjectives follow their noun (``DET ADJ1 ADJ2 N`` -> ``DET' N' ADJ1' ADJ2'``);
* the verb moves to the end of the sentence (``SUBJ VT OBJ [ADV]`` -> ``SUBJ' OBJ' [ADV'] VT'``),

so the word to emit next is often not the source word at the same position and attention
matters. Both sentences have the same number of words. Token ids: ``PAD=0, BOS=1, EOS=2``,
words from 3. Arrays are padded to ``max_len + 1`` (the words and EOS); :func:`bucketize`
groups examples into buckets of smaller padded sizes (bucketing, Memory Slices Sec. 5).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import jax.numpy as jnp
import numpy as np

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<bos>", "<eos>")

WORD_CLASSES: dict[str, tuple[str, ...]] = {
    "det": ("the", "a", "this", "every"),
    "adj": ("big", "small", "red", "blue", "old", "young", "happy", "quiet"),
    "noun": ("cat", "dog", "bird", "man", "woman", "child", "car", "house", "tree", "book"),
    "vt": ("sees", "likes", "takes", "finds", "wants", "holds"),
    "vi": ("sleeps", "runs", "sings"),
    "adv": ("today", "often"),
}

SRC_WORDS: tuple[str, ...] = tuple(w for ws in WORD_CLASSES.values() for w in ws)
WORD_CLASS: dict[str, str] = {w: c for c, ws in WORD_CLASSES.items() for w in ws}


def _target_lexicon() -> tuple[dict[str, str], tuple[str, ...]]:
    """Fixed (seed-independent) lexicon: source word -> target word, and target words by id."""
    cons, vows = "bdfgklmnprstvz", "aeiou"
    rng = np.random.default_rng(20240531)
    names: list[str] = []
    while len(names) < len(SRC_WORDS):
        w = "".join(cons[rng.integers(len(cons))] + vows[rng.integers(len(vows))] for _ in range(2))
        if w not in names:
            names.append(w)
    perm = rng.permutation(len(SRC_WORDS))  # target id of source word i: 3 + perm[i]
    by_id = [""] * len(SRC_WORDS)
    lex = {}
    for i, w in enumerate(SRC_WORDS):
        lex[w] = names[i]
        by_id[perm[i]] = names[i]
    return lex, tuple(by_id)


LEXICON, _TGT_BY_ID = _target_lexicon()
TGT_WORDS: tuple[str, ...] = _TGT_BY_ID
SRC_VOCAB: tuple[str, ...] = SPECIALS + SRC_WORDS
TGT_VOCAB: tuple[str, ...] = SPECIALS + TGT_WORDS
_SRC_ID = {w: i for i, w in enumerate(SRC_VOCAB)}
_TGT_ID = {w: i for i, w in enumerate(TGT_VOCAB)}


def translate(words: Sequence[str]) -> list[str]:
    """The rule-based translation of a source sentence (a list of words) into target words."""
    words = list(words)

    def cls(i: int) -> str | None:
        return WORD_CLASS.get(words[i]) if i < len(words) else None

    out_src: list[str] = []  # reordered source words, then mapped through the lexicon
    i = 0

    def noun_phrase(i: int) -> tuple[list[str], int]:
        if cls(i) != "det":
            raise ValueError(f"expected a determiner at position {i} of {words}")
        det = words[i]
        i += 1
        adjs = []
        while cls(i) == "adj":
            adjs.append(words[i])
            i += 1
        if cls(i) != "noun":
            raise ValueError(f"expected a noun at position {i} of {words}")
        return [det, words[i]] + adjs, i + 1

    np_words, i = noun_phrase(i)
    out_src += np_words
    if cls(i) not in ("vt", "vi"):
        raise ValueError(f"expected a verb at position {i} of {words}")
    verb = words[i]
    i += 1
    if WORD_CLASS[verb] == "vt":
        np_words, i = noun_phrase(i)
        out_src += np_words
    if i < len(words):
        if cls(i) != "adv" or i + 1 != len(words):
            raise ValueError(f"unexpected words after the verb phrase in {words}")
        out_src.append(words[i])
    out_src.append(verb)
    return [LEXICON[w] for w in out_src]


def sample_sentence(rng: np.random.Generator) -> list[str]:
    """One source sentence from the grammar (any length 3-10)."""

    def noun_phrase() -> list[str]:
        n_adj = int(rng.choice(3, p=[0.5, 0.3, 0.2]))
        adjs = list(rng.choice(WORD_CLASSES["adj"], size=n_adj, replace=False))
        return [str(rng.choice(WORD_CLASSES["det"]))] + adjs + [str(rng.choice(WORD_CLASSES["noun"]))]

    words = noun_phrase()
    if rng.random() < 0.6:
        words += [str(rng.choice(WORD_CLASSES["vt"]))] + noun_phrase()
    else:
        words += [str(rng.choice(WORD_CLASSES["vi"]))]
    if rng.random() < 0.3:
        words.append(str(rng.choice(WORD_CLASSES["adv"])))
    return [str(w) for w in words]


class TranslationSplit(NamedTuple):
    """Padded integer arrays of one split (N examples, width L)."""

    src: np.ndarray  # (N, L) int32: words, EOS, PAD...
    src_mask: np.ndarray  # (N, L) bool: src != PAD
    tgt_in: np.ndarray  # (N, L) int32: BOS, words', PAD...
    tgt_out: np.ndarray  # (N, L) int32: words', EOS, PAD...
    tgt_mask: np.ndarray  # (N, L) bool: tgt_out != PAD


@dataclasses.dataclass(frozen=True)
class TranslationData:
    """Train and test splits plus the vocabularies (``src_vocab[i]`` is the word of id ``i``)."""

    train: TranslationSplit
    test: TranslationSplit
    max_len: int
    src_vocab: tuple[str, ...] = SRC_VOCAB
    tgt_vocab: tuple[str, ...] = TGT_VOCAB

    @property
    def src_vocab_size(self) -> int:
        return len(self.src_vocab)

    @property
    def tgt_vocab_size(self) -> int:
        return len(self.tgt_vocab)


def encode_pair(words: Sequence[str], width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(src, tgt_in, tgt_out)`` int32 rows of width ``width`` for one source sentence."""
    tgt = translate(words)
    n = len(words)
    if n + 1 > width:
        raise ValueError(f"sentence of {n} words does not fit width {width}")
    src = np.full(width, PAD, np.int32)
    tin = np.full(width, PAD, np.int32)
    tout = np.full(width, PAD, np.int32)
    src[:n] = [_SRC_ID[w] for w in words]
    src[n] = EOS
    tin[0] = BOS
    tin[1:n + 1] = [_TGT_ID[w] for w in tgt]
    tout[:n] = tin[1:n + 1]
    tout[n] = EOS
    return src, tin, tout


def _split(sentences: list[tuple[str, ...]], width: int) -> TranslationSplit:
    rows = [encode_pair(s, width) for s in sentences]
    src = np.stack([r[0] for r in rows]) if rows else np.zeros((0, width), np.int32)
    tin = np.stack([r[1] for r in rows]) if rows else np.zeros((0, width), np.int32)
    tout = np.stack([r[2] for r in rows]) if rows else np.zeros((0, width), np.int32)
    return TranslationSplit(src, src != PAD, tin, tout, tout != PAD)


def make_translation_dataset(n_train: int, n_test: int, seed: int = 0, max_len: int = 10) -> TranslationData:
    """Distinct seeded sentences (the test sentences never occur in training), padded.

    Args:
      n_train, n_test: number of examples.
      seed: the sampling seed (the languages themselves are fixed).
      max_len: most words in a sentence (at least 3; the grammar's longest has 10); arrays have
        width ``max_len + 1``.

    Returns:
      :class:`TranslationData`; the same arguments give the same arrays.
    """
    if max_len < 3:
        raise ValueError(f"max_len must be at least 3 (the shortest sentence), got {max_len}")
    if n_train < 0 or n_test < 0:
        raise ValueError("n_train and n_test must be non-negative")
    rng = np.random.default_rng(seed)
    want = n_train + n_test
    seen: set[tuple[str, ...]] = set()
    sentences: list[tuple[str, ...]] = []
    tries = 0
    while len(sentences) < want:
        tries += 1
        if tries > 100 * want + 10000:
            raise ValueError(f"could not draw {want} distinct sentences of at most {max_len} words")
        s = tuple(sample_sentence(rng))
        if len(s) > max_len or s in seen:
            continue
        seen.add(s)
        sentences.append(s)
    width = max_len + 1
    return TranslationData(train=_split(sentences[:n_train], width), test=_split(sentences[n_train:], width),
                           max_len=max_len)


def bucketize(split: TranslationSplit, sizes: Sequence[tuple[int, int]]
              ) -> list[tuple[tuple[int, int], TranslationSplit]]:
    """Bucketing (Memory Slices Sec. 5): each example goes to the smallest bucket ``(S, T)``
    holding its source (with EOS) and target (with BOS/EOS) and is cropped to that padded size.

    Returns ``[((S, T), split), ...]`` for the non-empty buckets, in the order of ``sizes``
    (sorted by size); examples that fit no bucket raise.
    """
    sizes = sorted((int(s), int(t)) for s, t in sizes)
    src_len = split.src_mask.sum(axis=1)
    tgt_len = split.tgt_mask.sum(axis=1)
    which = np.full(len(src_len), -1)
    for bi in range(len(sizes) - 1, -1, -1):
        s, t = sizes[bi]
        which[(src_len <= s) & (tgt_len <= t)] = bi
    if (which < 0).any():
        raise ValueError(f"{int((which < 0).sum())} examples fit none of the buckets {sizes}")
    out = []
    for bi, (s, t) in enumerate(sizes):
        idx = np.nonzero(which == bi)[0]
        if len(idx) == 0:
            continue

        def crop(a, w):
            a = a[idx]
            if a.shape[1] >= w:
                return a[:, :w]
            return np.pad(a, ((0, 0), (0, w - a.shape[1])))

        out.append(((s, t), TranslationSplit(crop(split.src, s), crop(split.src_mask, s), crop(split.tgt_in, t),
                                             crop(split.tgt_out, t), crop(split.tgt_mask, t))))
    return out


def decode(ids: Sequence[int], vocab: Sequence[str] = TGT_VOCAB, *, stop_at_eos: bool = True) -> list[str]:
    """Words of a row of ids (PAD and BOS dropped; stops at EOS)."""
    out = []
    for i in np.asarray(ids).tolist():
        if i == EOS and stop_at_eos:
            break
        if i in (PAD, BOS):
            continue
        out.append(vocab[i])
    return out


def _predictions(logits_or_ids, tgt_out: jnp.ndarray) -> jnp.ndarray:
    """Predicted ids (argmax of logits, or the ids) cut or padded (with -1, never a token) to ``tgt_out``'s length."""
    pred = jnp.asarray(logits_or_ids)
    if pred.ndim == tgt_out.ndim + 1:
        pred = jnp.argmax(pred, axis=-1)
    t = tgt_out.shape[-1]
    if pred.shape[-1] < t:
        pred = jnp.pad(pred, ((0, 0), (0, t - pred.shape[-1])), constant_values=-1)
    return pred[..., :t]


def token_accuracy(logits_or_ids, tgt_out, mask) -> jnp.ndarray:
    """Fraction of unmasked target tokens predicted exactly.

    Args:
      logits_or_ids: (N, T, V) logits (argmax taken) or (N, T') predicted ids (e.g. greedy
        output; cropped or padded to T, a missing position counts as wrong).
      tgt_out: (N, T) reference ids.
      mask: (N, T) which positions count (e.g. ``tgt_mask``, which includes EOS).

    Returns:
      float32 scalar.
    """
    tgt_out = jnp.asarray(tgt_out)
    pred = _predictions(logits_or_ids, tgt_out)
    m = jnp.asarray(mask).astype(jnp.float32)
    return jnp.sum((pred == tgt_out) * m) / jnp.maximum(jnp.sum(m), 1.0)


def sequence_accuracy(ids, tgt_out, mask) -> jnp.ndarray:
    """Fraction of sentences whose every unmasked token is right (ids: (N, T') or logits)."""
    tgt_out = jnp.asarray(tgt_out)
    ok = (_predictions(ids, tgt_out) == tgt_out) | ~jnp.asarray(mask, bool)
    return jnp.mean(jnp.all(ok, axis=-1).astype(jnp.float32))


__all__ = [
    "BOS", "EOS", "PAD", "SRC_VOCAB", "SRC_WORDS", "TGT_VOCAB", "TGT_WORDS", "LEXICON", "WORD_CLASSES", "WORD_CLASS",
    "TranslationData", "TranslationSplit", "bucketize", "decode", "encode_pair", "make_translation_dataset",
    "sample_sentence", "sequence_accuracy", "token_accuracy", "translate",
]
