"""Small layers every encoder shares: padding masks, masking of embeddings, masked pooling.

Padding is token id 0. Encoders zero the embeddings of padding and pool over real tokens only,
so a batch cut to its longest review gives the same outputs as one padded to max_length.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasclf")
class PaddingMask(keras.layers.Layer):
    """Token ids (batch, length) -> float mask, 1.0 at real tokens and 0.0 at padding."""

    def call(self, ids):
        return ops.cast(ops.not_equal(ids, 0), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="kerasclf")
class ApplyMask(keras.layers.Layer):
    """(x, mask) -> x with the vectors at padding positions set to zero."""

    def call(self, x, padding_mask):
        return x * ops.expand_dims(ops.cast(padding_mask, x.dtype), -1)

    def compute_output_shape(self, x_shape, padding_mask_shape):
        return x_shape


@keras.saving.register_keras_serializable(package="kerasclf")
class MaskedPool(keras.layers.Layer):
    """(x (batch, length, dim), mask (batch, length)) -> (batch, dim): max, mean or max_mean over real tokens.

    A row with no real token pools to zeros.
    """

    def __init__(self, mode: str = "max", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "mean", "max_mean"):
            raise ValueError(f"MaskedPool mode must be max, mean or max_mean, got {mode!r}")
        self.mode = mode

    def call(self, x, padding_mask):
        m = ops.expand_dims(ops.cast(padding_mask, x.dtype), -1)
        has_any = ops.cast(ops.sum(m, axis=1) > 0, x.dtype)
        parts = []
        if self.mode in ("max", "max_mean"):
            very_negative = ops.cast(-1e9 if x.dtype != "float16" else -6e4, x.dtype)
            parts.append(ops.max(ops.where(m > 0, x, very_negative), axis=1) * has_any)
        if self.mode in ("mean", "max_mean"):
            parts.append(ops.sum(x * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0))
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, x_shape, padding_mask_shape):
        dim = x_shape[-1] * (2 if self.mode == "max_mean" else 1) if x_shape[-1] else None
        return (x_shape[0], dim)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="kerasclf")
class BoolMask(keras.layers.Layer):
    """Float padding mask -> boolean mask, the form Keras RNN layers take."""

    def call(self, padding_mask):
        return ops.greater(padding_mask, 0.5)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, padding_mask):
        return keras.KerasTensor(padding_mask.shape, dtype="bool")
