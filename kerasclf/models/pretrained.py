"""Pretrained BERT-architecture encoders from keras-hub: a preset name, an `hf://` id, or a local folder.

    encoder: {type: pretrained, preset: /path/to/all-MiniLM-L6-v2, freeze: true, pooling: mean}

kerasclf/checkpoints.py finds and loads the checkpoint (keras-hub's BertBackbone). kerasclf then
builds the same network inside a sub-model `<input>_backbone` and copies the weights over, for three
reasons: mixup goes between the embeddings and the first transformer layer; the feed-forward
activation is the exact GELU that BERT was trained with (keras-hub's BertBackbone uses the tanh
approximation, about 1e-2 away from Hugging Face's outputs; ours matches within 1e-4, tested); and
attention is faster (bench/RESULTS.md: fine-tuning against transformers' Trainer).

The transformer layers are kerasclf's TransformerBlock (post-norm, exact GELU, attention dropout),
whose full attention takes torch's fused kernel where it can (models/attention.py); the weights
are keras-hub's, copied layer by layer (`copy_bert`, which the Longformer's init_from uses too).
The positions are keras-hub's PositionEmbedding, as in the checkpoint (from-scratch encoders use
kerasclf's PositionEncoding, models/blocks.py). A frozen backbone runs without dropout, so its
outputs are fixed and can be cached (features.py).
"""

from __future__ import annotations

import keras
import numpy as np

from kerasclf import backend_fast, keys, tf_guard
from kerasclf.checkpoints import config_key, load_checkpoint
from kerasclf.config import InputConfig, PretrainedConfig
from kerasclf.errors import UserError
from kerasclf.models.blocks import TakeFirst, TransformerBlock
from kerasclf.models.layers import MaskedPool, PaddingMask
from kerasclf.models.mixup import EmbeddingMixup

with tf_guard.blocked():
    import keras_hub  # noqa: E402  (keras-hub imports TensorFlow when it can; importing it registers its layers)


def branch(inp: InputConfig, mixup: bool) -> keras.Model:
    """{name: token ids, name__segments: segment ids} -> one feature vector per text, with the checkpoint's weights."""
    cfg: PretrainedConfig = inp.encoder
    hub = load_checkpoint(cfg.preset, config_key(inp)).backbone
    if inp.max_length > hub.max_sequence_length:  # load_all(cfg) refuses this first, naming the --set path
        raise UserError(
            f"max_length of input {inp.name!r}: {inp.max_length} is more than the "
            f"{hub.max_sequence_length} positions {cfg.preset} was trained with"
        )
    dropout = 0.0 if cfg.freeze else (hub.dropout if cfg.dropout is None else cfg.dropout)
    ids = keras.Input(shape=(None,), dtype="int32", name=inp.name)
    segment_ids = keras.Input(shape=(None,), dtype="int32", name=keys.segments(inp.name))
    x, mask = _embeddings(ids, segment_ids, hub, dropout)
    if mixup:
        x, mask = EmbeddingMixup(name="mixup")(x, mask)
    blocks = []
    for i in range(hub.num_layers):
        blocks.append(
            TransformerBlock(
                hub.num_heads,
                hub.intermediate_dim,
                dropout,
                "post",
                norm_epsilon=1e-12,
                attention_dropout=dropout,
                name=f"transformer_layer_{i}",
            )
        )
        x = blocks[-1](x, mask)
    features = _pool(x, mask, cfg.pooling, hub.hidden_dim)
    model = keras.Model({inp.name: ids, keys.segments(inp.name): segment_ids}, features, name=f"{inp.name}_backbone")
    copy_bert(
        hub,
        tokens=model.get_layer("token_embedding"),
        positions=model.get_layer("position_embedding"),
        norm=model.get_layer("embeddings_layer_norm"),
        segments=model.get_layer("segment_embedding"),
        pooled=model.get_layer("pooled_dense") if cfg.pooling == "pooled" else None,
        blocks=blocks,
    )
    if cfg.freeze:
        model.trainable = False
    return model


