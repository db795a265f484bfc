"""Small layers every encoder shares: padding masks, masking of embeddings, masked pooling.

Padding is token id 0. Encoders zero the embeddings of padding and pool over real tokens only,
so a batch cut to its longest review gives the same outputs as one padded to max_length.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasclf import backend_fast
from kerasclf.models.ngrams import NgramHash, NgramVocab, count_ngrams


@keras.saving.register_keras_serializable(package="kerasclf")
class PaddingMask(keras.layers.Layer):
    """Token ids (batch, length) -> float mask, 1.0 at real tokens and 0.0 at padding."""

    def call(self, ids):
        return ops.cast(ops.not_equal(ids, 0), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="kerasclf")
class ApplyMask(keras.layers.Layer):
    """(x, mask) -> x with the vectors at padding positions set to zero."""

    def call(self, x, padding_mask):
        return x * ops.expand_dims(ops.cast(padding_mask, x.dtype), -1)

    def compute_output_shape(self, x_shape, padding_mask_shape):
        return x_shape


@keras.saving.register_keras_serializable(package="kerasclf")
class MaskedPool(keras.layers.Layer):
    """(x (batch, length, dim), mask (batch, length)) -> (batch, dim): max, mean, max_mean or sum over real
    tokens.

    A row with no real token pools to zeros. With `zeroed_nonnegative=True` the caller promises that
    x is >= 0 everywhere and 0 at padding (ReLU features after ApplyMask): then a plain max and sum
    give the masked results, with less work.
    """

    def __init__(self, mode: str = "max", zeroed_nonnegative: bool = False, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "mean", "max_mean", "sum"):
            raise ValueError(f"MaskedPool mode must be max, mean, max_mean or sum, got {mode!r}")
        self.mode = mode
        self.zeroed_nonnegative = zeroed_nonnegative
        self.supports_masking = True  # it takes the padding mask explicitly; a Keras mask ends here

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, x, padding_mask):
        m = ops.expand_dims(ops.cast(padding_mask, x.dtype), -1)
        count = ops.sum(m, axis=1)
        parts = []
        if self.mode in ("max", "max_mean"):
            if self.zeroed_nonnegative:
                parts.append(ops.max(x, axis=1))
            else:
                very_negative = ops.cast(-1e9 if x.dtype != "float16" else -6e4, x.dtype)
                parts.append(ops.max(ops.where(m > 0, x, very_negative), axis=1) * ops.cast(count > 0, x.dtype))
        if self.mode in ("mean", "max_mean", "sum"):
            total = ops.sum(x if self.zeroed_nonnegative else x * m, axis=1)
            parts.append(total if self.mode == "sum" else total / ops.maximum(count, 1.0))
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, x_shape, padding_mask_shape):
        dim = x_shape[-1] * (2 if self.mode == "max_mean" else 1) if x_shape[-1] else None
        return (x_shape[0], dim)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "zeroed_nonnegative": self.zeroed_nonnegative}


@keras.saving.register_keras_serializable(package="kerasclf")
class ReluPool(keras.layers.Layer):
    """(x (batch, length, dim), mask (batch, length)) -> (batch, dim), or (batch, 2 * dim) for max_mean:
    relu(x + bias), zeroed at padding, then max, mean or max_mean over the real tokens (a row with no
    real token pools to zeros). The rest of a convolution whose sum was computed without a bias (the CNN
    encoder's), in one layer so that torch runs it as one autograd function (backend_fast.torch_relu_pool:
    the same values, 2.4-3.0x faster forward and backward, bench/seq_cnn_step.py); other backends take
    keras.ops.
    """

    def __init__(self, mode: str = "max", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "mean", "max_mean"):
            raise ValueError(f"ReluPool mode must be max, mean or max_mean, got {mode!r}")
        self.mode = mode
        self.supports_masking = True  # it takes the padding mask explicitly; a Keras mask ends here

    def build(self, x_shape, padding_mask_shape=None):
        self.bias = self.add_weight(shape=(x_shape[-1],), initializer="zeros", name="bias")

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, x, padding_mask):
        if keras.backend.backend() == "torch":
            return backend_fast.torch_relu_pool(x, ops.convert_to_tensor(self.bias), padding_mask, self.mode)
        return relu_pool(x, self.bias, padding_mask, self.mode)

    def compute_output_shape(self, x_shape, padding_mask_shape=None):
        dim = x_shape[-1] * (2 if self.mode == "max_mean" else 1) if x_shape[-1] else None
        return (x_shape[0], dim)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def relu_pool(x, bias, padding_mask, mode: str):
    """ReluPool's computation in keras.ops (every backend; torch's autograd records it op by op)."""
    m = ops.expand_dims(ops.cast(padding_mask, x.dtype), -1)
    h = ops.relu(x + ops.cast(bias, x.dtype)) * m
    parts = []
    if mode in ("max", "max_mean"):
        parts.append(ops.max(h, axis=1))  # h >= 0 and 0 at padding: a plain max is the masked one
    if mode in ("mean", "max_mean"):
        parts.append(ops.sum(h, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0))
    return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)


@keras.saving.register_keras_serializable(package="kerasclf")
class BoolMask(keras.layers.Layer):
    """Float padding mask -> boolean mask, the form Keras RNN layers take."""

    def call(self, padding_mask):
        return ops.greater(padding_mask, 0.5)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, padding_mask):
        return keras.KerasTensor(padding_mask.shape, dtype="bool")


@keras.saving.register_keras_serializable(package="kerasclf")
class OneHotConv(keras.layers.Layer):
    """'same'-padded Conv1Ds over one-hot word vectors (Johnson & Zhang 2015), without their bias.

    Token ids (batch, length) -> (batch, length, len(kernel_sizes) * filters): for each width k,
    out[t] = sum_j W_k[j][ids[t + j - (k - 1) // 2]], where padding (id 0) and positions beyond the
    text read as zero vectors. A convolution over one-hot vectors is a sum of lookups: the ids are
    shifted (not float rows), so the backward pass is one embedding gradient. Every width's rows live
    in one table, so that each position's windows are bags of one lookup: on torch one `embedding_bag`
    call writes all widths side by side (no (batch, length, k, filters) tensor, no concatenation of
    widths, one table gradient); elsewhere `take` then `sum`. The output is linear in
    the one-hot inputs, so mixup on it mixes them. `word_dropout` drops whole words while training.

    With `ngram_buckets`, a window of 2 (3) words also adds a row of its own for the word pair (triple)
    it holds, hashed as NgramEmbedding hashes them (NgramHash) into `ngram_buckets` rows per width (the
    largest prime at most that), where all its words are real (not padding or dropped): the one lookup
    more per bag that lets a detector weigh "not good" apart from "not" plus "good", as the n-gram
    features of NBSVM (Wang & Manning 2012) and of Johnson & Zhang's seq2-bown-CNN do. With
    `ngram_vocab` instead, the rows go to the `ngram_vocab` most frequent pairs (and as many triples) of
    the training texts (NgramVocab), one row each, and a window whose n-gram is not among them reads
    words only; the layer's `pair_keys` and `triple_keys` hold them (set by `adapt`, saved with the model).
    """

    def __init__(
        self,
        vocab_size: int,
        kernel_sizes,
        filters: int,
        word_dropout: float = 0.0,
        ngram_buckets: int = 0,
        ngram_vocab: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size, self.kernel_sizes, self.filters = vocab_size, list(kernel_sizes), filters
        self.word_dropout, self.ngram_buckets, self.ngram_vocab = word_dropout, int(ngram_buckets), int(ngram_vocab)
        if self.ngram_buckets and self.ngram_vocab:
            raise ValueError("OneHotConv: ngram_buckets (hashed n-grams) or ngram_vocab (counted ones), not both")
        self.seed = keras.random.SeedGenerator() if word_dropout else None
        # widths 2 and 3 also read their window's word pair or triple: a row of its own per n-gram
        self.ngram_widths = (
            [k for k in self.kernel_sizes if k in (2, 3)] if self.ngram_buckets or self.ngram_vocab else []
        )
        self.rows_per_width = 0  # n-gram rows per width 2 or 3
        if self.ngram_widths and self.ngram_buckets:
            self.hash = NgramHash(vocab_size, self.ngram_buckets, max(self.ngram_widths))
            self.rows_per_width = self.hash.prime
        elif self.ngram_widths:
            self.vocab = NgramVocab(vocab_size, self.ngram_vocab, max(self.ngram_widths))
            self.rows_per_width = self.ngram_vocab

    def build(self, input_shape):
        # W_k for each width in turn, as (vocab * k, filters): row v * k + j holds offset j's weights for
        # word v; then, with ngram_buckets, `prime` rows per width 2 or 3 for its hashed n-grams; the last
        # row stands for padding and is never read (masked, or embedding_bag's padding_idx)
        rows = self.vocab_size * sum(self.kernel_sizes) + self._ngram_rows() + 1
        self.table = self.add_weight(shape=(rows, self.filters), initializer="uniform", name="kernel")
        if self.ngram_vocab and self.ngram_widths:  # the counted n-grams' keys (a triple's needs the pairs')
            self.ngram_keys = [
                self.add_weight(
                    shape=(self.ngram_vocab,),
                    initializer=keras.initializers.Constant(NgramVocab.EMPTY),
                    dtype="int32",
                    trainable=False,
                    name=name,
                )
                for name in ("pair_keys", "triple_keys")[: max(self.ngram_widths) - 1]
            ]

    def adapt(self, ids) -> None:
        """Count the n-grams that get rows (ngram_vocab) in the training texts' token ids (rows, length)."""
        for variable, keys in zip(
            self.ngram_keys, count_ngrams(ids, self.vocab_size, self.ngram_vocab, len(self.ngram_keys) + 1)
        ):
            variable.assign(keys)

    def _ngram_rows(self) -> int:
        return self.rows_per_width * len(self.ngram_widths)

    def _ngram_rows_of(self, ids) -> list:
        """[(row, real)] of the pairs (and triples) ending at each position: hashed or counted."""
        if self.ngram_buckets:
            return self.hash.rows(ids)
        return self.vocab.rows(ids, *self.ngram_keys)

    def width_rows(self, i: int):
        """Width i's W (vocab * k, filters), a slice of the table."""
        start = self.vocab_size * sum(self.kernel_sizes[:i])
        return self.table[start : start + self.vocab_size * self.kernel_sizes[i]]

    def call(self, ids, training=None):
        ids = ops.cast(ids, "int32")
        if training and self.word_dropout:
            keep = keras.random.uniform(ops.shape(ids), seed=self.seed) >= self.word_dropout
            ids = ids * ops.cast(keep, "int32")
        words = self.vocab_size * sum(self.kernel_sizes)
        pad_row = words + self._ngram_rows()
        widest = max(k + (k in self.ngram_widths) for k in self.kernel_sizes)  # rows in a bag, n-gram included
        ngrams = dict(zip((2, 3), self._ngram_rows_of(ids))) if self.ngram_widths else {}
        bags, start, ngram_start = [], 0, words
        for k in self.kernel_sizes:  # each width's window as `widest` row numbers, padding_row where none
            left = (k - 1) // 2
            padded = ops.pad(ids, [(0, 0), (left, k - 1 - left)])
            shifted = ops.stack([padded[:, j : (j - (k - 1)) or None] for j in range(k)], axis=-1)  # (B, L, k)
            rows = ops.where(shifted > 0, start + shifted * k + ops.arange(k, dtype="int32"), pad_row)
            if k in self.ngram_widths:  # the n-gram the window holds ends at its last word, k - 1 - left on
                index, real = ngrams[k]
                end = k - 1 - left
                index = ops.pad(index[:, end:], [(0, 0), (0, end)])
                real = ops.pad(real[:, end:], [(0, 0), (0, end)])
                gram = ops.where(real, ngram_start + index, pad_row)
                rows = ops.concatenate([rows, ops.expand_dims(gram, -1)], axis=-1)
                ngram_start += self.rows_per_width
            bags.append(ops.pad(rows, [(0, 0), (0, 0), (0, widest - rows.shape[-1])], constant_values=pad_row))
            start += self.vocab_size * k
        index = bags[0] if len(bags) == 1 else ops.stack(bags, axis=2)  # (B, L[, widths], widest)
        return _lookup_sum(self.table, index, pad_row)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:2], len(self.kernel_sizes) * self.filters)

    def load_own_variables(self, store):
        if not self.ngram_vocab and len(store.keys()) == len(self.kernel_sizes) > 1:  # a table per width: one now
            parts = [np.asarray(store[str(i)])[:-1] for i in range(len(self.kernel_sizes))]
            self.table.assign(np.concatenate([*parts, np.zeros((1, self.filters), parts[0].dtype)]))
            return
        super().load_own_variables(store)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "kernel_sizes": self.kernel_sizes,
            "filters": self.filters,
            "word_dropout": self.word_dropout,
            "ngram_buckets": self.ngram_buckets,
            "ngram_vocab": self.ngram_vocab,
        }


