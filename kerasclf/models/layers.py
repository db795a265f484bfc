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

    A row with no real token pools to zeros. With `zeroed_nonnegative=True` the caller promises that
    x is >= 0 everywhere and 0 at padding (ReLU features after ApplyMask): then a plain max and sum
    give the masked results, with less work.
    """

    def __init__(self, mode: str = "max", zeroed_nonnegative: bool = False, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "mean", "max_mean"):
            raise ValueError(f"MaskedPool mode must be max, mean or max_mean, got {mode!r}")
        self.mode = mode
        self.zeroed_nonnegative = zeroed_nonnegative
        self.supports_masking = True  # it takes the padding mask explicitly; a Keras mask ends here

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, x, padding_mask):
        m = ops.expand_dims(ops.cast(padding_mask, x.dtype), -1)
        count = ops.sum(m, axis=1)
        parts = []
        if self.mode in ("max", "max_mean"):
            if self.zeroed_nonnegative:
                parts.append(ops.max(x, axis=1))
            else:
                very_negative = ops.cast(-1e9 if x.dtype != "float16" else -6e4, x.dtype)
                parts.append(ops.max(ops.where(m > 0, x, very_negative), axis=1) * ops.cast(count > 0, x.dtype))
        if self.mode in ("mean", "max_mean"):
            total = ops.sum(x if self.zeroed_nonnegative else x * m, axis=1)
            parts.append(total / ops.maximum(count, 1.0))
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, x_shape, padding_mask_shape):
        dim = x_shape[-1] * (2 if self.mode == "max_mean" else 1) if x_shape[-1] else None
        return (x_shape[0], dim)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "zeroed_nonnegative": self.zeroed_nonnegative}


@keras.saving.register_keras_serializable(package="kerasclf")
class BoolMask(keras.layers.Layer):
    """Float padding mask -> boolean mask, the form Keras RNN layers take."""

    def call(self, padding_mask):
        return ops.greater(padding_mask, 0.5)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, padding_mask):
        return keras.KerasTensor(padding_mask.shape, dtype="bool")
