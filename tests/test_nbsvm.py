"""The nbsvm encoder (models/nbsvm.py): naive-Bayes log-count ratios from the training rows, a learned weight
around them, the wide path into the logits; and the head's input dropout (ModDrop) that fusing it asks for."""

import json

import keras
import numpy as np
import pytest
from conftest import run_cli, train_shipped
from harness import batch, check_padding_invariance, check_saving, make, run

from kerasclf.config import load_config
from kerasclf.errors import UserError
from kerasclf.models import nbsvm
from kerasclf.models.build import build_network
from kerasclf.models.compile import compile_model
from kerasclf.models.head import InputDropout

WORDS = "{type: nbsvm, ngram_buckets: 0, ngram_order: 2}"
TRIGRAMS = "{type: nbsvm, ngram_buckets: 64, ngram_order: 3}"


def value(t):
    return keras.ops.convert_to_numpy(keras.ops.stop_gradient(t))


def adapted(encoder: str, ids, labels, classes=2, vocab=10):
    cfg = load_config(overrides=[f"inputs.0.encoder={encoder}", "head.units=[]", "inputs.0.max_length=24"])
    keras.utils.set_random_seed(0)
    model = build_network(cfg, {"review": vocab}, classes)
    nbsvm.adapt(model, cfg.inputs[0], np.asarray(ids, "int32"), np.asarray(labels))
    return cfg, model, keras.ops.convert_to_numpy(model.get_layer("review_nbsvm").ratios)


def test_ratios_are_log_count_ratios_of_the_texts_holding_each_word_each_counted_once():
    # word 2 is in both positive texts (twice in the first: it counts once), 5 in both negative ones
    _, _, r = adapted(WORDS, [[2, 2, 3], [2, 4, 0], [5, 3, 0], [5, 0, 0]], [1, 1, 0, 0])
    pos, neg = np.ones(10), np.ones(10)  # alpha = 1 for every word; row 0 (padding) is left out of the norms
    pos[[2, 3, 4]] += [2, 1, 1]
    neg[[3, 5]] += [1, 2]
    expected = np.log(pos / pos[1:].sum()) - np.log(neg / neg[1:].sum())
    expected[0] = 0.0
    np.testing.assert_allclose(r[:, 1], expected, rtol=1e-6)
    np.testing.assert_allclose(r[:, 0], -expected, rtol=1e-6)  # two classes: one against the rest is the mirror
    assert r[2, 1] > r[3, 1] > r[5, 1]  # a positive-only word > a word in both > a negative-only word


@pytest.mark.parametrize("multilabel", [False, True])
def test_each_class_is_scored_one_against_the_rest(multilabel):
    ids = batch(12, vocab=10)
    labels = np.array([0, 1, 2] * 4)
    targets = np.eye(3, dtype=int)[labels]
    if multilabel:
        targets[::2, 1] = 1  # rows with two labels
    _, _, r = adapted(TRIGRAMS, ids, targets if multilabel else labels, classes=3)
    for c in range(3):
        _, _, binary = adapted(TRIGRAMS, ids, targets[:, c])
        np.testing.assert_allclose(r[:, c], binary[:, 1], rtol=1e-5, atol=1e-6)


def test_an_adapted_model_classifies_by_naive_bayes_before_its_first_step():
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(2, 6, size=(8, 6)), rng.integers(6, 10, size=(8, 6))  # disjoint vocabularies
    ids = np.concatenate([pos, neg]).astype("int32")
    labels = np.array([1] * 8 + [0] * 8)
    _, model, _ = adapted(TRIGRAMS, ids, labels)
    assert (run(model, review=ids).argmax(1) == labels).all()
    fresh = make(TRIGRAMS, 0, "head.units=[]", vocab=10)[1]  # not adapted: no ratios, every text scores 0
    assert np.allclose(run(fresh, review=ids), run(fresh, review=ids)[:1])


def test_an_adapted_model_ignores_padding_round_trips_a_keras_file_and_trains(tmp_path):
    x = batch(12, vocab=10)
    y = np.array([0, 1] * 6)
    cfg, model, ratios = adapted(TRIGRAMS, x, y)
    check_padding_invariance(model, {"review": x})
    again = check_saving(model, {"review": x}, tmp_path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again.get_layer("review_nbsvm").ratios), ratios)
    compile_model(model, cfg.train, 2, steps_per_epoch=3)
    layer = model.get_layer("review_nbsvm")
    before = keras.ops.convert_to_numpy(layer.weights_table).copy()
    model.fit({"review": x}, y, batch_size=4, epochs=1, verbose=0)
    assert not np.allclose(keras.ops.convert_to_numpy(layer.weights_table), before)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.ratios), ratios)  # fixed while training


