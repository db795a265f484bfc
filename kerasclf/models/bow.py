"""Bag-of-n-grams encoder (fastText, Joulin et al. 2017): a vector per word and per hashed word pair and
triple, averaged over the text. Linear in its inputs, as the peers a user compares us with are (TF-IDF
word 1-3-grams + logistic regression, NBSVM); fused beside a sequence encoder it adds their view.

    encoder: {type: bow, embedding_dim: 16, ngram_buckets: 400000, ngram_order: 3}

The n-grams are the transformers' (ngrams.NgramEmbedding, summed into the word vectors by the shared
front end); what mixup mixes is those per-token vectors.
"""

from __future__ import annotations

import keras

from kerasclf.config import InputConfig
from kerasclf.models.embedding import FrontEnd, front_end
from kerasclf.models.layers import MaskedPool

__all__ = ["embed", "encode"]


def embed(ids, inp: InputConfig, vocab_size: int):
    cfg = inp.encoder
    spec = FrontEnd(
        cfg.embedding_dim,
        word_dropout=cfg.word_dropout,
        ngram_buckets=cfg.ngram_buckets,
        ngram_order=cfg.ngram_order,
    )
    return front_end(ids, inp.name, vocab_size, spec)[:2]


def encode(x, mask, inp: InputConfig):
    cfg, name = inp.encoder, inp.name
    h = MaskedPool(cfg.pooling, name=f"{name}_pool")(x, mask)
    return keras.layers.Dropout(cfg.dropout, name=f"{name}_dropout")(h) if cfg.dropout else h
