"""Optimizer, learning-rate schedule, loss and metrics for `model.compile`."""

from __future__ import annotations

import math

import keras
from keras import ops

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
class MultiRateAdamW(keras.optimizers.AdamW):
    """Keras' AdamW, where some variables (a pretrained backbone) may step at a multiple of the
    learning rate (`set_rate(variables, multiplier)`; weight decay scales the same way).

    On the torch backend the whole update (decoupled weight decay, moments, step) runs in torch's
    fused AdamW kernel, one pass over each tensor instead of Keras' ten or so elementwise passes:
    it decides the step time of models with large embedding tables. Keras adds epsilon to the
    uncorrected sqrt(v) and torch to the bias-corrected one, so epsilon is rescaled each step to
    give Keras' update. Other backends take Keras' own update.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._multipliers: dict[int, float] = {}
        self._fused_steps = {}
        self._fused_ok = None

    def set_rate(self, variables, multiplier: float) -> None:
        for v in variables:
            self._multipliers[id(v)] = float(multiplier)

    def _multiplier(self, variable) -> float:
        return self._multipliers.get(id(variable), 1.0)

    def _fused(self) -> bool:
        """Whether this optimizer steps through torch's fused kernel (decided once: it is asked three
        times a step, by clipping, weight decay and the update)."""
        if self._fused_ok is None:
            self._fused_ok = keras.backend.backend() == "torch" and not self.amsgrad and _torch_fused_adamw()
        return self._fused_ok

    def _clip_gradients(self, grads):
        """Per-variable clipping as Keras does it (g * clipnorm / max(|g|, clipnorm)), in two passes
        over each gradient (a norm, an in-place scale) on torch instead of Keras' five. The gradients
        passed in are scaled in place (Keras' trainer zeroes them before the next step anyway)."""
        if not (self.clipnorm and self._fused()):
            return super()._clip_gradients(grads)
        import torch

        with torch.no_grad():
            for g in grads:
                if g is not None:
                    g.mul_(self.clipnorm / torch.clamp(torch.linalg.vector_norm(g), min=self.clipnorm))
        return grads

    def update_step(self, gradient, variable, learning_rate):
        m = self._multiplier(variable)
        super().update_step(gradient, variable, learning_rate * m if m != 1.0 else learning_rate)

    def _apply_weight_decay(self, variables):
        if self.weight_decay is None or self._fused():  # the fused step decays
            return
        lr = self._get_current_learning_rate()
        for v in variables:
            if self._use_weight_decay(v):
                rate = ops.cast(lr * self._multiplier(v) * self.weight_decay, v.dtype)
                v.assign(v - v * rate)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        if not self._fused():
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        import torch

        with torch.no_grad():
            lr = float(self._get_current_learning_rate())
            step = float(self.iterations) + 1.0
            # Keras divides by sqrt(v) + eps, torch by sqrt(v / (1 - beta2^t)) + eps': the same step when
            # eps' = eps / sqrt(1 - beta2^t)
            eps = float(self.epsilon) / math.sqrt(1.0 - float(self.beta_2) ** step)
            groups: dict[tuple, list] = {}
            for g, v in zip(grads, trainable_variables):
                i = self._get_variable_index(v)
                decay = self.weight_decay if self.weight_decay and self._use_weight_decay(v) else 0.0
                key = (self._multiplier(v), decay, v.value.device, v.value.dtype)
                groups.setdefault(key, []).append(
                    (v.value, g.contiguous(), self._momentums[i].value, self._velocities[i].value)
                )
            for (multiplier, decay, device, _dtype), items in groups.items():
                steps = self._fused_steps.get(device)
                if steps is None:
                    steps = self._fused_steps[device] = torch.zeros((), dtype=torch.float32, device=device)
                steps.fill_(step)
                params, grads_, m, v = (list(t) for t in zip(*items))
                torch._fused_adamw_(
                    params,
                    grads_,
                    m,
                    v,
                    [],
                    [steps] * len(params),
                    amsgrad=False,
                    lr=lr * multiplier,
                    beta1=float(self.beta_1),
                    beta2=float(self.beta_2),
                    weight_decay=float(decay),
                    eps=eps,
                    maximize=False,
                    grad_scale=None,
                    found_inf=None,
                )


def _torch_fused_adamw() -> bool:
    import torch

    # Keras' torch backend trains on CUDA when present, else on MPS when present, else on the CPU;
    # torch's fused AdamW has CPU and CUDA kernels
    on_mps = not torch.cuda.is_available() and torch.backends.mps.is_available()
    return hasattr(torch, "_fused_adamw_") and not on_mps


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


def compile_model(
    model: keras.Model, cfg: TrainConfig, num_classes: int, steps_per_epoch: int, rates: list[tuple[list, float]] = ()
) -> keras.Model:
    """Compile with AdamW on `cfg`'s schedule; `rates` gives (variables, multiplier) pairs that step
    at their own multiple of the learning rate (a fine-tuned backbone)."""
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
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy"), MacroF1(num_classes)],
    )
    return model
