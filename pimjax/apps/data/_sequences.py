"""A deterministic synthetic sequence task for decoder-only transformers (nothing downloaded).

A sequence is ``length`` random digits, a separator, and the answer: the digits sorted
ascending (``kind="sort"``, the default) or reversed (``kind="reverse"``)::

    3 1 4 1 5 9 2 6 | 1 1 2 3 4 5 6 9          (sort, length 8)
    3 1 4 1 5 9 2 6 | 6 2 9 5 1 4 1 3          (reverse)

Token ids: digits ``0..9`` are ``0..9``, the separator is :data:`SEP` ``= 10``
(:data:`SEQ_VOCAB` ``= 11`` tokens). A model reads ``seq[:-1]`` and predicts ``seq[1:]``; only
the answer's predictions count (:func:`split_sequences`'s mask). Train and test sets are drawn
from one seeded generator and are disjoint (a test sequence never occurs in training); batch
``i`` of epoch ``e`` is rows ``epoch_permutation(n, seed, e)[i * B:(i + 1) * B]`` of the
training set (:func:`sequence_batch`), a pure function of ``(seed, e, i)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pimjax.apps.data._datasets import epoch_permutation

SEP = 10
"""The separator token between the digits and the answer."""
SEQ_VOCAB = 11
"""Tokens of the sequence task: the ten digits and :data:`SEP`."""
SEQUENCE_KINDS = ("sort", "reverse")


def answer(digits: np.ndarray, kind: str = "sort") -> np.ndarray:
    """The answer to digit rows ``(N, L)``: reversed or sorted along the last axis.

    >>> answer(np.array([[3, 1, 2]]), "reverse"), answer(np.array([[3, 1, 2]]))
    (array([[2, 1, 3]]), array([[1, 2, 3]]))
    """
    if kind not in SEQUENCE_KINDS:
        raise ValueError(f"kind must be one of {SEQUENCE_KINDS}, got {kind!r}")
    digits = np.asarray(digits)
    return digits[..., ::-1].copy() if kind == "reverse" else np.sort(digits, axis=-1)


@dataclasses.dataclass(frozen=True)
class SequenceData:
    """Train and test sequences ``(N, 2 * length + 1)`` int32: digits, :data:`SEP`, answer."""

    kind: str
    length: int
    train: np.ndarray
    test: np.ndarray

    @property
    def vocab_size(self) -> int:
        return SEQ_VOCAB

    @property
    def max_len(self) -> int:
        """Tokens a model reads (``seq[:-1]``): ``2 * length``."""
        return 2 * self.length


def make_sequence_dataset(*, kind: str = "sort", length: int = 8, n_train: int = 8000, n_test: int = 1000,
                          seed: int = 0) -> SequenceData:
    """``n_train`` training and ``n_test`` test sequences of ``length`` digits, a function of
    ``(kind, length, n_train, n_test, seed)`` only; the sets are disjoint and each holds
    distinct sequences.

    Raises:
      ValueError naming the argument: an unknown ``kind``, ``length`` outside 1..64, sizes below 1
      or more sequences than ``10 ** length`` digit strings allow.

    >>> d = make_sequence_dataset(kind="reverse", length=3, n_train=4, n_test=2, seed=1)
    >>> d.train.shape, bool((d.train[:, 3] == SEP).all()), bool((d.train[:, 4:] == d.train[:, 2::-1]).all())
    ((4, 7), True, True)
    """
    if kind not in SEQUENCE_KINDS:
        raise ValueError(f"kind must be one of {SEQUENCE_KINDS}, got {kind!r}")
    for name, v, lo in (("length", length, 1), ("n_train", n_train, 1), ("n_test", n_test, 1), ("seed", seed, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if length > 64:
        raise ValueError(f"length must be at most 64, got {length}")
    if n_train + n_test > 10 ** length // 2:
        raise ValueError(f"n_train + n_test ({n_train + n_test}) must be at most half of the {10 ** length} "
                         f"sequences of length {length}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, length, 0x5E9]))
    seen: set[bytes] = set()
    rows: list[np.ndarray] = []
    need = n_train + n_test
    while len(rows) < need:
        for r in rng.integers(0, 10, size=(2 * (need - len(rows)), length), dtype=np.int32):
            key = r.tobytes()
            if key not in seen:
                seen.add(key)
                rows.append(r)
                if len(rows) == need:
                    break
    digits = np.stack(rows)
    seqs = np.concatenate([digits, np.full((need, 1), SEP, np.int32), answer(digits, kind)], axis=1).astype(np.int32)
    return SequenceData(kind, length, seqs[:n_train], seqs[n_train:])


def split_sequences(seqs: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(inputs, targets, mask)`` of sequences ``(N, 2 * length + 1)``: ``inputs = seq[:, :-1]``,
    ``targets = seq[:, 1:]`` and ``mask`` (float32, ``(N, 2 * length)``) 1 where the target is
    an answer token (the last ``length`` positions).

    >>> i, t, m = split_sequences(np.array([[1, 2, SEP, 2, 1]]), 2)
    >>> i.tolist(), t.tolist(), m.tolist()
    ([[1, 2, 10, 2]], [[2, 10, 2, 1]], [[0.0, 0.0, 1.0, 1.0]])
    """
    seqs = np.asarray(seqs)
    mask = np.zeros(seqs[:, 1:].shape, np.float32)
    mask[:, length:] = 1.0
    return seqs[:, :-1], seqs[:, 1:], mask


def sequence_batch(data: SequenceData, batch_size: int, *, seed: int, epoch: int,
                   index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training batch ``index`` of epoch ``epoch``: :func:`split_sequences` of rows
    ``epoch_permutation(n_train, seed, epoch)[index * batch_size:(index + 1) * batch_size]``."""
    idx = epoch_permutation(len(data.train), seed=seed, epoch=epoch)[index * batch_size:(index + 1) * batch_size]
    return split_sequences(data.train[idx], data.length)


__all__ = ["SEP", "SEQUENCE_KINDS", "SEQ_VOCAB", "SequenceData", "answer", "make_sequence_dataset",
           "sequence_batch", "split_sequences"]
