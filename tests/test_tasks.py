"""Beyond one label per text: multilabel runs in three label layouts, class weights, balanced
sampling, temperature calibration and tuned thresholds, through the run folder to predict.

The fixtures are small files in the shapes users bring: emotions.tsv (GoEmotions: a `labels`
column of comma-separated names), emotions.jsonl (a JSON list of integer ids, named by
data.class_names), toxic.csv (Jigsaw toxic comments: one 0/1 column per class). Each label has its
own words in the texts, so a small CNN learns them in a few epochs.
"""

import csv
import json

import numpy as np
import pytest
from conftest import EMOTIONS, FIXTURES, MULTILABEL, QUICK, fast_config, run_cli

import kerasclf
from kerasclf.calibration import apply_temperature
from kerasclf.data.batching import Batches
from kerasclf.data.sources import load_raw
from kerasclf.train import train

_config = fast_config


def test_the_three_label_layouts_give_the_same_targets():
    tsv = load_raw(_config(*MULTILABEL))
    jsonl = load_raw(_config(*MULTILABEL, f"data.source={FIXTURES / 'emotions.jsonl'}", f"data.class_names={EMOTIONS}"))
    assert tsv.class_names == sorted(EMOTIONS) and jsonl.class_names == EMOTIONS
    order = [tsv.class_names.index(c) for c in EMOTIONS]  # the same rows, classes in another order
    np.testing.assert_array_equal(tsv.train.labels[:, order], jsonl.train.labels)
    with open(FIXTURES / "emotions.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    no_label = sum(1 for r in rows if not r["labels"])
    total = sum(len(s) for s in (tsv.train, tsv.validation, tsv.test))
    assert total == len(rows) and no_label > 0
    assert sum(int((s.labels.sum(axis=1) == 0).sum()) for s in (tsv.train, tsv.validation, tsv.test)) == no_label
    toxic = load_raw(
        _config(
            "task=multilabel",
            f"data.source={FIXTURES / 'toxic.csv'}",
            "data.label_columns=[toxic, insult, obscene]",
            "inputs.0.column=comment_text",
            "train.early_stopping.monitor=auto",
        )
    )
    assert toxic.class_names == ["toxic", "insult", "obscene"] and toxic.train.labels.shape[1] == 3
    with open(FIXTURES / "toxic.csv", newline="") as f:
        first = next(csv.DictReader(f))
    assert first["id"] == "t000" and (first["toxic"], first["insult"], first["obscene"]) == ("1", "0", "0")


def test_a_multilabel_run_scores_thresholds_and_calibrates(multilabel_run):
    m = json.loads((multilabel_run / "metrics.json").read_text())
    test = m["test"]
    for key in ("f1_micro", "f1_macro", "subset_accuracy", "hamming_loss", "roc_auc_macro", "average_precision_macro"):
        assert 0.0 <= test[key] <= 1.0, key
    assert test["f1_micro"] > 0.6  # each label has its own words: a 6-epoch CNN learns them
    assert set(test["per_class"]) == set(EMOTIONS)
    decision = json.loads((multilabel_run / "decision.json").read_text())
    assert decision["task"] == "multilabel" and len(decision["thresholds"]) == 4
    assert [test["per_class"][c]["threshold"] for c in sorted(EMOTIONS)] == pytest.approx(decision["thresholds"])
    assert decision["temperature"] > 0 and test["calibration"]["temperature"] == decision["temperature"]
    assert m["validation"]["calibration"]["ece_after"] <= m["validation"]["calibration"]["ece_before"] + 1e-9
    for png in ("per_class_f1.png", "reliability.png", "training_curves.png"):
        assert (multilabel_run / png).is_file(), png
    assert not (multilabel_run / "confusion_matrix.png").exists()
    with open(multilabel_run / "history.csv") as f:
        row = next(csv.DictReader(f))
    assert {"loss", "f1_micro", "f1_macro", "val_loss", "val_f1_macro", "val_hamming_loss"} <= set(row)
    log = (multilabel_run / "train.log").read_text()
    assert "labels per train row; rows with no label: train " in log


def test_multilabel_predict_returns_every_label_over_its_threshold(multilabel_run):
    run = kerasclf.load_run(multilabel_run)
    texts = ["Happy glad delighted.", "Adore love darling cherish.", "The thread today."]
    results = run.predict(texts)
    probs = run.predict_proba(texts)
    thresholds = np.asarray(run.rule.thresholds)
    for r, p in zip(results, probs):
        assert set(r["probabilities"]) == set(run.class_names)
        over = [c for c, pc, t in zip(run.class_names, p, thresholds) if pc >= t]
        assert sorted(r["labels"]) == sorted(over)
        assert r["label"] == (max(over, key=lambda c: p[run.class_names.index(c)]) if over else None)
    assert "joy" in results[0]["labels"] and "love" in results[1]["labels"]
    # the probabilities are the sigmoid of the logits divided by the run's temperature
    logits = np.asarray(run.model.predict(run.encode(texts), verbose=0), float)
    np.testing.assert_allclose(probs, apply_temperature(logits, run.rule.temperature, True), atol=1e-6)
    cli = run_cli("predict", "--run", str(multilabel_run), "--text", texts[1])
    assert cli.returncode == 0, cli.stderr
    assert "love" in json.loads(cli.stdout.strip().splitlines()[-1])["labels"]


def test_a_fixed_threshold_is_used_for_every_label(tmp_path):
    run_dir = train(_config(*MULTILABEL, "decision.threshold=0.5", "calibration=none", "train.epochs=2"), tmp_path)
    decision = json.loads((run_dir / "decision.json").read_text())
    assert decision["thresholds"] == [0.5] * 4 and decision["temperature"] == 1.0


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            [f"data.source={FIXTURES / 'emotions.jsonl'}", "data.class_names=[joy, anger]"],
            "data.class_names: 2 names, but train has label id 3",
        ),
        (
            [f"data.source={FIXTURES / 'toxic.csv'}", "data.label_column=toxic", "inputs.0.column=comment_text"],
            "data.label_delimiter: ',' splits no label of the train split of",
        ),
        (["data.class_names=[joy, anger, love, surprise, fear]"], "data: class 'fear' never occurs in the train split"),
        (["data.class_names=[joy, anger, love]"], "data.class_names: labels ['surprise'] are not among"),
        (["train.class_weight={joy: 2, grief: 3}"], "train.class_weight.grief: not a class"),
        (["data.sampling=balanced"], "data.sampling: balanced draws rows by their one class (multiclass)"),
        (["train.early_stopping.monitor=val_accuracy"], "train.early_stopping.monitor: val_accuracy is not logged"),
        (["decision.min_positives=-1"], "decision.min_positives: expected a whole number >= 0, got -1"),
    ],
)
def test_bad_multilabel_input_exits_2_with_one_line(tmp_path, overrides, message):
    sets = [a for s in [*MULTILABEL, *overrides] for a in ("--set", s)]
    r = run_cli("train", "--output-dir", str(tmp_path), *sets)
    assert r.returncode == 2, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, last
    assert "Traceback" not in r.stderr and not any(tmp_path.iterdir())


