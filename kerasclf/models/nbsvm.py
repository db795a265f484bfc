"""NBSVM encoder (Wang & Manning 2012, trained as Howard's NBSVM++): the words and hashed word n-grams a
text holds, each counted once, each scoring every class by its naive-Bayes log-count ratio r (computed
from the training rows when the model is built: `adapt`) times a weight learned around it, summed.

    encoder: {type: nbsvm, ngram_buckets: 1000000, ngram_order: 3}

NBSVM is the strongest of the linear peers on IMDB (bench/peers.py). As a kerasclf input it is one keras
layer trained end to end with the others, fused before the shared head: its class scores sit beside a
sequence encoder's features (the wide path in models/head.py). The per-feature score is
(w + 0.4) * r / 320 with w learned from uniform(-0.1, 0.1) and r fixed, as Howard's fast.ai NBSVM++ has it
(his w_adj 0.4) but for the scale: his r_adj was 10; of 10, 20, 40, 80, 160, 320 and 640, 320 gave the
best validation accuracy on IMDB's carved tail (scratch CLI runs, seed 42, listed in bench/RESULTS.md).
Training starts near naive Bayes' own weights, and weight decay pulls back towards them, not towards 0.
Mixup mixes the per-feature scores, before the sum.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kerasclf.config import InputConfig
from kerasclf.models.layers import MaskedPool, find_layer
from kerasclf.models.ngrams import NgramHash

__all__ = ["NBSVMScores", "adapt", "embed", "encode", "fold_of"]

W_OFFSET, R_SCALE = 0.4, 320.0  # Howard's w_adj; his r_adj was 10 (see the docstring)
PER_CLASS = True  # embed takes the number of classes: one score per class


@keras.saving.register_keras_serializable(package="kerasclf")
class NBSVMScores(keras.layers.Layer):
    """Token ids (batch, length) -> (scores (batch, features, classes), present (batch, features)): one row per
    word and (with buckets) per hashed word pair and triple of the text, in sorted order, each kept once
    (`present` is 0 at repeats and padding, where the scores are 0 too). Its non-trainable `ratios` are
    zero until `adapt` sets them from training data."""

    def __init__(self, vocab_size: int, buckets: int, order: int, classes: int, folds: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.buckets, self.order, self.classes, self.folds = (
            int(vocab_size),
            int(buckets),
            int(order),
            int(classes),
            int(folds),
        )
        self.hash = NgramHash(vocab_size, buckets, order) if buckets else None
        self.rows = self.vocab_size + (self.hash.prime if self.hash else 0)

    def build(self, input_shape):
        shape = (self.rows, self.classes)
        init = keras.initializers.RandomUniform(-0.1, 0.1)
        self.weights_table = self.add_weight(shape=shape, initializer=init, name="weights")
        self.ratios = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="ratios")
        if self.folds:  # fold k's table: the ratios of every training text outside fold k
            shape = (self.folds * self.rows, self.classes)
            self.fold_ratios = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="fold_ratios")

    def features(self, ids):
        """(rows (batch, features) sorted, present (batch, features) bool): each row of the text once."""
        ids = ops.cast(ids, "int32")
        parts = [ids]
        for index, real in self.hash.rows(ids) if self.hash else []:
            parts.append(ops.where(real, index + self.vocab_size, 0))
        rows = ops.sort(ops.concatenate(parts, axis=1), axis=-1)
        fresh = ops.concatenate([ops.ones_like(rows[:, :1], "bool"), ops.not_equal(rows[:, 1:], rows[:, :-1])], 1)
        return rows, ops.logical_and(fresh, rows > 0)

    def call(self, ids, training=None):
        rows, present = self.features(ids)
        if training and self.folds:  # out of fold: a training text never scores by its own counts
            offset = fold_of(ids, self.folds) * self.rows
            r = ops.take(self.fold_ratios, rows + ops.expand_dims(offset, 1), axis=0)
        else:
            r = ops.take(self.ratios, rows, axis=0)
        w = ops.take(self.weights_table, rows, axis=0)
        mask = ops.cast(present, w.dtype)
        return (w + W_OFFSET) * r * (ops.expand_dims(mask, -1) / R_SCALE), mask

    def compute_output_shape(self, input_shape):
        n = None if input_shape[1] is None else input_shape[1] * (1 + (self.order - 1 if self.hash else 0))
        return (input_shape[0], n, self.classes), (input_shape[0], n)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "buckets": self.buckets,
                "order": self.order, "classes": self.classes, "folds": self.folds}  # fmt: skip


def fold_of(ids, folds: int):
    """A text's fold, from its token ids alone (their sum modulo `folds`), so that `adapt` and training
    agree without a fold column, and a review repeated in train lands in one fold."""
    return ops.mod(ops.sum(ops.cast(ids, "int32"), axis=1), folds)


def embed(ids, inp: InputConfig, vocab_size: int, classes: int):
    cfg = inp.encoder
    layer = NBSVMScores(vocab_size, cfg.ngram_buckets, cfg.ngram_order, classes, cfg.folds, name=f"{inp.name}_nbsvm")
    return layer(ids)


def encode(x, mask, inp: InputConfig):
    return MaskedPool("sum", name=f"{inp.name}_pool")(x, mask)


def adapt(model: keras.Model, inp: InputConfig, ids: np.ndarray, labels: np.ndarray, chunk: int = 1024) -> bool:
    """Set the input's log-count ratios from the training rows: per class c (one against the rest),
    r = log((alpha + count_c) / |alpha + count_c|_1) - log((alpha + count_rest) / |...|_1), where count_c[f] is
    how many texts of class c hold feature f (Wang & Manning 2012, eq. 2) and the norms run over every row
    but padding's (whose ratio is 0). `labels`: class ids, or a multilabel task's 0/1 matrix. With `folds`,
    fold k's table counts every training text but fold k's (`fold_of`)."""
    layer = find_layer(model, f"{inp.name}_nbsvm")
    targets = labels if labels.ndim == 2 else np.eye(layer.classes, dtype=np.int64)[labels]
    parts = max(layer.folds, 1)
    counts, totals = np.zeros((parts, layer.rows, layer.classes)), np.zeros((parts, layer.rows))
    for start in range(0, len(ids), chunk):
        x = ids[start : start + chunk]
        rows, present = (ops.convert_to_numpy(a) for a in layer.features(x))
        fold = ops.convert_to_numpy(fold_of(x, parts))
        index, y = rows + (fold * layer.rows)[:, None], targets[start : start + chunk]
        totals += np.bincount(index[present], minlength=parts * layer.rows).reshape(totals.shape)
        for c in range(layer.classes):
            held = present & (y[:, c] > 0)[:, None]
            counts[..., c] += np.bincount(index[held], minlength=parts * layer.rows).reshape(totals.shape)
    alpha = inp.encoder.alpha
    layer.ratios.assign(_ratios(counts.sum(0), totals.sum(0), alpha))
    if layer.folds:
        tables = [_ratios(counts.sum(0) - counts[k], totals.sum(0) - totals[k], alpha) for k in range(parts)]
        layer.fold_ratios.assign(np.concatenate(tables))
    return True


def _ratios(counts: np.ndarray, totals: np.ndarray, alpha: float) -> np.ndarray:
    """Log-count ratios (rows, classes), one class against the rest; padding's row is 0."""
    p, q = alpha + counts, alpha + (totals[:, None] - counts)
    ratios = np.log(p / p[1:].sum(0)) - np.log(q / q[1:].sum(0))
    ratios[0] = 0.0  # padding
    return ratios.astype("float32")