def find_layer(model: keras.Model, name: str) -> keras.layers.Layer:
    """The layer, in the model or (with pretrained inputs) in its `core` sub-model (an encoder's `adapt`)."""
    try:
        return model.get_layer(name)
    except ValueError:
        return model.get_layer("core").get_layer(name)


def _lookup_sum(table, index, pad_row: int):
    """table rows summed over index's last axis ((B, L[, widths], k) -> (B, L, [widths x] filters)),
    skipping pad_row."""
    if keras.backend.backend() == "torch":
        import torch

        b, length, k = index.shape[0], index.shape[1], index.shape[-1]
        out = torch.nn.functional.embedding_bag(index.reshape(-1, k), table, mode="sum", padding_idx=pad_row)
        return out.reshape(b, length, -1)
    shape = ops.shape(index)
    rows = ops.take(table, index, axis=0) * ops.expand_dims(ops.cast(index != pad_row, table.dtype), -1)
    return ops.reshape(ops.sum(rows, axis=-2), (shape[0], shape[1], -1))


@keras.saving.register_keras_serializable(package="kerasclf")
class BiasActivation(keras.layers.Layer):
    """x + bias, then an activation. No longer built (the CNN encoder's convolutions end in ReluPool);
    kept so that models saved before that still load."""

    def __init__(self, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="bias")

    def call(self, x):
        return self.activation(x + self.bias)

    def get_config(self):
        return {**super().get_config(), "activation": keras.activations.serialize(self.activation)}


@keras.saving.register_keras_serializable(package="kerasclf")
class SliceChannels(keras.layers.Layer):
    """x[..., start:start + size]. No longer built (the CNN encoder pools every width at once); kept so
    that models saved before that still load."""

    def __init__(self, start: int, size: int, **kwargs):
        super().__init__(**kwargs)
        self.start, self.size = start, size

    def call(self, x):
        return x[..., self.start : self.start + self.size]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.size)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "size": self.size}


@keras.saving.register_keras_serializable(package="kerasclf")
class WordDropout(keras.layers.Layer):
    """Token ids -> the same ids with a share `rate` of the words replaced by [UNK] (id 1) while
    training (word dropout, Bowman et al. 2016): the model cannot lean on any single word, such as
    a film's title. Padding (id 0) is left alone."""

    def __init__(self, rate: float, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = keras.random.SeedGenerator()

    def call(self, ids, training=None):
        if not training or not self.rate:
            return ids
        drop = (keras.random.uniform(ops.shape(ids), seed=self.seed) < self.rate) & ops.not_equal(ids, 0)
        return ops.where(drop, ops.ones_like(ids), ids)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}
