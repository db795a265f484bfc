"""The head: features of all inputs concatenated, dense layers, then one logit per class."""
from __future__ import annotations

import keras

from kerasclf.config import HeadConfig


def head(features: list, cfg: HeadConfig, num_classes: int):
    h = features[0] if len(features) == 1 else keras.layers.Concatenate(name="fusion_concat")(features)
    for i, units in enumerate(cfg.units):
        h = keras.layers.Dense(units, activation=cfg.activation, name=f"head_dense{i}")(h)
        if cfg.dropout:
            h = keras.layers.Dropout(cfg.dropout, name=f"head_dropout{i}")(h)
    return keras.layers.Dense(num_classes, name="logits", dtype="float32")(h)
