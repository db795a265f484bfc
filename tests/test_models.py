import keras
import numpy as np
import pytest

from kerasclf.config import load_config
from kerasclf.models.build import build_network
from kerasclf.models.compile import compile_model

ENCODERS = {
    "cnn": "{type: cnn, embedding_dim: 8, kernel_sizes: [2, 3], filters: 4}",
    "cnn_max_mean": "{type: cnn, embedding_dim: 8, kernel_sizes: [3], filters: 4, pooling: max_mean}",
    "lstm_bi_max": "{type: rnn, cell: lstm, embedding_dim: 8, units: 4, pooling: max}",
    "gru_last": "{type: rnn, cell: gru, embedding_dim: 8, units: 4, pooling: last}",
    "rnn_2layers_mean": "{type: rnn, cell: rnn, embedding_dim: 8, units: 4, layers: 2, bidirectional: false, pooling: mean}",
    "transformer_avg": "{type: transformer, embedding_dim: 8, heads: 2, ff_dim: 8, layers: 2, dropout: 0.0}",
    "transformer_cls_post_sin": "{type: transformer, embedding_dim: 8, heads: 2, ff_dim: 8, pooling: cls, norm: post, positions: sinusoidal}",
    "local_transformer": "{type: local_transformer, embedding_dim: 8, heads: 2, ff_dim: 8, window_size: 4, pooling: max}",
    "local_transformer_no_overlap": "{type: local_transformer, embedding_dim: 8, heads: 2, ff_dim: 8, window_size: 4, overlap: false}",
    "longformer_max_mean": "{type: longformer, embedding_dim: 8, heads: 2, ff_dim: 8, attention_window: 4, pooling: max_mean}",
    "longformer_cls_two_global": "{type: longformer, embedding_dim: 8, heads: 2, ff_dim: 8, attention_window: 4, pooling: cls, global_tokens: [0, 3]}",
}


def make(encoder: str, seed=0, *more):
    cfg = load_config(overrides=[f"inputs.0.encoder={encoder}", "head.units=[4]", "train.batch_size=4",
                                 "inputs.0.max_length=24", *more])
    keras.utils.set_random_seed(seed)
    return cfg, build_network(cfg, {"review": 50}, 2)


def run(model, **x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def batch(n=6, length=10, seed=1):
    rng = np.random.default_rng(seed)
    ids = rng.integers(2, 50, size=(n, length)).astype("int32")
    lengths = rng.integers(1, length + 1, size=n)
    lengths[0] = length
    for i, L in enumerate(lengths):
        ids[i, L:] = 0
    return ids


@pytest.mark.parametrize("name", list(ENCODERS))
def test_encoder_builds_and_trains_a_few_steps(name):
    cfg, model = make(ENCODERS[name])
    compile_model(model, cfg.train, 2, steps_per_epoch=3)
    x = batch(12)
    y = np.array([0, 1] * 6)
    before = [w.copy() for w in model.get_weights()]
    hist = model.fit({"review": x}, y, batch_size=4, epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("name", list(ENCODERS))
def test_padding_does_not_change_outputs(name):
    _, model = make(ENCODERS[name])
    ids = batch()
    wide = np.concatenate([ids, np.zeros((len(ids), 9), "int32")], axis=1)
    a = run(model, review=ids)
    b = run(model, review=wide)
    np.testing.assert_allclose(a, b, atol=1e-5)
    # one review alone gives the same logits as inside a batch
    alone = run(model, review=ids[3:4, : int((ids[3] != 0).sum())])
    np.testing.assert_allclose(alone[0], a[3], atol=1e-5)


@pytest.mark.parametrize("name", ["cnn", "lstm_bi_max", "transformer_cls_post_sin", "local_transformer", "longformer_cls_two_global"])
def test_keras_file_round_trip_with_safe_mode(tmp_path, name):
    _, model = make(ENCODERS[name])
    ids = batch()
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(run(again, review=ids), run(model, review=ids), atol=1e-6)


def test_two_inputs_concatenate_before_one_head():
    cfg = load_config(overrides=["inputs=[{name: a, encoder: {type: cnn, filters: 4, embedding_dim: 8, kernel_sizes: [3]}},"
                                 " {name: b, encoder: {type: rnn, units: 3, embedding_dim: 8}}]", "head.units=[4]"])
    model = build_network(cfg, {"a": 50, "b": 50}, 3)
    assert model.get_layer("fusion_concat").output.shape[-1] == 4 + 6
    assert run(model, a=batch(), b=batch(seed=2)).shape == (6, 3)