def test_balanced_class_weights_and_sampling(tmp_path):
    cfg = kerasclf.load_config(overrides=[*QUICK, "train.class_weight=balanced"])
    data = kerasclf.load_data(cfg, progress=False)
    y = data.raw.train.labels
    counts = np.bincount(y)
    np.testing.assert_allclose(data.class_weights, len(y) / (2 * counts), rtol=1e-6)
    x, labels, w = data.train[0]
    np.testing.assert_allclose(w, data.class_weights[labels], rtol=1e-6)
    # data.sampling: balanced: an epoch of len(y) rows drawn with replacement, the classes equally likely
    skewed = np.r_[np.zeros(900, np.int32), np.ones(100, np.int32)]
    cfg = kerasclf.load_config(overrides=[*QUICK, "data.sampling=balanced"])
    from kerasclf.weights import sampling_probabilities

    p = sampling_probabilities(cfg, skewed)
    ids = {"review": np.ones((1000, 8), np.int32)}
    batches = Batches(ids, skewed, 100, shuffle=True, seed=1, sample_p=p)
    drawn = np.concatenate([batches[i][1] for i in range(len(batches))])
    assert len(drawn) == 1000 and 0.44 < drawn.mean() < 0.56
    # multilabel: each class's positive cells weigh its negatives / positives
    ml = kerasclf.load_data(_config(*MULTILABEL, "train.class_weight=balanced"), progress=False)
    pos = ml.raw.train.labels.sum(axis=0)
    np.testing.assert_allclose(ml.pos_weight, (len(ml.raw.train.labels) - pos) / pos, rtol=1e-6)
    model = kerasclf.build_model(ml.config, ml)
    assert model.loss.pos_weight == pytest.approx(list(ml.pos_weight))


def test_binary_threshold_best_f1_round_trips_through_the_run_folder(tmp_path):
    run_dir = train(kerasclf.load_config(overrides=[*QUICK, "decision.threshold=best_f1"]), tmp_path)
    decision = json.loads((run_dir / "decision.json").read_text())
    assert decision["task"] == "multiclass" and 0 < decision["threshold"] < 1 and decision["temperature"] > 0
    m = json.loads((run_dir / "metrics.json").read_text())
    assert {"mcc", "balanced_accuracy"} <= set(m["test"])
    run = kerasclf.load_run(run_dir)
    texts = ["A wonderful, moving film.", "Dull and far too long.", "It was a film."]
    probs = run.predict_proba(texts)
    for r, p in zip(run.predict(texts), probs):
        assert r["label"] == ("pos" if p[1] >= decision["threshold"] else "neg")
    with open(run_dir / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert all((r["predicted"] == "pos") == (float(r["p_pos"]) >= decision["threshold"]) for r in rows)


def test_early_stopping_on_val_mcc_logs_it_every_epoch(tmp_path):
    cfg = kerasclf.load_config(overrides=[*QUICK, "train.early_stopping.monitor=val_mcc"])
    run_dir = train(cfg, tmp_path)
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert all(-1 <= float(r["val_mcc"]) <= 1 for r in rows) and "val_balanced_accuracy" in rows[0]
    m = json.loads((run_dir / "metrics.json").read_text())
    best = max(range(len(rows)), key=lambda i: float(rows[i]["val_mcc"])) + 1
    assert m["best_epoch"] == best
