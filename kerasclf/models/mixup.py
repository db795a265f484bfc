"""Mixup on embeddings (Zhang et al. 2018; EIR's mixing on every input) and the model that drives it.

While training with `train.mixup_alpha > 0`, each batch draws one λ ~ Beta(α, α) and one
permutation of the batch. Every input's embeddings become λ·x + (1−λ)·x[perm] (the same λ and
permutation for all inputs of a sample), and the loss becomes λ·L(y) + (1−λ)·L(y[perm]).
Evaluation and prediction never mix.
"""

from __future__ import annotations

import keras
from keras import ops

from kerasclf import device
from kerasclf.models.head import FusedLogits, PathState


class MixState:
    """What the model drew for the batch in flight, shared with its EmbeddingMixup layers."""

    def __init__(self):
        self.lam = None
        self.perm = None


@keras.saving.register_keras_serializable(package="kerasclf")
class EmbeddingMixup(keras.layers.Layer):
    """(x, padding mask) -> mixed (x, mask) while the model mixes; unchanged otherwise.
    A mixed sample's mask covers the real tokens of both of its texts."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.state: MixState | None = None

    def call(self, x, padding_mask):
        st = self.state
        if st is None or st.lam is None:
            return x, padding_mask
        lam = ops.cast(st.lam, x.dtype)
        mixed = lam * x + (1.0 - lam) * ops.take(x, st.perm, axis=0)
        return mixed, ops.maximum(padding_mask, ops.take(padding_mask, st.perm, axis=0))

    def compute_output_shape(self, x_shape, padding_mask_shape):
        return x_shape, padding_mask_shape


@keras.saving.register_keras_serializable(package="kerasclf")
class Classifier(keras.Model):
    """The functional model kerasclf builds; it adds mixup to Keras' training step when asked.

    Saved and loaded as a plain functional model (a reloaded one predicts; it does not mix:
    kerasclf rebuilds the model from the run's config to train or resume).
    """

    def __init__(self, *args, **kwargs):
        mixup_alpha = kwargs.pop("mixup_alpha", 0.0)
        seed = kwargs.pop("seed", None)
        path_loss = kwargs.pop("path_loss", 0.0)
        input_loss = kwargs.pop("input_loss", 0.0)
        super().__init__(*args, **kwargs)
        self.path_loss, self.input_loss = float(path_loss), float(input_loss)
        self._paths = PathState()
        self.mixup_alpha = float(mixup_alpha)
        self._mix = MixState()
        self._mix_seed = keras.random.SeedGenerator(seed) if self.mixup_alpha > 0 else None
        for layer in self._flatten_layers(include_self=False, recursive=True):  # sub-models' too
            if isinstance(layer, EmbeddingMixup):
                layer.state = self._mix
            if isinstance(layer, FusedLogits) and (self.path_loss > 0 or self.input_loss > 0):
                layer.state = self._paths

    def fit(self, *args, **kwargs):
        try:
            return super().fit(*args, **kwargs)
        finally:
            device.release_heap()  # the freed memory the training steps kept (device.heap_blocks)

    def train_step(self, *args, **kwargs):
        with device.heap_blocks():  # on torch on a CPU: large blocks reused from step to step
            return super().train_step(*args, **kwargs)

    def predict(self, x, *args, **kwargs):
        if isinstance(x, str) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], str)):
            raise TypeError(
                "this model reads token ids, not strings: use model.predict(data.encode(texts)), "
                "or kerasclf.text_model(run_dir).predict(texts) for a trained run"
            )
        return super().predict(x, *args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        if training and self.mixup_alpha > 0:
            batch = ops.shape(next(iter(inputs.values())) if isinstance(inputs, dict) else inputs[0])[0]
            a = self.mixup_alpha
            self._mix.lam = keras.random.beta((), a, a, seed=self._mix_seed)
            self._mix.perm = keras.random.shuffle(ops.arange(batch), seed=self._mix_seed)
        else:
            self._mix.lam = self._mix.perm = None
        return super().call(inputs, training=training, mask=mask)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        lam, perm = self._mix.lam, self._mix.perm
        paths, alone = self._paths.paths or [], self._paths.alone or []
        self._paths.paths = self._paths.alone = None
        scored = [(1.0, y_pred)]
        if training:
            scored += [(self.path_loss, p) for p in paths if self.path_loss] + [(self.input_loss, a) for a in alone]

        def loss(target):  # the fused logits' loss, plus each path's own (head.path_loss) and each input's
            parts = [w * super(Classifier, self).compute_loss(x, target, p, sample_weight, training) for w, p in scored]
            return sum(parts[1:], parts[0])

        if not training or lam is None:
            return loss(y)
        self._mix.lam = self._mix.perm = None
        return lam * loss(y) + (1.0 - lam) * loss(ops.take(y, perm, axis=0))
