"""`build_model(cfg, data)`: one encoder per input, a shared head, compiled and ready for `model.fit`.

With pretrained inputs the model has two levels: each backbone is a sub-model `<input>_backbone`
(token and segment ids -> one feature vector), and everything else (the other encoders, fusion,
head) is the sub-model `core`, which takes those vectors as inputs named `<input>__features`.
train.py trains `core` alone on cached backbone outputs when every backbone is frozen.
"""

from __future__ import annotations

import logging
import sys
import time

import keras
import numpy as np

from kerasclf import checkpoints, keys
from kerasclf.config import Config
from kerasclf.device import cpu_bfloat16_flag
from kerasclf.models import registry
from kerasclf.models.compile import compile_model
from kerasclf.models.head import head
from kerasclf.models.mixup import Classifier, EmbeddingMixup

log = logging.getLogger("kerasclf")


def build_network(cfg: Config, vocab_sizes: dict[str, int], num_classes: int) -> keras.Model:
    """The uncompiled network of `cfg`, not yet adapted to training rows: the encoders with an `adapt`
    (NBSVM's log-count ratios, a one-hot CNN's `ngram_vocab` keys) get theirs in `build_model`; built
    here alone, NBSVM scores nothing and the CNN's windows read their words only."""
    mixup = cfg.train.mixup_alpha > 0
    branches = [inp for inp in cfg.inputs if inp.pretrained]
    core_inputs, features, wide = {}, {}, {}
    for inp in cfg.inputs:
        if inp.pretrained:
            vec = keras.Input(shape=(checkpoints.feature_dim(inp),), name=keys.features(inp.name))
            core_inputs[keys.features(inp.name)] = vec
            features[inp.name] = vec
            continue
        ids = keras.Input(shape=(None,), dtype="int32", name=inp.name)
        encoder = registry.get(inp.encoder.type)
        per_class = {"classes": num_classes} if getattr(encoder, "PER_CLASS", False) else {}  # nbsvm
        x, mask = encoder.embed(ids, inp, vocab_sizes[inp.name], **per_class)
        if mixup:
            x, mask = EmbeddingMixup(name=f"{inp.name}_mixup")(x, mask)
        (wide if per_class else features)[inp.name] = encoder.encode(x, mask, inp)
        core_inputs[inp.name] = ids
    logits = head(features, cfg.head, num_classes, wide)
    options = dict(
        name=cfg.name,
        mixup_alpha=cfg.train.mixup_alpha,
        seed=cfg.train.seed,
        path_loss=cfg.head.path_loss,
        input_loss=cfg.head.input_loss,
    )
    if not branches:
        return Classifier(core_inputs, logits, **options)
    # the core first, then the backbones: the head starts from the same random weights either way
    from kerasclf.models import pretrained  # imports keras-hub: only for configs that use it

    core = keras.Model(core_inputs, logits, name="core")
    inputs, core_args = {}, {}
    for inp in cfg.inputs:
        ids = keras.Input(shape=(None,), dtype="int32", name=inp.name)
        inputs[inp.name] = ids
        if inp.pretrained:
            segments = keras.Input(shape=(None,), dtype="int32", name=keys.segments(inp.name))
            inputs[keys.segments(inp.name)] = segments
            backbone = pretrained.branch(inp, mixup)
            core_args[keys.features(inp.name)] = backbone({inp.name: ids, keys.segments(inp.name): segments})
        else:
            core_args[inp.name] = ids
    return Classifier(inputs, core(core_args), **options)


