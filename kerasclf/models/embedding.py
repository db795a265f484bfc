"""The token embedding the from-scratch encoders share: ids -> (zeroed-at-padding vectors, mask)."""

from __future__ import annotations

import keras

from kerasclf.config import InputConfig
from kerasclf.models.layers import ApplyMask, PaddingMask


def embed_tokens(ids, vocab_size: int, dim: int, dropout: float, name: str):
    mask = PaddingMask(name=f"{name}_mask")(ids)
    x = keras.layers.Embedding(vocab_size, dim, name=f"{name}_embedding")(ids)
    if dropout:
        # drop whole embedding channels, as SpatialDropout1D does (Gal & Ghahramani 2016)
        x = keras.layers.SpatialDropout1D(dropout, name=f"{name}_embedding_dropout")(x)
    return ApplyMask(name=f"{name}_embedding_masked")(x, mask), mask


def embed(ids, inp: InputConfig, vocab_size: int):
    """The `embed` of the cnn and rnn encoders: their configs carry embedding_dim and embedding_dropout."""
    cfg = inp.encoder
    return embed_tokens(ids, vocab_size, cfg.embedding_dim, cfg.embedding_dropout, inp.name)
