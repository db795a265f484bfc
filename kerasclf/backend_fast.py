"""Every use of a private API in kerasclf, in one place, each with the public alternative and why
it is not enough. Nothing else in the package may import `keras.src`, `keras_hub.src`, override or
call a private method of a Keras class, or call a torch function whose name starts with an underscore.
The torch-only fast paths that keras.ops does not cover live here too (attention with dropout).

The versions these are tested with are pinned in pyproject.toml (keras, keras-hub): a new
release may move what is used here, and this module is where to look first.
"""

from __future__ import annotations

import math


# ---------------------------------------------------------------- keras-hub
def bert_layer_parts(layer) -> dict:
    """The sub-layers of a keras-hub `TransformerEncoder` (one BERT layer), by role:
    query, key, value, output (EinsumDense), attention_norm, ff1, ff2, ff_norm.

    Public alternative: `layer.get_weights()` gives the same weights as one flat list, in an order
    keras-hub does not document; these attribute names are the layer's own (keras-hub 0.20-0.32)."""
    attention = layer._self_attention_layer
    return {
        "query": attention.query_dense,
        "key": attention.key_dense,
        "value": attention.value_dense,
        "output": attention.output_dense,
        "attention_norm": layer._self_attention_layer_norm,
        "ff1": layer._feedforward_intermediate_dense,
        "ff2": layer._feedforward_output_dense,
        "ff_norm": layer._feedforward_layer_norm,
    }


def preset_file(preset: str, name: str) -> str:
    """The local path of file `name` of a keras-hub preset (a preset name, hf:// or kaggle:// id),
    downloaded when needed; raises FileNotFoundError, ValueError or OSError when it is not there.

    Public alternative: `keras_hub.models.BertBackbone.from_preset` reads the weights, but there is
    no public call for the other files of a preset (vocab.txt, tokenizer_config.json), which
    kerasclf reads to build its own WordPiece tokenizer."""
    from keras_hub.src.utils.preset_utils import get_file

    return get_file(preset, name)


# ---------------------------------------------------------------- keras: the lazy TensorFlow module
def keras_tensorflow_hidden(hidden: bool) -> None:
    """hidden=True: mark Keras' lazy TensorFlow module unavailable, unless Keras already looked;
    hidden=False: undo that, unless TensorFlow was imported since (the tfds data source needs it).

    Keras asks `keras.src.utils.module_utils.tensorflow.available` when seeding and saving, which
    imports TensorFlow whenever it is installed, even on the torch or jax backend. Public
    alternative: none in Keras. Blocking `import tensorflow` with an import hook (tf_guard.blocked)
    works around keras-hub, but for the whole process it would also break the tfds data source;
    uninstalling TensorFlow is not possible next to keras-hub, which depends on it."""
    try:
        from keras.src.utils import module_utils
    except ImportError:  # Keras moved it: TensorFlow is then imported as Keras sees fit
        return
    lazy = getattr(module_utils, "tensorflow", None)
    if lazy is None:
        return
    if hidden and getattr(lazy, "_available", None) is None:
        lazy._available = False  # what LazyModule caches after a failed import
    elif not hidden and getattr(lazy, "_available", None) is False and getattr(lazy, "module", None) is None:
        lazy._available = None  # not decided: the next `available` imports TensorFlow