def _embeddings(ids, segment_ids, hub, dropout: float):
    """BERT's embeddings, as keras-hub's BertBackbone names them: tokens + positions + segments, normalized."""
    hidden = hub.hidden_dim
    mask = PaddingMask(name="padding_mask")(ids)
    tokens = keras.layers.Embedding(hub.vocabulary_size, hidden, name="token_embedding")(ids)
    positions = keras_hub.layers.PositionEmbedding(hub.max_sequence_length, name="position_embedding")(tokens)
    segments = keras.layers.Embedding(hub.num_segments, hidden, name="segment_embedding")(segment_ids)
    x = keras.layers.Add(name="embeddings_add")([tokens, positions, segments])
    x = keras.layers.LayerNormalization(epsilon=1e-12, name="embeddings_layer_norm")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="embeddings_dropout")(x)
    return x, mask


def _pool(x, mask, pooling: str, hidden: int):
    if pooling == "mean":
        return MaskedPool("mean", name="pool")(x, mask)
    features = TakeFirst(name="pool")(x)
    if pooling == "pooled":
        features = keras.layers.Dense(hidden, activation="tanh", name="pooled_dense")(features)
    return features


def copy_bert(hub, tokens=None, positions=None, norm=None, segments=None, pooled=None, blocks=()) -> None:
    """Copy a keras-hub BertBackbone's weights into ours: the token embedding, positions and embedding
    norm, BERT's pooler (`pooled`), and its layers into our post-norm TransformerBlocks (`blocks`).

    The checkpoint's position table is repeated up to the length of ours (a Longformer longer than the
    checkpoint); without a `segments` embedding (one text: every token has segment 0), segment 0's
    vector is added to every position."""
    if tokens is not None:
        tokens.set_weights(hub.get_layer("token_embedding").get_weights())
    if positions is not None:
        table = keras.ops.convert_to_numpy(hub.get_layer("position_embedding").position_embeddings)
        rows = positions.weights[0].shape[0]
        table = np.tile(table, (-(-rows // len(table)), 1))[:rows]
        if segments is None:
            table = table + keras.ops.convert_to_numpy(hub.get_layer("segment_embedding").embeddings)[0]
        positions.set_weights([table])
    if segments is not None:
        segments.set_weights(hub.get_layer("segment_embedding").get_weights())
    if norm is not None:
        norm.set_weights(hub.get_layer("embeddings_layer_norm").get_weights())
    if pooled is not None:
        pooled.set_weights(hub.get_layer("pooled_dense").get_weights())
    for i, block in enumerate(blocks):
        _copy_layer(block, hub.get_layer(f"transformer_layer_{i}"), hub.hidden_dim)


def _copy_layer(block: TransformerBlock, layer, hidden: int) -> None:
    """keras-hub TransformerEncoder (a BERT layer) weights -> our post-norm TransformerBlock; the
    global projections of a Longformer-style block start as copies of the local ones."""
    parts = backend_fast.bert_layer_parts(layer)
    for name in ("query", "key", "value"):
        kernel, bias = parts[name].get_weights()  # (hidden, heads, head_dim), (heads, head_dim)
        weights = [kernel.reshape(hidden, hidden), bias.reshape(hidden)]
        for ours in (name, f"global_{name}"):
            if block.attention.projections.get(ours) is not None:
                block.attention.projections[ours].set_weights(weights)
    kernel, bias = parts["output"].get_weights()  # (heads, head_dim, hidden), (hidden,)
    block.attention.output_dense.set_weights([kernel.reshape(hidden, hidden), bias])
    for ours, theirs in (
        (block.norm1, "attention_norm"),
        (block.ff1, "ff1"),
        (block.ff2, "ff2"),
        (block.norm2, "ff_norm"),
    ):
        ours.set_weights(parts[theirs].get_weights())
