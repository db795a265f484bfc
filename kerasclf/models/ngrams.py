"""Word n-grams as table rows: hashed (NgramHash; NgramEmbedding, a vector per pair and triple added to the
token vectors of the transformers and the bag of n-grams; NBSVM reads its n-grams through NgramHash too) or
counted (NgramVocab: the most frequent pairs and triples of the training texts, a row each, with
`count_ngrams`). The one-hot CNN's windows read their pair or triple rows either way (layers.OneHotConv).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasclf.config import NGRAM_MAX_VOCAB


@keras.saving.register_keras_serializable(package="kerasclf")
class NgramEmbedding(keras.layers.Layer):
    """Token ids (batch, length) -> (batch, length, dim): a vector for each word together with the word
    before it (and with `order=3`, another for the two words before it), all hashed into one table of
    `buckets` rows, as fastText's word n-grams are (Joulin et al. 2017; hashing as Weinberger et al.
    2009). Added to the token vectors, it lets a small model read phrases ("not good", "not at all")
    from its first layer, as N-Grammer (Roy et al. 2022) adds n-gram vectors to a transformer's.
    Zero where an n-gram would reach before the first word or into padding, so right-padding changes
    nothing.

    The pair id `previous * vocab_size + word` is exact in int32 up to NGRAM_MAX_VOCAB words; it is taken
    modulo the largest prime at most `buckets`, which spreads pairs of frequent (low-id) words apart. A
    triple hashes as (its first pair's row) * multiplier + third word, modulo the same prime, with the
    multiplier (the vocabulary size, or less for large tables) chosen so that this too stays in int32.
    Where `head_tail` truncation joins a text's head to its tail, the n-grams across the cut are ones
    that the text does not hold (one or two in a long text).
    """

    def __init__(self, vocab_size: int, buckets: int, output_dim: int, order: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.hash = NgramHash(vocab_size, buckets, order)
        self.vocab_size, self.buckets, self.order = self.hash.vocab_size, self.hash.buckets, self.hash.order
        self.prime, self.multiplier, self.output_dim = self.hash.prime, self.hash.multiplier, int(output_dim)

    def build(self, input_shape):
        self.table = self.add_weight(shape=(self.prime, self.output_dim), initializer="uniform", name="table")

    def call(self, ids):
        out = None
        for index, real in self.hash.rows(ids):
            rows = ops.take(self.table, index, axis=0)
            rows = rows * ops.expand_dims(ops.cast(real, rows.dtype), -1)
            out = rows if out is None else out + rows
        return out

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "buckets": self.buckets,
            "output_dim": self.output_dim,
            "order": self.order,
        }


class NgramHash:
    """Word pairs (and triples) hashed to table rows, as NgramEmbedding's docstring says; NBSVMScores
    (models/nbsvm.py) reads the n-grams the same way."""

    def __init__(self, vocab_size: int, buckets: int, order: int = 2):
        if order not in (2, 3):
            raise ValueError(f"ngram order: expected 2 (word pairs) or 3 (pairs and triples), got {order}")
        if vocab_size > NGRAM_MAX_VOCAB:
            raise ValueError(f"word n-grams are hashed in int32: at most {NGRAM_MAX_VOCAB} words, got {vocab_size}")
        if not 2 <= buckets <= 2**31 - 1 - vocab_size:
            raise ValueError(
                f"ngram buckets: expected 2..{2**31 - 1 - vocab_size} (rows hashed in int32), got {buckets}"
            )
        self.vocab_size, self.buckets, self.order = int(vocab_size), int(buckets), int(order)
        self.prime = _largest_prime_at_most(self.buckets)
        # a triple hashes as (hash of its first pair) * multiplier + third word, exact in int32
        self.multiplier = min(self.vocab_size, (2**31 - 1 - self.vocab_size) // self.prime)

    def rows(self, ids) -> list:
        """[(row, real)], each (batch, length): the row of the word pair ending at each position and whether
        that pair is in the text (before the first word or in padding it is not); with order 3, then the same
        for the triples."""
        ids = ops.cast(ids, "int32")
        previous = ops.pad(ids, [(0, 0), (1, 0)])[:, :-1]
        real = ops.logical_and(previous > 0, ids > 0)
        index = ops.mod(previous * self.vocab_size + ids, self.prime)
        out = [(index, real)]
        if self.order == 3:
            pair_before = ops.pad(index, [(0, 0), (1, 0)])[:, :-1]
            real3 = ops.logical_and(real, ops.pad(ids, [(0, 0), (2, 0)])[:, :-2] > 0)
            out.append((ops.mod(pair_before * self.multiplier + ids, self.prime), real3))
        return out


class NgramVocab:
    """Word pairs (and triples) to table rows by a counted vocabulary, as scikit-learn's CountVectorizer
    with max_features keeps n-grams: the `size` most frequent pairs of the training texts each have a row
    of their own, as do the `size` most frequent triples; any other n-gram has none (as one in padding).
    Hashing (NgramHash) shares each row among every n-gram that falls in it (IMDB's 22,500 training
    reviews hold 830,000 distinct pairs for 65,521 rows, and 1.6 million triples that start with one of the
    65,521 most frequent pairs, more in all); counted rows go
    to the n-grams seen often enough to learn from (there: 10 and 8 times or more) and to nothing else.

    A pair (a, b) is keyed a * vocab_size + b; a triple (a, b, c) by its first pair's row, (row of (a, b))
    * vocab_size + c, so a triple whose first pair has no row has none either (a triple is never more
    frequent than its first pair). Both stay in int32, under EMPTY, for vocab_size <= NGRAM_MAX_VOCAB and
    size * vocab_size < 2**31. The keys, sorted, are the layer's weights (`pair_keys`, `triple_keys`: saved
    with the model, set from the training ids by `count_ngrams`); a row is a key's place among them.
    """

    EMPTY = 2**31 - 1  # an unused key slot: above any key, so the keys stay sorted

    def __init__(self, vocab_size: int, size: int, order: int = 2):
        if vocab_size > NGRAM_MAX_VOCAB:
            raise ValueError(
                f"counted word n-grams are keyed in int32: at most {NGRAM_MAX_VOCAB} words, got {vocab_size}"
            )
        most = (2**31 - 1) // max(vocab_size, 1)  # the largest triple key, size * vocab_size - 1, under EMPTY
        if not 1 <= size <= most:
            raise ValueError(f"ngram vocabulary: expected 1..{most} n-grams, got {size}")
        self.vocab_size, self.size, self.order = int(vocab_size), int(size), int(order)

    def rows(self, ids, pair_keys, triple_keys=None) -> list:
        """[(row, real)], each (batch, length), as NgramHash.rows gives them: the row of the word pair ending
        at each position and whether it has one (its words are real and it is in the vocabulary); with
        order 3, then the same for the triples."""
        ids = ops.cast(ids, "int32")
        previous = ops.pad(ids, [(0, 0), (1, 0)])[:, :-1]
        index, found = _find(pair_keys, previous * self.vocab_size + ids)
        real = ops.logical_and(found, ops.logical_and(previous > 0, ids > 0))
        out = [(index, real)]
        if self.order == 3:
            first = ops.pad(ops.where(real, index, -1), [(0, 0), (1, 0)], constant_values=-1)[:, :-1]
            index3, found3 = _find(triple_keys, first * self.vocab_size + ids)
            out.append((index3, ops.logical_and(found3, ops.logical_and(first >= 0, ids > 0))))
        return out


def _find(keys, values):
    """Each value's place among the sorted `keys` (clipped to the last), and whether it is there."""
    shape = ops.shape(values)
    flat = ops.reshape(values, (-1,))  # tensorflow's searchsorted wants values as 1-D as the keys
    at = ops.minimum(ops.cast(ops.searchsorted(keys, flat), "int32"), ops.shape(keys)[0] - 1)
    found = ops.equal(ops.take(keys, at, axis=0), flat)
    return ops.reshape(at, shape), ops.reshape(found, shape)


