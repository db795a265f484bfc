"""Transformer encoder (Vaswani et al. 2017; keras-io's text-classification transformer):
token embedding plus learned or sinusoidal positions, N blocks of full self-attention, pooling.

    encoder: {type: transformer, embedding_dim: 128, layers: 2, heads: 4, ff_dim: 256, pooling: avg}

Attention costs length x length per head: use local_transformer or longformer for long texts.
The module also holds what the three transformer encoders share.
"""

from __future__ import annotations

import keras

from kerasclf.config import InputConfig
from kerasclf.models.blocks import PrependCLS, TakeFirst, TransformerBlock
from kerasclf.models.embedding import FrontEnd, front_end
from kerasclf.models.layers import MaskedPool


def front_end_spec(inp: InputConfig) -> FrontEnd:
    """The transformers' front end: word dropout, n-grams, positions and dropout as configured."""
    cfg = inp.encoder
    return FrontEnd(
        cfg.embedding_dim,
        cfg.embedding_dropout,
        word_dropout=cfg.word_dropout,
        ngram_buckets=cfg.ngram_buckets,
        ngram_order=cfg.ngram_order,
        positions=cfg.positions,
        max_length=inp.max_length,
    )


def embed(ids, inp: InputConfig, vocab_size: int):
    return front_end(ids, inp.name, vocab_size, front_end_spec(inp))[:2]


def attention_options(cfg) -> dict:
    """What kind of attention the encoder's config asks for (overridden by the other encoders)."""
    return {"kind": "full"}


def encode_with(x, mask, inp: InputConfig, options: dict):
    cfg, name = inp.encoder, inp.name
    if cfg.pooling == "cls":
        x, mask = PrependCLS(name=f"{name}_cls")(x, mask)
    for i in range(cfg.layers):
        x = TransformerBlock(cfg.heads, cfg.ff_dim, cfg.dropout, cfg.norm, name=f"{name}_block{i}", **options)(x, mask)
    if cfg.norm == "pre":
        x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_final_norm")(x)
    return pool(x, mask, inp)


def pool(x, mask, inp: InputConfig):
    """The encoder's `pooling`: the vector at position 0 ([CLS]) for cls, else over the real tokens."""
    if inp.encoder.pooling == "cls":
        return TakeFirst(name=f"{inp.name}_pool")(x)
    return MaskedPool("mean" if inp.encoder.pooling == "avg" else inp.encoder.pooling, name=f"{inp.name}_pool")(x, mask)


def encode(x, mask, inp: InputConfig):
    return encode_with(x, mask, inp, attention_options(inp.encoder))
