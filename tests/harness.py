"""Checks every kerasclf model should pass, in one place (as keras-hub's TestCase.run_layer_test and
run_model_saving_test): it builds, it runs, more padding changes nothing, and a .keras file written
and read back with safe_mode=True gives the same outputs. Also the test-only ways into a model:
its sequence outputs, and mixup with a chosen λ and permutation.

    model = run_encoder_test("{type: cnn, embedding_dim: 8, kernel_sizes: [2, 3], filters: 4}", tmp_path)
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np

from kerasclf import keys
from kerasclf.config import load_config
from kerasclf.models.build import build_network
from kerasclf.models.mixup import EmbeddingMixup, MixState


def make(encoder: str, seed=0, *more, vocab: int = 50, max_length: int = 24):
    """(config, model) for one input `review` with `encoder` (a YAML mapping), built after seeding."""
    cfg = load_config(
        overrides=[
            f"inputs.0.encoder={encoder}",
            "head.units=[4]",
            "train.batch_size=4",
            f"inputs.0.max_length={max_length}",
            *more,
        ]
    )
    keras.utils.set_random_seed(seed)
    return cfg, build_network(cfg, {"review": vocab}, 2)


def run(model, **x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def batch(n=6, length=10, seed=1, vocab: int = 50):
    """Token ids (n, length) in 2..vocab-1, right-padded with 0 to random lengths (row 0 full)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, vocab, size=(n, length)).astype("int32")
    lengths = rng.integers(1, length + 1, size=n)
    lengths[0] = length
    for i, n_real in enumerate(lengths):
        ids[i, n_real:] = 0
    return ids


def pad(x: dict, extra: int) -> dict:
    """Every input's arrays with `extra` more padding columns (token ids 0, segment ids 0)."""
    return {k: np.concatenate([v, np.zeros((len(v), extra), v.dtype)], axis=1) for k, v in x.items()}


def row(x: dict, i: int) -> dict:
    """Row i alone, cut to its real tokens."""
    out = {}
    for k, v in x.items():
        n_real = int((x[keys.base(k)][i] != 0).sum())
        out[k] = v[i : i + 1, :n_real]
    return out


def check_padding_invariance(model, x: dict, atol=1e-5) -> np.ndarray:
    """More padding gives the same outputs, and each text alone (unpadded) what it gets in the batch."""
    out = run(model, **x)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(run(model, **pad(x, 9)), out, atol=atol)
    for i in (0, len(next(iter(x.values()))) // 2):
        np.testing.assert_allclose(run(model, **row(x, i))[0], out[i], atol=atol)
    return out


def check_saving(model, x: dict, tmp_path, atol=1e-6) -> keras.Model:
    """A .keras round trip with safe_mode=True: the reloaded model gives the same outputs."""
    path = tmp_path / "model.keras"
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(run(again, **x), run(model, **x), atol=atol)
    return again


def run_model_test(model, x: dict, tmp_path, num_classes=2) -> None:
    """A built model: one logit per class for each text, padding invariance, the .keras round trip."""
    out = check_padding_invariance(model, x)
    assert out.shape == (len(next(iter(x.values()))), num_classes)
    check_saving(model, x, tmp_path)


def run_encoder_test(encoder: str, tmp_path, *more, vocab: int = 50, max_length: int = 24) -> keras.Model:
    """Build a one-input model with `encoder` and run `run_model_test` on a padded batch of random ids."""
    _, model = make(encoder, 0, *more, vocab=vocab, max_length=max_length)
    run_model_test(model, {"review": batch(vocab=vocab)}, tmp_path)
    return model


# ---------------------------------------------------------------- reaching inside a model
def sequence_model(branch: keras.Model) -> keras.Model:
    """A pretrained branch up to its last transformer layer: (ids, segments) -> (batch, length, hidden)."""
    last = [layer for layer in branch.layers if layer.name.startswith("transformer_layer_")][-1]
    return keras.Model(branch.inputs, last.output)


def _mixup_layers(model):
    return [x for x in model._flatten_layers(include_self=False, recursive=True) if isinstance(x, EmbeddingMixup)]


@contextlib.contextmanager
def mixing(model, lam, perm):
    """Inside the block every EmbeddingMixup of `model` mixes with λ `lam` and permutation `perm`, in
    training and inference alike (the model's own state, which it clears when not training, is left alone)."""
    fixed = MixState()
    fixed.lam, fixed.perm = lam, perm
    layers = _mixup_layers(model)
    for layer in layers:
        layer.state = fixed
    try:
        yield model
    finally:
        for layer in layers:
            layer.state = model._mix


class RecordingMixState(MixState):
    """A MixState that keeps what the model last drew, `drawn` = (λ, permutation): the model clears its
    own state once the step's loss is computed."""

    def __init__(self):
        self.drawn = None
        super().__init__()

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name == "perm" and value is not None:
            self.drawn = (self.lam, value)


def record_mixup(model) -> RecordingMixState:
    """Give `model` and its EmbeddingMixup layers a RecordingMixState; returns it."""
    state = RecordingMixState()
    model._mix = state
    for layer in _mixup_layers(model):
        layer.state = state
    return state
