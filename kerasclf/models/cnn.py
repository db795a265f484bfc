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
"""

from __future__ import annotations

import keras

from kerasclf.config import InputConfig
from kerasclf.models.embedding import FrontEnd, front_end
from kerasclf.models.embedding import embed as embed_dense
from kerasclf.models.layers import ApplyMask, BiasActivation, MaskedPool, OneHotConv, SliceChannels

__all__ = ["embed", "encode"]


def embed(ids, inp: InputConfig, vocab_size: int):
    cfg = inp.encoder
    if not cfg.one_hot:
        return embed_dense(ids, inp, vocab_size)
    # not zeroed at padding: there the sums still hold the last words' rows, as a Conv1D over one-hot
    # vectors gives, so that mixup of these sums is mixup of one-hot inputs; `encode` masks after ReLU
    spec = FrontEnd(
        len(cfg.kernel_sizes) * cfg.filters,
        lookup=lambda name: OneHotConv(vocab_size, cfg.kernel_sizes, cfg.filters, cfg.embedding_dropout, name=name),
        zero_padding=False,
    )
    return front_end(ids, inp.name, vocab_size, spec)[:2]


def encode(x, mask, inp: InputConfig):
    cfg, name = inp.encoder, inp.name
    pooled = []
    for i, k in enumerate(cfg.kernel_sizes):
        if cfg.one_hot:  # x holds the convolutions already (without bias)
            h = (
                x
                if len(cfg.kernel_sizes) == 1
                else SliceChannels(i * cfg.filters, cfg.filters, name=f"{name}_part{k}")(x)
            )
            h = BiasActivation("relu", name=f"{name}_conv{k}")(h)
        else:
            h = keras.layers.Conv1D(cfg.filters, k, padding="same", activation="relu", name=f"{name}_conv{k}")(x)
        # windows reach into the padding: zero the features there; ReLU features are >= 0, so the
        # pool can then take a plain max and sum over the whole length
        h = ApplyMask(name=f"{name}_conv{k}_masked")(h, mask)
        pooled.append(MaskedPool(cfg.pooling, zeroed_nonnegative=True, name=f"{name}_pool{k}")(h, mask))
    h = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name=f"{name}_concat")(pooled)
    return keras.layers.Dropout(cfg.dropout, name=f"{name}_dropout")(h) if cfg.dropout else h
