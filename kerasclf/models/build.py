"""`build_model(cfg, data)`: one encoder per input, a shared head, compiled and ready for `model.fit`."""
from __future__ import annotations

import keras

from kerasclf.config import Config
from kerasclf.models import registry
from kerasclf.models.compile import compile_model
from kerasclf.models.head import head
from kerasclf.models.mixup import Classifier, EmbeddingMixup


def build_network(cfg: Config, vocab_sizes: dict[str, int], num_classes: int) -> keras.Model:
    inputs, features = {}, []
    for inp in cfg.inputs:
        ids = keras.Input(shape=(None,), dtype="int32", name=inp.name)
        encoder = registry.get(inp.encoder.type)
        x, mask = encoder.embed(ids, inp, vocab_sizes[inp.name])
        if cfg.train.mixup_alpha > 0:
            x, mask = EmbeddingMixup(name=f"{inp.name}_mixup")(x, mask)
        features.append(encoder.encode(x, mask, inp))
        inputs[inp.name] = ids
    return Classifier(inputs, head(features, cfg.head, num_classes), name=cfg.name,
                      mixup_alpha=cfg.train.mixup_alpha, seed=cfg.train.seed)


def build_model(cfg: Config, data) -> keras.Model:
    """A compiled keras.Model for `cfg` that trains on `data.train` (from `load_data`)."""
    keras.utils.set_random_seed(cfg.train.seed)
    vocab_sizes = {name: tok.vocab_size for name, tok in data.tokenizers.items()}
    model = build_network(cfg, vocab_sizes, data.num_classes)
    return compile_model(model, cfg.train, data.num_classes, len(data.train))