def build_model(cfg: Config, data) -> keras.Model:
    """A compiled keras.Model for `cfg`: one encoder per input, fused before one head, AdamW.

    Args:
        cfg: the config (`load_config`); `train` gives the seed, optimizer, schedule and mixup.
        data: the `Data` from `load_data` (vocabulary sizes, classes, steps per epoch).

    Example:
        >>> import kerasclf
        >>> cfg = kerasclf.load_config(overrides=["inputs.0.max_length=64"])
        >>> data = kerasclf.load_data(cfg, progress=False)
        >>> model = kerasclf.build_model(cfg, data)
        >>> model.output_shape
        (None, 2)
    """
    keras.utils.set_random_seed(cfg.train.seed)
    vocab_sizes = {name: tok.vocab_size for name, tok in data.tokenizers.items()}
    set_precision(cfg)
    model = build_network(cfg, vocab_sizes, data.num_classes)
    adapt_to_train(model, cfg, data)
    rates = backbone_learning_rates(model, cfg)
    return compile_model(model, cfg.train, data.num_classes, len(data.train), rates, cfg.task, data.pos_weight)


def adapt_to_train(model: keras.Model, cfg: Config, data) -> None:
    """Encoders with statistics of the training rows (an `adapt` in their module: nbsvm's log-count ratios)
    get them here, from the training split's ids and labels, before the first step."""
    for inp in cfg.inputs:
        encoder = None if inp.pretrained else registry.get(inp.encoder.type)
        if hasattr(encoder, "adapt"):
            start, ids = time.perf_counter(), data.arrays["train"][inp.name]
            if encoder.adapt(model, inp, ids, np.asarray(data.raw.train.labels)):
                log.info(f"{inp.name}: adapted to the {len(ids):,} train rows ({time.perf_counter() - start:.1f} s)")


def backbone_learning_rates(model: keras.Model, cfg: Config) -> list[tuple[list, float]]:
    """(variables, multiplier of train.learning_rate) for each input with its own rate: a fine-tuned
    backbone, or a bag of n-grams (its layers, all named `<input>_...`)."""
    out = []
    for inp in cfg.inputs:
        rate = getattr(inp.encoder, "learning_rate", None)
        if rate is None or (inp.pretrained and inp.encoder.freeze):
            continue
        if inp.pretrained:
            variables = model.get_layer(f"{inp.name}_backbone").trainable_variables
        else:
            # recursive: beside a pretrained input the other encoders live in the sub-model `core`
            layers = model._flatten_layers(include_self=False, recursive=True)
            own = [layer for layer in layers if layer.name.startswith(f"{inp.name}_")]
            variables = list({id(v): v for layer in own for v in layer.trainable_variables}.values())
        out.append((variables, rate / cfg.train.learning_rate))
    return out


def set_precision(cfg: Config) -> str:
    """Keras' global dtype policy for `train.precision` (auto: mixed bfloat16 when a pretrained backbone is
    fine-tuned on a GPU, or on torch on a CPU that multiplies bfloat16 in hardware (AMX or AVX-512 BF16),
    float32 otherwise)."""
    policy = cfg.train.precision
    if policy == "auto":
        finetuned = any(i.pretrained and not i.encoder.freeze for i in cfg.inputs)
        flag = bfloat16_cpu() if finetuned else None  # None on a GPU; cpuinfo read only when it matters
        if finetuned and (on_gpu() or flag):
            policy = "mixed_bfloat16"
            where = f"a CPU with bfloat16 instructions ({flag})" if flag else "a GPU"
            log.info("train.precision auto: mixed_bfloat16 on %s (train.precision: float32 to keep float32)", where)
        else:
            policy = "float32"
    keras.config.set_dtype_policy(policy)
    return policy


def bfloat16_cpu() -> str | None:
    """On torch on a CPU that multiplies bfloat16 in hardware, the cpuinfo flag that says so
    (device.cpu_bfloat16_flag), else None. jax's and TensorFlow's CPU kernels were not measured
    there: they keep float32."""
    return cpu_bfloat16_flag() if keras.backend.backend() == "torch" and not on_gpu() else None


def on_gpu() -> bool:
    if keras.backend.backend() == "torch":
        import torch

        return torch.cuda.is_available()
    if keras.backend.backend() == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    return bool(sys.modules.get("tensorflow")) and bool(sys.modules["tensorflow"].config.list_physical_devices("GPU"))