def test_with_folds_each_training_text_is_scored_by_the_ratios_of_the_other_folds_and_new_texts_by_all():
    folded = "{type: nbsvm, ngram_buckets: 64, ngram_order: 3, folds: 3}"
    x, y = batch(30, vocab=10), np.array([0, 1] * 15)
    _, model, ratios = adapted(folded, x, y)
    _, _, plain = adapted(TRIGRAMS, x, y)
    np.testing.assert_allclose(ratios, plain, rtol=1e-6)  # the table new texts meet: every training row
    fold = keras.ops.convert_to_numpy(nbsvm.fold_of(x, 3))
    np.testing.assert_array_equal(fold, x.sum(1) % 3)
    assert len(set(fold)) == 3
    layer = model.get_layer("review_nbsvm")
    tables = keras.ops.convert_to_numpy(layer.fold_ratios).reshape(3, layer.rows, 2)
    for k in range(3):
        _, _, without = adapted(TRIGRAMS, x[fold != k], y[fold != k])
        np.testing.assert_allclose(tables[k], without, rtol=1e-5, atol=1e-6)
    scores = {t: value(layer(x, training=t)[0]) for t in (True, False)}
    rows, present = (keras.ops.convert_to_numpy(a) for a in layer.features(x))
    w = keras.ops.convert_to_numpy(layer.weights_table)[rows] + nbsvm.W_OFFSET
    mask = present[..., None] / nbsvm.R_SCALE
    np.testing.assert_allclose(scores[False], w * ratios[rows] * mask, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(scores[True], w * tables[fold[:, None], rows] * mask, rtol=1e-5, atol=1e-7)


def cnn_and_nb(head: str = "{units: [4]}", cnn: str = ""):
    """(config, model) of a CNN on the deep path and NBSVM on the wide one, vocabularies of 50; `head` is a
    YAML mapping, `cnn` more keys of the CNN's encoder."""
    cfg = load_config(
        overrides=[
            f"inputs=[{{name: cnn, encoder: {{type: cnn, filters: 4, embedding_dim: 8, kernel_sizes: [3]{cnn}}}}},"
            f" {{name: nb, encoder: {TRIGRAMS}}}]",
            f"head={head}",
        ]
    )
    return cfg, build_network(cfg, {"cnn": 50, "nb": 50}, 2)


def mean_ce(y, logits) -> float:
    return float(value(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)).mean())


def test_with_a_deep_input_its_scores_join_the_logits_through_an_identity_dense():
    _, model = cnn_and_nb()
    x = {"cnn": batch(), "nb": batch(seed=2)}
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("wide_logits").kernel), np.eye(2))
    parts = keras.Model(model.inputs, [model.get_layer(n).output for n in ("deep_logits", "wide_logits")])
    deep, wide = (keras.ops.convert_to_numpy(a) for a in parts(x, training=False))
    np.testing.assert_allclose(run(model, **x), deep + wide, atol=1e-6)


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_path_loss_adds_the_deep_and_the_wide_logits_own_losses(weight):
    cfg, model = cnn_and_nb(f"{{units: [4], dropout: 0.0, path_loss: {weight}}}", cnn=", dropout: 0")
    x, y = {"cnn": batch(), "nb": batch(seed=2)}, np.array([0, 1, 1, 0, 1, 0])
    nbsvm.adapt(model, cfg.inputs[1], x["nb"], y)
    compile_model(model, cfg.train, 2, steps_per_epoch=3)
    fused = model(x, training=True)
    paths = keras.Model(model.inputs, [model.get_layer(n).output for n in ("deep_logits", "wide_logits")])(x)
    ce = [mean_ce(y, t) for t in (fused, *paths)]
    assert value(model.compute_loss(x, y, fused, training=True)) == pytest.approx(ce[0] + weight * (ce[1] + ce[2]))
    assert model._paths.paths is None  # handed over once, for this batch
    assert value(model.compute_loss(x, y, fused, training=False)) == pytest.approx(ce[0])


