"""Fusion and head: the features of all inputs concatenated, then dense layers, then one logit per class.

head: {kind: mlp, units: [64], dropout: 0.3}            # concat -> Dense(64) -> dropout -> logits
head: {kind: residual_mlp, units: [256, 256]}           # concat -> Dense(256) -> 2 residual blocks -> logits
"""

from __future__ import annotations

import keras

from kerasclf.config import HeadConfig


def head(features: list, cfg: HeadConfig, num_classes: int):
    h = features[0] if len(features) == 1 else keras.layers.Concatenate(name="fusion_concat")(features)
    if cfg.kind == "residual_mlp":
        width = cfg.units[0]
        h = keras.layers.Dense(width, name="fusion_projection")(h)
        for i, units in enumerate(cfg.units):
            r = keras.layers.LayerNormalization(name=f"head_block{i}_norm")(h)
            r = keras.layers.Dense(units, activation=cfg.activation, name=f"head_block{i}_dense")(r)
            if cfg.dropout:
                r = keras.layers.Dropout(cfg.dropout, name=f"head_block{i}_dropout")(r)
            r = keras.layers.Dense(width, name=f"head_block{i}_out")(r)
            h = keras.layers.Add(name=f"head_block{i}_residual")([h, r])
        h = keras.layers.LayerNormalization(name="head_norm")(h)
    else:
        for i, units in enumerate(cfg.units):
            h = keras.layers.Dense(units, activation=cfg.activation, name=f"head_dense{i}")(h)
            if cfg.dropout:
                h = keras.layers.Dropout(cfg.dropout, name=f"head_dropout{i}")(h)
    return keras.layers.Dense(num_classes, name="logits", dtype="float32")(h)
