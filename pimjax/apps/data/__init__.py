"""Data sets for training and sweeps; nothing is downloaded.

* Images (:func:`load_digits_dataset`, :func:`load_npz_dataset`, :func:`batches`): scikit-learn's
  bundled digits, or a user's own ``.npz``; batch order a pure function of ``(seed, epoch)``.
* The deterministic synthetic translation task of the LSTM translator
  (:func:`make_translation_dataset`, its vocabularies, :func:`token_accuracy`).
* The deterministic synthetic sequence task (digits reversed or sorted after a separator) of
  the decoder-only transformer (:func:`make_sequence_dataset`, :func:`sequence_batch`).
"""

from pimjax.apps.data._datasets import (NPZ_KEYS, ArrayDataset, batches, check_finite, check_square_nhwc,
                                        epoch_permutation, load_digits_dataset, load_npz_dataset, looks_channels_first,
                                        num_batches)
from pimjax.apps.data._synthetic_translation import (BOS, EOS, LEXICON, PAD, SRC_VOCAB, SRC_WORDS, TGT_VOCAB, TGT_WORDS,
                                                     WORD_CLASS, WORD_CLASSES, TranslationData, TranslationSplit,
                                                     bucketize, decode, encode_pair, make_translation_dataset,
                                                     sample_sentence, sequence_accuracy, token_accuracy, translate)
from pimjax.apps.data._sequences import (SEP, SEQ_VOCAB, SEQUENCE_KINDS, SequenceData, answer, make_sequence_dataset,
                                        sequence_batch, split_sequences)

__all__ = ["BOS", "EOS", "LEXICON", "NPZ_KEYS", "PAD", "SRC_VOCAB", "SRC_WORDS", "TGT_VOCAB", "TGT_WORDS", "WORD_CLASS",
           "WORD_CLASSES", "ArrayDataset", "TranslationData", "TranslationSplit", "batches", "bucketize",
           "check_finite", "check_square_nhwc", "decode", "encode_pair", "epoch_permutation", "load_digits_dataset",
           "load_npz_dataset", "looks_channels_first", "make_translation_dataset", "num_batches", "sample_sentence",
           "sequence_accuracy", "token_accuracy", "translate",
           "SEP", "SEQ_VOCAB", "SEQUENCE_KINDS", "SequenceData", "answer", "make_sequence_dataset", "sequence_batch",
           "split_sequences"]
