"""Transformer building blocks shared by the transformer, local_transformer and longformer encoders."""

from __future__ import annotations

import keras
from keras import ops

from kerasclf import backend_fast
from kerasclf.models import attention


@keras.saving.register_keras_serializable(package="kerasclf")
class SelfAttention(keras.layers.Layer):
    """Multi-head self-attention; `kind` picks the pattern: full, window or sliding (Longformer).

    Sliding attention has a second set of query/key/value projections for the global tokens,
    as in the Longformer paper.
    """

    def __init__(
        self,
        heads: int,
        kind: str = "full",
        window: int = 64,
        overlap: bool = False,
        global_positions=(0,),
        attention_dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kind not in ("full", "window", "sliding"):
            raise ValueError(f"SelfAttention kind must be full, window or sliding, got {kind!r}")
        if attention_dropout and kind != "full":
            raise ValueError("attention_dropout is implemented for full attention only")
        self.heads, self.kind, self.window, self.overlap = heads, kind, int(window), bool(overlap)
        self.attention_dropout = float(attention_dropout)
        # dropout on the attention probabilities (BERT's attention_probs_dropout_prob)
        self.seed_generator = keras.random.SeedGenerator() if self.attention_dropout else None
        self.global_positions = [int(p) for p in global_positions]
        names = ["query", "key", "value"] + (
            ["global_query", "global_key", "global_value"] if kind == "sliding" else []
        )
        self.projections = {n: None for n in names}
        self.output_dense = None

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim % self.heads:
            raise ValueError(f"embedding size {dim} is not divisible by heads {self.heads}")
        for n in self.projections:
            layer = keras.layers.Dense(dim, name=n)
            layer.build(input_shape)
            self.projections[n] = layer
        self.output_dense = keras.layers.Dense(dim, name="output")
        self.output_dense.build(input_shape)
        # keep Keras' tracking of the sublayers in a stable order
        self._proj_layers = [self.projections[n] for n in self.projections]

    def _heads(self, x):
        b, length, dim = x.shape
        x = ops.reshape(x, (-1, length, self.heads, dim // self.heads))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, x, padding_mask, training=None):
        mask = ops.cast(padding_mask, x.dtype)
        q, k, v = (self._heads(self.projections[n](x)) for n in ("query", "key", "value"))
        if self.kind == "full":
            out = attention.full_attention(
                q, k, v, mask, self.attention_dropout if training else 0.0, self.seed_generator
            )
        elif self.kind == "window":
            out = attention.window_attention(q, k, v, mask, self.window, self.overlap)
        else:
            qg, kg, vg = (self._heads(self.projections[n](x)) for n in ("global_query", "global_key", "global_value"))
            out = attention.sliding_attention(q, k, v, mask, self.window, self.global_positions, qg, kg, vg)
        out = ops.transpose(out, (0, 2, 1, 3))
        return self.output_dense(ops.reshape(out, (-1, out.shape[1], out.shape[2] * out.shape[3])))

    def compute_output_shape(self, x_shape, padding_mask_shape):
        return x_shape

    def get_config(self):
        return {
            **super().get_config(),
            "heads": self.heads,
            "kind": self.kind,
            "window": self.window,
            "overlap": self.overlap,
            "global_positions": self.global_positions,
            "attention_dropout": self.attention_dropout,
        }


@keras.saving.register_keras_serializable(package="kerasclf")
class TransformerBlock(keras.layers.Layer):
    """Self-attention and a feed-forward layer, each with a residual connection and layer norm
    (pre-norm: norm before each part; post-norm: after, as in Vaswani et al. 2017)."""

    def __init__(
        self,
        heads: int,
        ff_dim: int,
        dropout: float = 0.1,
        norm: str = "pre",
        kind: str = "full",
        window: int = 64,
        overlap: bool = False,
        global_positions=(0,),
        norm_epsilon: float = 1e-6,
        attention_dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.config = {
            "heads": heads,
            "ff_dim": ff_dim,
            "dropout": dropout,
            "norm": norm,
            "kind": kind,
            "window": window,
            "overlap": overlap,
            "global_positions": list(global_positions),
            "norm_epsilon": norm_epsilon,
            "attention_dropout": attention_dropout,
        }
        self.attention = SelfAttention(
            heads, kind, window, overlap, global_positions, attention_dropout, name="attention"
        )
        self.norm1 = keras.layers.LayerNormalization(epsilon=norm_epsilon, name="norm1")
        self.norm2 = keras.layers.LayerNormalization(epsilon=norm_epsilon, name="norm2")
        self.ff1 = keras.layers.Dense(ff_dim, activation="gelu", name="ff1")
        self.ff2 = None
        self.drop = _Dropout(dropout)
        self.pre = norm == "pre"

    def build(self, input_shape):
        dim = input_shape[-1]
        self.attention.build(input_shape)
        self.norm1.build(input_shape)
        self.norm2.build(input_shape)
        self.ff1.build(input_shape)
        self.ff2 = keras.layers.Dense(dim, name="ff2")
        self.ff2.build(tuple(input_shape[:-1]) + (self.config["ff_dim"],))

    def call(self, x, padding_mask, training=None):
        if self.pre:
            x = x + self.drop(self.attention(self.norm1(x), padding_mask, training=training), training=training)
            return x + self.drop(self.ff2(self.ff1(self.norm2(x))), training=training)
        x = self.norm1(x + self.drop(self.attention(x, padding_mask, training=training), training=training))
        return self.norm2(x + self.drop(self.ff2(self.ff1(x)), training=training))

    def compute_output_shape(self, x_shape, padding_mask_shape):
        return x_shape

    def get_config(self):
        return {**super().get_config(), **self.config}


class _Dropout(keras.layers.Dropout):
    """keras.layers.Dropout; on torch its keep mask comes from random integer bits (backend_fast.torch_dropout)
    instead of torch's bernoulli, 8x faster on a CPU in float32. Keras' unseeded dropout on torch draws from
    torch's global generator too, so keras.utils.set_random_seed still makes it repeatable."""

    def call(self, inputs, training=False):
        if training and self.rate > 0 and self.noise_shape is None and keras.backend.backend() == "torch":
            return backend_fast.torch_dropout(inputs, self.rate)
        return super().call(inputs, training=training)


@keras.saving.register_keras_serializable(package="kerasclf")
class PositionEncoding(keras.layers.Layer):
    """Adds positions to token vectors: learned (a table of max_length rows) or sinusoidal
    (Vaswani et al. 2017, no weights). Works for any length up to max_length."""

    def __init__(self, max_length: int, kind: str = "learned", **kwargs):
        super().__init__(**kwargs)
        self.max_length, self.kind = int(max_length), kind

    def build(self, input_shape):
        if self.kind == "learned":
            self.table = self.add_weight(
                name="positions",
                shape=(self.max_length, input_shape[-1]),
                initializer=keras.initializers.RandomNormal(stddev=0.02),
            )

    def call(self, x):
        length, dim = x.shape[1], x.shape[2]
        if self.kind == "learned":
            return x + self.table[:length][None]
        pos = ops.cast(ops.arange(length), x.dtype)[:, None]
        i = ops.cast(ops.arange(dim), x.dtype)[None, :]
        angle = pos / ops.power(10000.0, (2.0 * ops.floor(i / 2.0)) / dim)
        even = ops.cast(ops.equal(ops.mod(ops.arange(dim), 2), 0), x.dtype)[None, :]
        return x + (ops.sin(angle) * even + ops.cos(angle) * (1.0 - even))[None]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length, "kind": self.kind}


@keras.saving.register_keras_serializable(package="kerasclf")
class PrependCLS(keras.layers.Layer):
    """(x, mask) -> (x with a learned [CLS] vector in front, mask with a 1 in front)."""

    def build(self, x_shape, padding_mask_shape=None):
        self.cls = self.add_weight(
            name="cls", shape=(x_shape[-1],), initializer=keras.initializers.RandomNormal(stddev=0.02)
        )

    def call(self, x, padding_mask):
        cls = ops.broadcast_to(ops.cast(self.cls, x.dtype)[None, None, :], (ops.shape(x)[0], 1, x.shape[-1]))
        ones = ops.ones_like(padding_mask[:, :1])
        return ops.concatenate([cls, x], axis=1), ops.concatenate([ones, padding_mask], axis=1)

    def compute_output_shape(self, x_shape, padding_mask_shape):
        length = None if x_shape[1] is None else x_shape[1] + 1
        return (x_shape[0], length, x_shape[2]), (padding_mask_shape[0], length)


@keras.saving.register_keras_serializable(package="kerasclf")
class TakeFirst(keras.layers.Layer):
    """(batch, length, dim) -> (batch, dim): the first token's vector ([CLS] pooling)."""

    def call(self, x):
        return x[:, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])