def count_ngrams(ids: np.ndarray, vocab_size: int, size: int, order: int = 2) -> list[np.ndarray]:
    """NgramVocab's keys from token ids (rows, length; 0 is padding): the `size` most frequent word pairs'
    keys, sorted, and with order 3 the `size` most frequent triples' (each counted once per place it
    occurs; ties go to the lower key); unused slots EMPTY, as int32 arrays of `size`."""
    vocab = NgramVocab(vocab_size, size, order)
    ids = np.asarray(ids, dtype=np.int64)
    previous = np.pad(ids, [(0, 0), (1, 0)])[:, :-1]
    key = previous * vocab_size + ids
    real = (previous > 0) & (ids > 0)
    pairs = _most_frequent(key[real], vocab.size)
    out = [pairs]
    if order == 3:
        at = np.minimum(np.searchsorted(pairs, key), vocab.size - 1)
        row = np.where(real & (pairs[at] == key), at, -1)
        first = np.pad(row, [(0, 0), (1, 0)], constant_values=-1)[:, :-1]
        out.append(_most_frequent((first * vocab_size + ids)[(first >= 0) & (ids > 0)], vocab.size))
    return out


def _most_frequent(keys: np.ndarray, size: int) -> np.ndarray:
    unique, counts = np.unique(keys, return_counts=True)
    kept = np.sort(unique[np.argsort(-counts, kind="stable")[:size]])
    return np.concatenate([kept, np.full(size - len(kept), NgramVocab.EMPTY)]).astype(np.int32)


def _largest_prime_at_most(n: int) -> int:
    for p in range(max(int(n), 2), 1, -1):
        if all(p % d for d in range(2, int(p**0.5) + 1)):
            return p
    return 2
