"""CNN encoder (Kim 2014): parallel Conv1D of several kernel sizes, ReLU, max pool over real tokens.

    encoder: {type: cnn, embedding_dim: 128, kernel_sizes: [3, 4, 5], filters: 128, dropout: 0.5}

Convolutions use 'same' padding on zeroed padding vectors and the pool ignores padding, so the
features do not depend on how much padding a batch carries.
"""
from __future__ import annotations

import keras

from kerasclf.config import InputConfig
from kerasclf.models.embedding import embed
from kerasclf.models.layers import ApplyMask, MaskedPool

__all__ = ["embed", "encode"]


def encode(x, mask, inp: InputConfig):
    cfg, name = inp.encoder, inp.name
    pooled = []
    for k in cfg.kernel_sizes:
        h = keras.layers.Conv1D(cfg.filters, k, padding="same", activation="relu", name=f"{name}_conv{k}")(x)
        # windows reach into the padding: zero the features there; ReLU features are >= 0, so the
        # pool can then take a plain max and sum over the whole length
        h = ApplyMask(name=f"{name}_conv{k}_masked")(h, mask)
        pooled.append(MaskedPool(cfg.pooling, zeroed_nonnegative=True, name=f"{name}_pool{k}")(h, mask))
    h = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name=f"{name}_concat")(pooled)
    return keras.layers.Dropout(cfg.dropout, name=f"{name}_dropout")(h) if cfg.dropout else h
