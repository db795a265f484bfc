"""The front end every from-scratch encoder shares: token ids -> (vectors zeroed at padding, padding mask).

    PaddingMask -> [WordDropout] -> token lookup -> [+ n-grams] -> [+ positions] -> [layer norm]
                -> [dropout] -> [zero the padding]

`FrontEnd` says which of the optional steps an encoder takes: cnn and rnn a token embedding with
channel dropout; the transformers word dropout, n-grams, positions and dropout; a Longformer started
from a checkpoint the checkpoint's sizes and an embedding norm; the one-hot CNN its own lookup
(`OneHotConv`), not zeroed. The layers are named `<input>_mask`, `<input>_embedding`, ... whichever
encoder asks, so the model (and its seeded initial weights) is the same as each encoder's own was.
Pretrained backbones have BERT's own embeddings (models/pretrained.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras

from kerasclf.config import InputConfig
from kerasclf.models.blocks import PositionEncoding
from kerasclf.models.layers import ApplyMask, PaddingMask, WordDropout
from kerasclf.models.ngrams import NgramEmbedding


@dataclass(frozen=True)
class FrontEnd:
    dim: int  # the embedding size
    dropout: float = 0.0  # on the embeddings, after the positions
    channel_dropout: bool = False  # drop whole channels (SpatialDropout1D, Gal & Ghahramani 2016), not single values
    word_dropout: float = 0.0  # while training, replace this share of the words with [UNK] before the lookup
    ngram_buckets: int = 0  # > 0: add hashed word n-gram vectors (NgramEmbedding)
    ngram_order: int = 2
    positions: str | None = None  # learned | sinusoidal: add kerasclf's PositionEncoding
    max_length: int = 0  # the positions' table size
    norm_epsilon: float | None = None  # a layer norm after the positions (BERT's embedding norm)
    lookup: Callable[[str], keras.layers.Layer] | None = None  # name -> the token lookup, instead of an Embedding
    zero_padding: bool = True  # zero the vectors at padding (ApplyMask)


def front_end(ids, name: str, vocab_size: int, spec: FrontEnd):
    """(x, mask, layers): the vectors, the float padding mask, and {tokens, positions, norm} that were built."""
    layers = {}
    mask = PaddingMask(name=f"{name}_mask")(ids)
    if spec.word_dropout:
        ids = WordDropout(spec.word_dropout, name=f"{name}_word_dropout")(ids)
    if spec.lookup is not None:
        layers["tokens"] = spec.lookup(f"{name}_embedding")
    else:
        layers["tokens"] = keras.layers.Embedding(vocab_size, spec.dim, name=f"{name}_embedding")
    x = layers["tokens"](ids)
    if spec.ngram_buckets:
        ngrams = NgramEmbedding(vocab_size, spec.ngram_buckets, spec.dim, spec.ngram_order, name=f"{name}_ngrams")(ids)
        x = keras.layers.Add(name=f"{name}_token_and_ngram")([x, ngrams])
    if spec.positions:
        layers["positions"] = PositionEncoding(spec.max_length, spec.positions, name=f"{name}_positions")
        x = layers["positions"](x)
    if spec.norm_epsilon:
        layers["norm"] = keras.layers.LayerNormalization(epsilon=spec.norm_epsilon, name=f"{name}_embedding_norm")
        x = layers["norm"](x)
    if spec.dropout:
        dropout = keras.layers.SpatialDropout1D if spec.channel_dropout else keras.layers.Dropout
        x = dropout(spec.dropout, name=f"{name}_embedding_dropout")(x)
    if spec.zero_padding:
        x = ApplyMask(name=f"{name}_embedding_masked")(x, mask)
    return x, mask, layers


def embed(ids, inp: InputConfig, vocab_size: int):
    """The `embed` of the cnn and rnn encoders: a token embedding, with channel dropout (embedding_dropout)."""
    cfg = inp.encoder
    spec = FrontEnd(cfg.embedding_dim, cfg.embedding_dropout, channel_dropout=True)
    return front_end(ids, inp.name, vocab_size, spec)[:2]