# ---------------------------------------------------------------- torch: attention with dropout
def torch_dropout_attention(q, k, v, allowed, rate: float):
    """Softmax attention with dropout on the probabilities, for torch tensors q, k, v (B, H, L, d)
    and `allowed` booleans (B, 1, 1, L) (a key mask); returns (B, H, L, d).

    Public alternatives: `keras.ops.dot_product_attention` has no dropout argument. The portable path
    (scores, softmax, keras.random.dropout) draws the keep mask through torch.bernoulli, slow on CPU
    (0.9 s of a 3.9 s MiniLM fine-tuning step, bench/RESULTS.md); torch's own
    scaled_dot_product_attention(dropout_p=...) has no fused CPU kernel with dropout (it falls back
    to its unfused math path, with the same bernoulli dropout). Here the mask goes in as the bias of
    one batched matmul and the keep mask comes from random integer bits. Public torch calls only:
    it is here because it is torch-specific."""
    import torch

    allowed = allowed | ~allowed.any(dim=-1, keepdim=True)  # no real key at all (an empty text): no NaN
    b, h, length, d = q.shape
    # the mask goes in as the bias of one batched matmul, the scale on q: no extra pass over the scores
    bias = torch.zeros(allowed.shape, dtype=q.dtype, device=q.device).masked_fill_(~allowed, -1e9)
    bias = bias.expand(b, h, 1, length).reshape(b * h, 1, length)
    scores = torch.baddbmm(
        bias, (q * (1.0 / math.sqrt(d))).reshape(b * h, length, d), k.reshape(b * h, length, d).transpose(1, 2)
    )
    weights = torch.softmax(scores, dim=-1).masked_fill(~_torch_keep_mask(scores.shape, rate, q.device), 0.0)
    out = torch.bmm(weights, v.reshape(b * h, length, d)) * (1.0 / (1.0 - rate))  # rescale the smaller tensor
    return out.reshape(b, h, length, d)


def torch_dropout(x, rate: float):
    """x with each element zeroed with probability `rate` and the rest scaled by 1 / (1 - rate), for a torch
    tensor x in training. Public alternative: torch.nn.functional.dropout, which Keras' unseeded dropout calls
    on torch; its bernoulli mask is the slow part on a CPU (a 16 x 256 x 384 batch: 48 ms forward and
    backward in float32 against 5.7 ms here, 13 ms against 6 ms in bfloat16; a MiniLM layer has two)."""
    keep = _torch_keep_mask(x.shape, rate, x.device)
    return x * keep.to(x.dtype).mul_(1.0 / (1.0 - rate))


