"""CNN encoder (Kim 2014): parallel Conv1D of several kernel sizes, ReLU, max pool over real tokens.

    encoder: {type: cnn, embedding_dim: 128, kernel_sizes: [3, 4, 5], filters: 128, dropout: 0.5}

Convolutions use 'same' padding on zeroed padding vectors and the pool ignores padding, so the
features do not depend on how much padding a batch carries.

With `one_hot: true` the convolutions read one-hot word vectors, as in Johnson & Zhang 2015
("Effective use of word order for text categorization with convolutional neural networks", the
seq-CNN): a kernel of width k then has a full vocabulary x k x filters weight instead of the low-rank
embedding x kernel product, so each n-gram detector can weigh every word at every offset. A
convolution over one-hot vectors is a sum of k lookups, which is how `OneHotConv` computes it.
Its output (before bias and ReLU) is linear in the one-hot inputs, so it is what mixup mixes.
`embedding_dropout` then drops whole words while training: a dropped word reads as padding (a zero
vector) in every window, with no rescaling (the word dropout of Iyyer et al. 2015).
`ngram_buckets` (one-hot only) gives each window of 2 or 3 words a hashed row for its word pair or
triple too, added before the ReLU (OneHotConv's docstring); `ngram_vocab` gives rows to the most
frequent pairs and triples of the training texts instead, one each, counted by `adapt` when the model is
built (configs/imdb_cnn.yaml, bench/RESULTS.md).
"""

from __future__ import annotations

import keras

from kerasclf.config import InputConfig
from kerasclf.models.embedding import FrontEnd, front_end
from kerasclf.models.embedding import embed as embed_dense
from kerasclf.models.layers import OneHotConv, ReluPool, find_layer

__all__ = ["adapt", "embed", "encode"]


def embed(ids, inp: InputConfig, vocab_size: int):
    cfg = inp.encoder
    if not cfg.one_hot:
        return embed_dense(ids, inp, vocab_size)
    # not zeroed at padding: there the sums still hold the last words' rows, as a Conv1D over one-hot
    # vectors gives, so that mixup of these sums is mixup of one-hot inputs; `encode` masks after ReLU
    spec = FrontEnd(
        len(cfg.kernel_sizes) * cfg.filters,
        lookup=lambda name: OneHotConv(
            vocab_size,
            cfg.kernel_sizes,
            cfg.filters,
            cfg.embedding_dropout,
            cfg.ngram_buckets,
            cfg.ngram_vocab,
            name=name,
        ),
        zero_padding=False,
    )
    return front_end(ids, inp.name, vocab_size, spec)[:2]


def encode(x, mask, inp: InputConfig):
    cfg, name = inp.encoder, inp.name
    # the bias, ReLU and the pool over real tokens (windows reach into the padding, whose features are
    # zeroed before pooling): for one-hot convolutions over all widths at once, as x holds them side by
    # side (the features come out as every width's max, then every width's mean)
    if cfg.one_hot:
        h = ReluPool(cfg.pooling, name=f"{name}_pool")(x, mask)
    else:
        convs = [
            keras.layers.Conv1D(cfg.filters, k, padding="same", use_bias=False, name=f"{name}_conv{k}")(x)
            for k in cfg.kernel_sizes
        ]
        pooled = [ReluPool(cfg.pooling, name=f"{name}_pool{k}")(c, mask) for k, c in zip(cfg.kernel_sizes, convs)]
        h = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name=f"{name}_concat")(pooled)
    return keras.layers.Dropout(cfg.dropout, name=f"{name}_dropout")(h) if cfg.dropout else h


def adapt(model: keras.Model, inp: InputConfig, ids, labels) -> bool:
    """With ngram_vocab: the n-grams that get rows, counted in the training rows' ids (build.adapt_to_train).
    Whether there were any to count."""
    if not (inp.encoder.one_hot and inp.encoder.ngram_vocab):
        return False
    find_layer(model, f"{inp.name}_embedding").adapt(ids)
    return True