def test_input_dropout_drops_whole_inputs_per_example_never_all_and_only_while_training():
    a, b = np.ones((4000, 3), "float32"), np.ones((4000, 2), "float32")
    keras.utils.set_random_seed(0)
    layer = InputDropout(0.5)
    out_a, out_b = (keras.ops.convert_to_numpy(t) for t in layer([a, b], training=True))
    assert set(np.unique(out_a)) == {0.0, 1.0} and (out_a == out_a[:, :1]).all()  # whole rows, not units
    kept_a, kept_b = out_a[:, 0] > 0, out_b[:, 0] > 0
    assert (kept_a | kept_b).all()  # never both
    assert abs((~kept_a).mean() - 0.25) < 0.03 and abs((~kept_b).mean() - 0.25) < 0.03  # 0.5 * (1 - 0.5)
    for t, x in zip(layer([a, b], training=False), (a, b)):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(t), x)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("inputs.0.encoder={type: nbsvm, alpha: 0}", r"^inputs\.0\.encoder\.alpha: expected a positive number"),
        ("inputs.0.encoder={type: nbsvm, folds: 1}", r"^inputs\.0\.encoder\.folds: expected 0 \(off\) or at least 2"),
        ("inputs.0.encoder={type: nbsvm, learning_rate: -1}", r"^inputs\.0\.encoder\.learning_rate: expected a pos"),
        ("head.input_dropout=1.0", r"^head\.input_dropout: expected a rate from 0 up to"),
    ],
)
def test_bad_values_are_named(override, message):
    with pytest.raises(UserError, match=message):
        load_config(overrides=[override])


def test_the_shipped_nbsvm_config_trains_on_the_sample_and_predicts_from_its_run_folder(tmp_path):
    run_dir, m = train_shipped("imdb_nbsvm.yaml", tmp_path, "train.epochs=1", "inputs.0.encoder.ngram_buckets=20000")
    assert m["test"]["accuracy"] > 0.7  # naive Bayes alone reads the sample's sentiment words
    texts = ["A wonderful, moving film. Superb acting.", "Awful, boring and a waste of time."]
    r = run_cli("predict", "--run", str(run_dir), *(a for t in texts for a in ("--text", t)))
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["label"] for line in r.stdout.strip().splitlines()] == ["pos", "neg"]


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_input_loss_scores_each_inputs_own_logits_alone(weight):
    # two deep inputs (a CNN and a bag) and a wide one (nb): each deep input's features get their own Dense to
    # the classes, the wide input's scores are its own logits; loss = L(fused) + weight * sum of those
    cfg = load_config(
        overrides=[
            "inputs=[{name: cnn, encoder: {type: cnn, filters: 4, embedding_dim: 8, kernel_sizes: [3], dropout: 0}},"
            " {name: bag, encoder: {type: bow, embedding_dim: 4, ngram_buckets: 64, ngram_order: 2}},"
            f" {{name: nb, encoder: {TRIGRAMS}}}]",
            f"head={{units: [4], dropout: 0.0, input_loss: {weight}}}",
        ]
    )
    model = build_network(cfg, {"cnn": 50, "bag": 50, "nb": 50}, 2)
    x, y = {"cnn": batch(), "bag": batch(seed=3), "nb": batch(seed=2)}, np.array([0, 1, 1, 0, 1, 0])
    nbsvm.adapt(model, cfg.inputs[2], x["nb"], y)
    compile_model(model, cfg.train, 2, steps_per_epoch=3)
    fused = model(x, training=True)
    names = ("cnn_alone_logits", "bag_alone_logits", "nb_pool")
    if weight == 0:  # nothing is added to the model when the weight is 0
        assert not any(layer.name.endswith("_alone_logits") for layer in model.layers)
        assert value(model.compute_loss(x, y, fused, training=True)) == pytest.approx(mean_ce(y, fused))
        return
    own = keras.Model(model.inputs, [model.get_layer(n).output for n in names])(x)
    assert [tuple(t.shape) for t in own] == [(6, 2)] * 3
    ce = [mean_ce(y, t) for t in (fused, *own)]
    assert value(model.compute_loss(x, y, fused, training=True)) == pytest.approx(ce[0] + weight * sum(ce[1:]))
    assert value(model.compute_loss(x, y, fused, training=False)) == pytest.approx(ce[0])  # evaluation: fused only
    # the inputs' own logits do not change the prediction: the fused logits are the deep and wide paths' sum
    parts = keras.Model(model.inputs, [model.get_layer(n).output for n in ("deep_logits", "wide_logits")])
    deep, wide = (value(a) for a in parts(x, training=False))
    np.testing.assert_allclose(run(model, **x), deep + wide, atol=1e-6)


def test_input_loss_round_trips_and_a_negative_weight_stops_with_one_line(tmp_path):
    _, model = cnn_and_nb("{units: [4], input_loss: 1.0, path_loss: 0.5}")
    check_saving(model, {"cnn": batch(), "nb": batch(seed=2)}, tmp_path)
    with pytest.raises(UserError, match=r"^head\.input_loss: expected a weight >= 0, got -1"):
        load_config(overrides=["head.input_loss=-1"])