def _torch_keep_mask(shape, rate: float, device):
    """A boolean mask keeping each element with probability 1 - rate (to 1/32768), from the global
    torch generator (so keras.utils.set_random_seed makes it repeatable)."""
    import torch

    numel = math.prod(shape)
    words = torch.empty((numel + 1) // 2, dtype=torch.int32, device=device).random_()  # 31 random bits each
    halves = words.view(torch.int16)[:numel].view(shape)  # each half has at least 15 random low bits
    return (halves & 0x7FFF) >= round(rate * 32768)


# ---------------------------------------------------------------- torch: a convolution's bias, ReLU and pooling
def torch_relu_pool(x, bias, padding_mask, mode: str):
    """max / mean / max_mean over the length of relu(x + bias) zeroed at padding, for torch tensors x
    (B, L, C), bias (C,), padding_mask (B, L) (1.0 at real tokens); returns (B, C) or (B, 2C).

    Public alternative: the same in keras.ops (layers.relu_pool, what other backends run), which
    autograd records op by op: the backward of the max over the length alone compares every feature
    with its maximum, casts, divides and multiplies, and the bias, ReLU and mask add their own passes
    over the (batch, length, filters) features. This function saves the features and the index of each
    maximum, so its backward is one product and one scatter. Equal maxima: torch's max sends the gradient
    to one of them where the keras.ops path splits it; in the seq-CNN equal maxima are almost always the
    same word n-gram, whose positions read the same table rows, so the table's gradient is the same.
    bench/seq_cnn_step.py times both paths, and the seq-CNN's step and CLI run before and after;
    tests/test_models.py checks that they agree."""
    return _torch_relu_pool_function().apply(x, bias.to(x.dtype), padding_mask.to(x.dtype), mode)


_RELU_POOL = None


def _torch_relu_pool_function():
    global _RELU_POOL
    if _RELU_POOL is None:
        import torch

        class ReluPool(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, bias, mask, mode):
                h = (x + bias).relu_().mul_(mask.unsqueeze(-1))
                count = mask.sum(1, keepdim=True).clamp_min_(1.0)
                parts, index = [], None
                if mode in ("max", "max_mean"):
                    top, index = h.max(dim=1)
                    parts.append(top)
                if mode in ("mean", "max_mean"):
                    parts.append(h.sum(1).div_(count))
                ctx.mode = mode
                ctx.save_for_backward(h, index, count)
                return parts[0] if len(parts) == 1 else torch.cat(parts, -1)

            @staticmethod
            def backward(ctx, grad):
                h, index, count = ctx.saved_tensors
                c = h.shape[-1]
                if ctx.mode in ("mean", "max_mean"):
                    # where h > 0 the mean's gradient, else 0: h >= 0, so sign(h) is that mask, as floats
                    # (a third of the time of a comparison, which writes booleans, then a product)
                    gx = torch.sign(h).mul_((grad[:, -c:] / count).unsqueeze(1))
                else:
                    gx = grad.new_zeros(h.shape)
                if index is not None:
                    at = index.unsqueeze(1)
                    gx.scatter_add_(1, at, (grad[:, :c] * torch.sign(h.gather(1, at).squeeze(1))).unsqueeze(1))
                return gx, gx.sum((0, 1)), None, None

        _RELU_POOL = ReluPool
    return _RELU_POOL


# ---------------------------------------------------------------- keras + torch: the fused AdamW step
class FusedAdamW:
    """A mixin for a subclass of `keras.optimizers.AdamW`, listed before it in the bases: on the torch
    backend the whole update (decoupled weight decay, moments, step) runs in torch's fused AdamW
    kernel, one pass over each tensor; other backends (and amsgrad, and MPS) take Keras' own update.
    The subclass gives each variable's learning-rate multiplier by `rate_multiplier(variable)`
    (weight decay scales the same way).

    Public alternatives, and why they are not enough: Keras' public AdamW (a subclass of it steps each
    variable in `update_step`) makes about ten elementwise passes over every variable each step, which
    decides the step time of models with large embedding tables. torch's public
    `torch.optim.AdamW(fused=True)` runs the same kernel but cannot be used as it is: Keras owns the
    variables, the moments (saved and restored with the optimizer's variables) and the step count
    (`iterations`), and its trainer calls `optimizer.apply`; torch's optimizer keeps its own state
    per parameter and reads gradients from `.grad`. So this mixin overrides three private steps of
    Keras' `BaseOptimizer.apply` (clipping, weight decay, the update) and reads its moment slots.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fused_steps = {}  # a float32 step-count tensor per device, the kernel's `state_steps`
        self._fused_ok = None

    def rate_multiplier(self, variable) -> float:
        return 1.0

    def _fused(self) -> bool:
        """Whether this optimizer steps through torch's fused kernel (decided once: it is asked three
        times a step, by clipping, weight decay and the update)."""
        if self._fused_ok is None:
            import keras

            self._fused_ok = keras.backend.backend() == "torch" and not self.amsgrad and torch_fused_adamw_available()
        return self._fused_ok

    def _clip_gradients(self, grads):
        """Private Keras step (BaseOptimizer._clip_gradients). Per-variable clipping as Keras does it
        (g * clipnorm / max(|g|, clipnorm)), in two passes over each gradient (a norm, an in-place
        scale) on torch instead of Keras' five. The gradients passed in are scaled in place (Keras'
        trainer zeroes them before the next step anyway). On a CPU a gradient within the norm is left
        as it is: its scale would be exactly 1, and the pass over it is not free (some 7 ms a step for
        the 171 MB table gradient of configs/imdb_cnn.yaml, whose gradients stayed within 1.0 in
        the 120 steps checked); on a GPU the test would wait for the device, so it scales every one.
        Public alternative: Keras' own clipping (the `clipnorm` argument alone), which is what other
        backends get."""
        if not (self.clipnorm and self._fused()):
            return super()._clip_gradients(grads)
        import torch

        with torch.no_grad():
            for g in grads:
                if g is None:
                    continue
                norm = torch.linalg.vector_norm(g)
                if g.device.type != "cpu":
                    g.mul_(self.clipnorm / torch.clamp(norm, min=self.clipnorm))
                elif not float(norm) <= self.clipnorm:  # a NaN norm scales too: all NaN, as Keras' own
                    g.mul_(self.clipnorm / norm)
        return grads

    def _apply_weight_decay(self, variables):
        """Private Keras step (BaseOptimizer._apply_weight_decay; uses the private
        _get_current_learning_rate and _use_weight_decay): nothing on the fused path (the kernel
        decays), else Keras' decay at each variable's multiple of the learning rate. Public
        alternative: none; Keras decays every variable at the one learning rate."""
        if self.weight_decay is None or self._fused():
            return
        from keras import ops

        lr = self._get_current_learning_rate()
        for v in variables:
            if self._use_weight_decay(v):
                rate = ops.cast(lr * self.rate_multiplier(v) * self.weight_decay, v.dtype)
                v.assign(v - v * rate)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        """Private Keras step (BaseOptimizer._backend_update_step, which calls the public
        `update_step` per variable): on the fused path one `torch._fused_adamw_` call per group of
        variables with the same multiplier, decay, device and dtype."""
        if not self._fused():
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        import torch

        with torch.no_grad():
            lr = float(self._get_current_learning_rate())
            step = float(self.iterations) + 1.0
            # Keras divides by sqrt(v) + eps, torch by sqrt(v / (1 - beta2^t)) + eps': the same step when
            # eps' = eps / sqrt(1 - beta2^t)
            eps = float(self.epsilon) / math.sqrt(1.0 - float(self.beta_2) ** step)
            for (multiplier, decay, device, _dtype), items in self._fused_groups(grads, trainable_variables).items():
                steps = self._fused_steps.get(device)
                if steps is None:
                    steps = self._fused_steps[device] = torch.zeros((), dtype=torch.float32, device=device)
                steps.fill_(step)
                _torch_fused_adamw(items, steps, lr * multiplier, decay, eps, self.beta_1, self.beta_2)

    def _fused_groups(self, grads, trainable_variables) -> dict[tuple, list]:
        """(variable, gradient, first moment, second moment) torch tensors, grouped by (multiplier,
        decay, device, dtype). Private Keras uses: `_get_variable_index`, and the moment slots
        `_momentums` and `_velocities` of Keras' Adam (public alternative: none; the slots are
        only reachable as the flat `optimizer.variables` list, in an undocumented order)."""
        groups: dict[tuple, list] = {}
        for g, v in zip(grads, trainable_variables):
            i = self._get_variable_index(v)
            decay = self.weight_decay if self.weight_decay and self._use_weight_decay(v) else 0.0
            key = (self.rate_multiplier(v), decay, v.value.device, v.value.dtype)
            groups.setdefault(key, []).append(
                (v.value, g.contiguous(), self._momentums[i].value, self._velocities[i].value)
            )
        return groups


def _torch_fused_adamw(items, steps, lr, decay, eps, beta_1, beta_2) -> None:
    """One step of torch's fused AdamW kernel over (param, grad, m, v) tensors, in place.

    Private torch use: `torch._fused_adamw_` (what torch.optim.AdamW(fused=True) calls). Public
    alternative: torch.optim.AdamW(fused=True), not usable with Keras-owned state (see FusedAdamW)."""
    import torch

    params, grads, m, v = (list(t) for t in zip(*items))
    torch._fused_adamw_(
        params,
        grads,
        m,
        v,
        [],
        [steps] * len(params),
        amsgrad=False,
        lr=lr,
        beta1=float(beta_1),
        beta2=float(beta_2),
        weight_decay=float(decay),
        eps=eps,
        maximize=False,
        grad_scale=None,
        found_inf=None,
    )


def torch_fused_adamw_available() -> bool:
    """Whether torch has its fused AdamW kernel for the device Keras trains on. Keras' torch backend
    trains on CUDA when present, else on MPS when present, else on the CPU; torch's fused AdamW has
    CPU and CUDA kernels."""
    import torch

    on_mps = not torch.cuda.is_available() and torch.backends.mps.is_available()
    return hasattr(torch, "_fused_adamw_") and not on_mps


# ---------------------------------------------------------------- keras + torch: data parallel (DDP)
def torch_data_parallel(model) -> None:
    """From its next `fit`, train `model` (a compiled Keras model, in a process of an initialised
    torch.distributed group) through torch's DistributedDataParallel: the forward pass of each
    training step goes through the DDP wrapper, whose autograd hooks all-reduce (average) the
    gradients during `backward`; the metrics' states (totals, counts, confusion counts) are summed
    over the ranks before their results are read, so every rank logs the whole batch's and the whole
    validation split's values. The model stays the Keras model (fit, summary, save work as before;
    keras #19277 is what a user gets wrapping it by hand).

    This is what Keras' own torch trainer does on its master branch (`_initialize_ddp`,
    `self.ddp_model`, `get_metrics_result` with `all_reduce`), released after Keras 3.15. Where the
    installed Keras has it (the trainer class has `_initialize_ddp`), Keras wraps the model itself
    and this does nothing. Private Keras uses: the training step below is Keras 3.15's torch
    `train_step` (`_compute_loss`, `_loss_tracker`, `_call_has_training_arg`) with the one change
    that the forward pass goes through DDP. Public alternative: none in Keras 3.15."""
    if hasattr(type(model), "_initialize_ddp"):
        return
    import types

    import torch

    device = next(iter(model.parameters())).device
    ddp = torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=False
    )
    # object.__setattr__: not registered as a sub-module or tracked by Keras (the wrapper holds the model)
    object.__setattr__(model, "_kerasclf_ddp", ddp)
    object.__setattr__(model, "train_step", types.MethodType(_ddp_train_step, model))
    object.__setattr__(model, "get_metrics_result", types.MethodType(_ddp_metrics_result, model))
    model.train_function = None  # made again, with this step, at the next fit


def _ddp_train_step(self, data):
    """Keras 3.15's torch train_step, the forward pass through DDP (see torch_data_parallel)."""
    import keras
    import torch

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    ddp = self.__dict__["_kerasclf_ddp"]
    y_pred = ddp(x, training=True) if self._call_has_training_arg else ddp(x)
    self.zero_grad()
    loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
    rows = next(i for i in keras.tree.flatten(x) if i is not None).shape[0]
    real = None
    if sample_weight is not None:
        # kerasclf's weights (data/batching.py) scale a rank's rows so that DDP's average of the ranks'
        # gradients is the whole batch's; the logged loss and metrics count each real row once instead,
        # so that a batch split unevenly (16 and 15 rows) logs what one process logs
        real = keras.ops.cast(sample_weight > 0, "float32")
        rows = keras.ops.sum(real) ** 2 / keras.ops.sum(sample_weight)  # the loss is a mean scaled by sum(w)/rows
    self._loss_tracker.update_state(loss, sample_weight=rows)
    if self.optimizer is not None:
        loss = self.optimizer.scale_loss(loss)
    loss.backward()  # DDP's hooks average each gradient over the ranks as it is computed
    weights = self.trainable_weights[:]
    with torch.no_grad():
        self.optimizer.apply([v.value.grad for v in weights], weights)
    return self.compute_metrics(x, y, y_pred, sample_weight=real)


def _ddp_metrics_result(self):
    """The metrics' results from their states summed over the ranks (the model's own states untouched)."""
    import keras
    import torch
    import torch.distributed as dist

    with torch.no_grad():
        summed = []
        for v in self.metrics_variables:
            value = v.value.clone()
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
            summed.append(value)
        with keras.StatelessScope(state_mapping=list(zip(self.metrics_variables, summed))):
            results = type(self).get_metrics_result(self)
    return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in results.items()}
