"""`build_model(cfg, data)`: one encoder per input, a shared head, compiled and ready for `model.fit`.

With pretrained inputs the model has two levels: each backbone is a sub-model `<input>_backbone`
(token and segment ids -> one feature vector), and everything else (the other encoders, fusion,
head) is the sub-model `core`, which takes those vectors as inputs named `<input>__features`.
train.py trains `core` alone on cached backbone outputs when every backbone is frozen.
"""

from __future__ import annotations

import keras

from kerasclf.config import Config
from kerasclf.models import registry
from kerasclf.models.compile import compile_model
from kerasclf.models.head import head
from kerasclf.models.mixup import Classifier, EmbeddingMixup

FEATURES = "__features"  # core's input for a pretrained input: the backbone's feature vector


def _pretrained():
    from kerasclf.models import pretrained  # imports keras-hub: only for configs that use it

    return pretrained


def build_network(cfg: Config, vocab_sizes: dict[str, int], num_classes: int) -> keras.Model:
    mixup = cfg.train.mixup_alpha > 0
    branches = [inp for inp in cfg.inputs if inp.encoder.type == "pretrained"]
    core_inputs, features = {}, []
    for inp in cfg.inputs:
        if inp in branches:
            vec = keras.Input(shape=(_pretrained().feature_dim(inp),), name=inp.name + FEATURES)
            core_inputs[inp.name + FEATURES] = vec
            features.append(vec)
            continue
        ids = keras.Input(shape=(None,), dtype="int32", name=inp.name)
        encoder = registry.get(inp.encoder.type)
        x, mask = encoder.embed(ids, inp, vocab_sizes[inp.name])
        if mixup:
            x, mask = EmbeddingMixup(name=f"{inp.name}_mixup")(x, mask)
        features.append(encoder.encode(x, mask, inp))
        core_inputs[inp.name] = ids
    logits = head(features, cfg.head, num_classes)
    options = dict(name=cfg.name, mixup_alpha=cfg.train.mixup_alpha, seed=cfg.train.seed)
    if not branches:
        return Classifier(core_inputs, logits, **options)
    # the core first, then the backbones: the head starts from the same random weights either way
    core = keras.Model(core_inputs, logits, name="core")
    inputs, core_args = {}, {}
    for inp in cfg.inputs:
        ids = keras.Input(shape=(None,), dtype="int32", name=inp.name)
        inputs[inp.name] = ids
        if inp in branches:
            segments = keras.Input(shape=(None,), dtype="int32", name=inp.name + _pretrained().SEGMENTS)
            inputs[inp.name + _pretrained().SEGMENTS] = segments
            core_args[inp.name + FEATURES] = _pretrained().branch(inp, mixup)(
                {inp.name: ids, inp.name + _pretrained().SEGMENTS: segments}
            )
        else:
            core_args[inp.name] = ids
    return Classifier(inputs, core(core_args), **options)


def build_model(cfg: Config, data) -> keras.Model:
    """A compiled keras.Model for `cfg` that trains on `data.train` (from `load_data`)."""
    keras.utils.set_random_seed(cfg.train.seed)
    vocab_sizes = {name: tok.vocab_size for name, tok in data.tokenizers.items()}
    set_precision(cfg)
    model = build_network(cfg, vocab_sizes, data.num_classes)
    rates = (
        _pretrained().backbone_learning_rates(model, cfg)
        if any(i.encoder.type == "pretrained" for i in cfg.inputs)
        else []
    )
    return compile_model(model, cfg.train, data.num_classes, len(data.train), rates)


def set_precision(cfg: Config) -> str:
    """Keras' global dtype policy for `train.precision` (auto: mixed bfloat16 on a GPU when a
    pretrained backbone is fine-tuned, float32 otherwise)."""
    policy = cfg.train.precision
    if policy == "auto":
        finetuned = any(i.encoder.type == "pretrained" and not i.encoder.freeze for i in cfg.inputs)
        policy = "mixed_bfloat16" if finetuned and _pretrained().on_gpu() else "float32"
    keras.config.set_dtype_policy(policy)
    return policy
