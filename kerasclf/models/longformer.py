"""Longformer-style encoder (Beltagy et al. 2020): each token attends to its neighbours within
`attention_window // 2` positions on either side; a few global tokens (the first by default)
attend to every token and every token attends to them, with their own query/key/value
projections. Memory and time grow linearly with length for a fixed window.

    encoder: {type: longformer, attention_window: 128, global_tokens: [0], layers: 2, heads: 4}

With `init_from: <BERT checkpoint>` it starts from a BERT-architecture model, as the Longformer
paper started from RoBERTa: the checkpoint's WordPiece vocabulary, sizes and weights (post-norm
blocks, exact GELU); its 512 learned positions repeated up to max_length; the global
query/key/value projections copied from the local ones; [CLS] (position 0) as the global token.

    encoder: {type: longformer, init_from: /path/to/minilm, attention_window: 256, pooling: cls}
"""

from __future__ import annotations

import keras
import numpy as np

from kerasclf.config import InputConfig
from kerasclf.models import transformer
from kerasclf.models.blocks import PositionEmbedding, TransformerBlock
from kerasclf.models.layers import ApplyMask, PaddingMask

__all__ = ["embed", "encode"]


def _options(cfg) -> dict:
    return {"kind": "sliding", "window": cfg.attention_window, "global_positions": cfg.global_tokens}


def embed(ids, inp: InputConfig, vocab_size: int):
    if inp.encoder.init_from is None:
        return transformer.embed(ids, inp, vocab_size)
    hub, name, cfg = _hub(inp), inp.name, inp.encoder
    mask = PaddingMask(name=f"{name}_mask")(ids)
    tokens = keras.layers.Embedding(hub.vocabulary_size, hub.hidden_dim, name=f"{name}_embedding")
    positions = PositionEmbedding(inp.max_length, "learned", name=f"{name}_positions")
    norm = keras.layers.LayerNormalization(epsilon=1e-12, name=f"{name}_embedding_norm")
    x = norm(positions(tokens(ids)))
    if cfg.embedding_dropout:
        x = keras.layers.Dropout(cfg.embedding_dropout, name=f"{name}_embedding_dropout")(x)
    tokens.set_weights(hub.get_layer("token_embedding").get_weights())
    table = keras.ops.convert_to_numpy(hub.get_layer("position_embedding").position_embeddings)
    repeated = np.tile(table, (-(-inp.max_length // len(table)), 1))[: inp.max_length]
    segment0 = keras.ops.convert_to_numpy(hub.get_layer("segment_embedding").embeddings)[0]
    positions.set_weights([repeated + segment0])  # one text: every token has segment 0
    norm.set_weights(hub.get_layer("embeddings_layer_norm").get_weights())
    return ApplyMask(name=f"{name}_embedding_masked")(x, mask), mask


def encode(x, mask, inp: InputConfig):
    cfg = inp.encoder
    if cfg.init_from is None:
        return transformer.encode_with(x, mask, inp, _options(cfg))
    from kerasclf.models.pretrained import copy_bert_layer  # keras-hub: only when starting from a checkpoint

    hub, name = _hub(inp), inp.name
    for i in range(hub.num_layers):
        block = TransformerBlock(
            hub.num_heads,
            hub.intermediate_dim,
            cfg.dropout,
            "post",
            norm_epsilon=1e-12,
            name=f"{name}_block{i}",
            **_options(cfg),
        )
        x = block(x, mask)
        copy_bert_layer(block, hub.get_layer(f"transformer_layer_{i}"), hub.hidden_dim)
    return transformer.pool(x, mask, inp)  # cls: the checkpoint's own [CLS], at position 0


def _hub(inp: InputConfig):
    from kerasclf.models.pretrained import load_checkpoint

    return load_checkpoint(inp.encoder.init_from, f"encoder.init_from of input {inp.name!r}").backbone
