"""Mixup on embeddings: one λ and permutation for every input, the loss mixed to match, never at inference."""

import keras
import numpy as np
import pytest
from harness import mixing, record_mixup
from keras import ops

from kerasclf.config import load_config
from kerasclf.models.build import build_network
from kerasclf.models.compile import compile_model

TWO_INPUTS = (
    "inputs=[{name: a, column: text, max_length: 12, encoder: {type: cnn, embedding_dim: 8, "
    "filters: 4, kernel_sizes: [2], dropout: 0.0}},"
    " {name: b, column: text, max_length: 12, encoder: {type: longformer, embedding_dim: 8, "
    "heads: 2, ff_dim: 8, attention_window: 4, dropout: 0.0, embedding_dropout: 0.0}}]"
)


def build(alpha, seed=3):
    cfg = load_config(
        overrides=[
            TWO_INPUTS,
            "head.dropout=0.0",
            "head.units=[4]",
            f"train.mixup_alpha={alpha}",
            "train.clipnorm=null",
            "train.weight_decay=0.0",
        ]
    )
    keras.utils.set_random_seed(seed)
    model = build_network(cfg, {"a": 40, "b": 40}, 2)
    return cfg, compile_model(model, cfg.train, 2, steps_per_epoch=10)


def data(n=8):
    rng = np.random.default_rng(0)
    x = {k: rng.integers(1, 40, size=(n, 12)).astype("int32") for k in ("a", "b")}
    x["a"][1, 6:] = 0
    x["b"][2, 3:] = 0
    return x, np.array([0, 1] * (n // 2))


def ce(logits, y):
    logits = np.asarray(logits, dtype=np.float64)
    logp = logits - logits.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean()


def test_training_loss_is_the_mixed_loss_computed_by_hand():
    _, model = build(0.4)
    drawn = record_mixup(model)
    x, y = data()
    loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])  # the loss before this step's update
    lam, perm = drawn.drawn
    lam, perm = float(ops.convert_to_numpy(lam)), ops.convert_to_numpy(perm)
    assert 0.0 < lam < 1.0 and sorted(perm.tolist()) == list(range(8))
    _, fresh = build(0.4)  # the same weights as before the step
    with mixing(fresh, lam, perm):
        logits = ops.convert_to_numpy(fresh(x, training=False))
    expected = lam * ce(logits, y) + (1 - lam) * ce(logits, y[perm])
    assert loss == pytest.approx(expected, rel=1e-4)
    # and it is not the unmixed loss
    plain = ce(ops.convert_to_numpy(fresh(x, training=False)), y)
    assert abs(loss - plain) > 1e-4


def test_the_same_lambda_and_permutation_reach_every_input():
    _, model = build(0.4)
    x, _ = data()
    lam, perm = 0.3, np.array([1, 0, 3, 2, 5, 4, 7, 6])
    emb_a = keras.Model(model.inputs, [model.get_layer("a_mixup").output[0], model.get_layer("b_mixup").output[0]])
    plain = [ops.convert_to_numpy(t) for t in emb_a(x)]
    with mixing(model, lam, perm):
        mixed = [ops.convert_to_numpy(t) for t in emb_a(x)]
    for p, m in zip(plain, mixed):
        np.testing.assert_allclose(m, lam * p + (1 - lam) * p[perm], atol=1e-6)


def test_a_step_with_mixup_differs_from_a_step_without():
    x, y = data()
    _, with_mix = build(0.4)
    _, without = build(0.0)
    for a, b in zip(with_mix.trainable_weights, without.trainable_weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    with_mix.train_on_batch(x, y)
    without.train_on_batch(x, y)
    a = ops.convert_to_numpy(with_mix(x, training=False))
    b = ops.convert_to_numpy(without(x, training=False))
    assert not np.allclose(a, b, atol=1e-6)


def test_predictions_do_not_depend_on_alpha():
    x, _ = data()
    _, with_mix = build(0.4)
    _, without = build(0.0)
    for a, b in zip(with_mix.trainable_weights, without.trainable_weights):
        b.assign(a)
    np.testing.assert_allclose(
        ops.convert_to_numpy(with_mix.predict(x, verbose=0)),
        ops.convert_to_numpy(without.predict(x, verbose=0)),
        atol=1e-6,
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(with_mix(x, training=False)),
        ops.convert_to_numpy(with_mix.predict(x, verbose=0)),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "encoder",
    [
        "{type: cnn, embedding_dim: 8, filters: 4, kernel_sizes: [2]}",
        "{type: rnn, cell: gru, embedding_dim: 8, units: 4}",
        "{type: transformer, embedding_dim: 8, heads: 2, ff_dim: 8, pooling: cls}",
        "{type: local_transformer, embedding_dim: 8, heads: 2, ff_dim: 8, window_size: 4}",
        "{type: longformer, embedding_dim: 8, heads: 2, ff_dim: 8, attention_window: 4}",
    ],
)
def test_mixup_trains_with_every_encoder(encoder):
    cfg = load_config(
        overrides=[f"inputs.0.encoder={encoder}", "inputs.0.max_length=12", "head.units=[4]", "train.mixup_alpha=0.2"]
    )
    model = compile_model(build_network(cfg, {cfg.inputs[0].name: 40}, 2), cfg.train, 2, steps_per_epoch=4)
    drawn = record_mixup(model)
    x, y = data()
    loss = model.train_on_batch({cfg.inputs[0].name: x["a"]}, y, return_dict=True)["loss"]
    assert np.isfinite(float(loss)) and drawn.drawn is not None
