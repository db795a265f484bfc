"""Optimizer, learning-rate schedule, loss and metrics for `model.compile`."""

from __future__ import annotations

import keras
from keras import ops

from kerasclf import backend_fast
from kerasclf.config import TrainConfig


@keras.saving.register_keras_serializable(package="kerasclf")
class WarmupLinear(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `peak` over `warmup_steps`, then linear decay to 0 at `total_steps`."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        self.peak, self.warmup_steps, self.total_steps = float(peak), int(warmup_steps), int(total_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = ops.cast(max(self.warmup_steps, 1), "float32")
        up = self.peak * step / warm
        down = self.peak * ops.maximum(0.0, (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1))
        return ops.where(step < self.warmup_steps, up, down)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}


@keras.saving.register_keras_serializable(package="kerasclf")
class MacroF1(keras.metrics.F1Score):
    """Macro F1 from integer labels and logits (keras' F1Score wants one-hot labels)."""

    def __init__(self, num_classes: int, name: str = "f1_macro", **kwargs):
        kwargs.pop("average", None)
        super().__init__(average="macro", name=name, **kwargs)
        self.num_classes = int(num_classes)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), self.num_classes)
        return super().update_state(y_true, y_pred, sample_weight)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="kerasclf")
class LogitF1(keras.metrics.F1Score):
    """F1 of a multilabel model from its logits: a label is predicted where its sigmoid is >= 0.5."""

    def __init__(self, average: str = "macro", name: str | None = None, **kwargs):
        kwargs.pop("threshold", None)
        super().__init__(average=average, threshold=0.5, name=name or f"f1_{average}", **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_true, ops.sigmoid(y_pred), sample_weight)


@keras.saving.register_keras_serializable(package="kerasclf")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy from logits, averaged over the labels, each label's positive cells
    weighted by `pos_weight` (train.class_weight on a multilabel task; torch's BCEWithLogitsLoss
    pos_weight, which Keras' BinaryCrossentropy lacks). Mixup mixes targets: this loss is linear in
    them, so the mixed loss of models/mixup.py is the loss of the mixed target vector."""

    def __init__(self, pos_weight=None, name: str = "binary_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pos_weight = None if pos_weight is None else [float(w) for w in pos_weight]

    def call(self, y_true, y_pred):
        y = ops.cast(y_true, y_pred.dtype)
        positive = y * ops.log_sigmoid(y_pred)
        if self.pos_weight is not None:
            positive = positive * ops.convert_to_tensor(self.pos_weight, dtype=y_pred.dtype)
        return -ops.mean(positive + (1.0 - y) * ops.log_sigmoid(-y_pred), axis=-1)

    def get_config(self):
        return {**super().get_config(), "pos_weight": self.pos_weight}


@keras.saving.register_keras_serializable(package="kerasclf")
class MultiRateAdamW(backend_fast.FusedAdamW, keras.optimizers.AdamW):
    """Keras' AdamW, where some variables (a pretrained backbone) may step at a multiple of the
    learning rate (`set_rate(variables, multiplier)`; weight decay scales the same way).

    On the torch backend the whole update runs in torch's fused AdamW kernel, one pass over each
    tensor instead of Keras' ten or so elementwise passes (backend_fast.FusedAdamW, which holds the
    overrides of Keras' private optimizer steps); the update is Keras' AdamW's. Other backends take
    Keras' own update, through `update_step` below.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._multipliers: dict[int, float] = {}

    def set_rate(self, variables, multiplier: float) -> None:
        for v in variables:
            self._multipliers[id(v)] = float(multiplier)

    def rate_multiplier(self, variable) -> float:
        return self._multipliers.get(id(variable), 1.0)

    def update_step(self, gradient, variable, learning_rate):
        m = self.rate_multiplier(variable)
        super().update_step(gradient, variable, learning_rate * m if m != 1.0 else learning_rate)


def learning_rate(cfg: TrainConfig, total_steps: int):
    warmup = int(cfg.warmup_ratio * total_steps)
    if cfg.schedule == "linear":
        return WarmupLinear(cfg.learning_rate, warmup, total_steps)
    if cfg.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else cfg.learning_rate,
            max(total_steps - warmup, 1),
            warmup_target=cfg.learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    return cfg.learning_rate


def loss_and_metrics(task: str, num_classes: int, pos_weight=None) -> tuple:
    """multiclass: softmax cross-entropy, accuracy and macro F1; multilabel: a sigmoid per class,
    binary cross-entropy (each class's positives weighted by `pos_weight`), micro and macro F1."""
    if task == "multilabel":
        return WeightedBinaryCrossentropy(pos_weight), [LogitF1("micro"), LogitF1("macro")]
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy"), MacroF1(num_classes)]
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics


def compile_model(
    model: keras.Model,
    cfg: TrainConfig,
    num_classes: int,
    steps_per_epoch: int,
    rates: list[tuple[list, float]] = (),
    task: str = "multiclass",
    pos_weight=None,
) -> keras.Model:
    """Compile with AdamW on `cfg`'s schedule; `rates` gives (variables, multiplier) pairs that step
    at their own multiple of the learning rate (a fine-tuned backbone); the loss and metrics of
    `task` (`pos_weight`: a multilabel task's class weights)."""
    optimizer = MultiRateAdamW(
        learning_rate=learning_rate(cfg, steps_per_epoch * cfg.epochs),
        weight_decay=cfg.weight_decay,
        clipnorm=cfg.clipnorm,
        use_ema=cfg.ema is not None,
        ema_momentum=cfg.ema or 0.99,
    )
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    for variables, multiplier in rates:
        optimizer.set_rate(variables, multiplier)
    loss, metrics = loss_and_metrics(task, num_classes, pos_weight)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    return model
