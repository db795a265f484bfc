"""Fusion and head: the features of all inputs concatenated, then dense layers, then one logit per class.

head: {kind: mlp, units: [64], dropout: 0.3}            # concat -> Dense(64) -> dropout -> logits
head: {kind: residual_mlp, units: [256, 256]}           # concat -> Dense(256) -> 2 residual blocks -> logits

Inputs whose encoder scores the classes itself (nbsvm: PER_CLASS) take the wide path of Wide & Deep
(Cheng et al. 2016) instead: their scores, summed, pass a Dense that starts as the identity and are added
to the logits, so training starts from their own (naive-Bayes) decision. Through the MLP's random first
layer that decision would be scrambled at the start (tried: 88.8% test against 91% for NBSVM alone).

head: {input_dropout: 0.25}   # ModDrop (Neverova et al. 2016): while training, each input's features (or
                              # wide scores) are zeroed for an example with this chance, never all of them
An input that fits the training rows fast (nbsvm) would otherwise leave the others little to learn from.

head: {path_loss: 0.5}   # with a wide input: loss = L(deep + wide) + 0.5 * (L(deep) + L(wide)), each path
                         # also scored alone (Gradient-Blending's per-modality losses, Wang et al. 2020)
head: {input_loss: 0.5}  # with several inputs: loss = L(fused) + 0.5 * sum of L(input alone) over the inputs,
                         # a deep input's own logits from a Dense on its features (`<input>_alone_logits`),
                         # a wide input's own scores; training only, the prediction stays the fused logits
A reader that needs many steps to learn (a fine-tuned backbone) can get little gradient through the fused loss
once a fast one (nbsvm) fits the training rows; its own loss gives it the gradient it would get alone. An
`<input>_alone_logits` layer trains at that input's own learning_rate where it has one (models/build.py).
"""

from __future__ import annotations

import keras
from keras import ops

from kerasclf.config import HeadConfig


def head(features: dict, cfg: HeadConfig, num_classes: int, wide: dict | None = None):
    """Logits (batch, num_classes) from the deep `features` (input name -> features; concatenated, then the
    MLP) plus the `wide` per-class scores (input name -> scores); either may be empty, not both."""
    wide = wide or {}
    alone = []  # each input's own logits, for head.input_loss
    if cfg.input_loss and len(features) + len(wide) > 1:
        alone = [
            keras.layers.Dense(num_classes, name=f"{name}_alone_logits", dtype="float32")(f)
            for name, f in features.items()
        ]
        alone += list(wide.values())
    features, wide = list(features.values()), list(wide.values())
    if cfg.input_dropout and len(features) + len(wide) > 1:
        dropped = InputDropout(cfg.input_dropout, name="input_dropout")([*features, *wide])
        features, wide = dropped[: len(features)], dropped[len(features) :]
    paths = []
    if features:
        paths.append(_deep_logits(features, cfg, num_classes, "deep_logits" if wide or alone else "logits"))
    if wide:
        paths.append(_wide_logits(wide, num_classes, "wide_logits" if features or alone else "logits"))
    if len(paths) == 1 and not alone:
        return paths[0]
    return FusedLogits(paths=len(paths), name="logits", dtype="float32")([*paths, *alone])


class PathState:
    """The logits of the batch in flight, handed from FusedLogits to the model's loss: each path's (deep,
    wide) and each input's own."""

    def __init__(self):
        self.paths = None
        self.alone = None


@keras.saving.register_keras_serializable(package="kerasclf")
class FusedLogits(keras.layers.Layer):
    """[logits (batch, classes) of each path: deep, wide; then each input's own logits] -> the sum of the
    `paths` first ones (all of them when None). While training, with a `state` (the Classifier's, when
    head.path_loss or head.input_loss > 0), it leaves both lists there for the loss to score each alone."""

    def __init__(self, paths: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.paths = paths
        self.state: PathState | None = None

    def call(self, logits, training=None):
        n = self.paths or len(logits)
        if training and self.state is not None:
            self.state.paths = list(logits[:n]) if n > 1 else []
            self.state.alone = list(logits[n:])
        out = logits[0]
        for p in logits[1:n]:
            out = out + p
        return out

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "paths": self.paths}


@keras.saving.register_keras_serializable(package="kerasclf")
class InputDropout(keras.layers.Layer):
    """[features (batch, dim_i) per input] -> the same list, where while training each input's row is zeroed
    for an example with chance `rate` (not rescaled: the head sees inputs missing, not louder). An example
    that would lose every input keeps them all. Written here: Keras' Dropout drops units, not whole inputs."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = float(rate), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return list(inputs)
        batch = ops.shape(inputs[0])[0]
        keep = keras.random.uniform((batch, len(inputs)), seed=self.seed_generator) >= self.rate
        keep = ops.logical_or(keep, ops.logical_not(ops.any(keep, axis=1, keepdims=True)))
        return [x * ops.cast(keep[:, i : i + 1], x.dtype) for i, x in enumerate(inputs)]

    def compute_output_shape(self, input_shape):
        return list(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def _wide_logits(wide: list, num_classes: int, name: str):
    scores = wide[0] if len(wide) == 1 else keras.layers.Add(name="wide_sum")(list(wide))
    return keras.layers.Dense(num_classes, kernel_initializer="identity", name=name, dtype="float32")(scores)


def _deep_logits(features: list, cfg: HeadConfig, num_classes: int, name: str):
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
    return keras.layers.Dense(num_classes, name=name, dtype="float32")(h)
