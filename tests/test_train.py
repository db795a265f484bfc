import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import FIXTURES, QUICK, ROOT, run_cli, run_python

import kerasclf

ARTIFACTS = [
    "config.yaml",
    "model.keras",
    "history.csv",
    "metrics.json",
    "training_curves.png",
    "confusion_matrix.png",
    "reliability.png",
    "decision.json",
    "predictions.csv",
    "labels.json",
    "tokenizers/review.json",
    "train.log",
]


def test_training_on_the_sample_writes_every_artifact(sample_run):
    for name in ARTIFACTS:
        assert (sample_run / name).is_file(), name
    log = (sample_run / "train.log").read_text()
    assert "best epoch" in log
    # a data line (rows per split, classes) and a line per epoch with its metrics and seconds
    assert re.search(
        r"data: sample: 1350 train, 150 validation, 500 test rows; 2 classes, in train: neg \d+, pos \d+", log
    )
    assert re.search(r"epoch 1/2: accuracy 0\.\d{4}, .*val_loss \d\.\d{4} \(\d+\.\d s\)", log)
    assert "epoch 2/2:" in log and "\r" not in log and "\x1b" not in log  # no progress-bar animation
    assert not (sample_run / "backup").exists() and not (sample_run / "checkpoints").exists()
    m = json.loads((sample_run / "metrics.json").read_text())
    for split in ("validation", "test"):
        for key in ("accuracy", "f1_macro", "precision_macro", "recall_macro", "roc_auc"):
            assert 0.0 <= m[split][key] <= 1.0
    assert m["test"]["count"] == 500
    with open(sample_run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]  # from 1, as train.log and best_epoch count
    assert 1 <= m["best_epoch"] <= 2
    assert {"loss", "accuracy", "f1_macro", "val_loss", "val_accuracy", "val_f1_macro"} <= set(rows[0])
    with open(sample_run / "predictions.csv") as f:
        preds = list(csv.DictReader(f))
    assert len(preds) == 500 and set(preds[0]) == {"text", "label", "predicted", "correct", "p_neg", "p_pos"}
    acc = np.mean([int(r["correct"]) for r in preds])
    assert acc == pytest.approx(m["test"]["accuracy"])
    import matplotlib.image

    for png in ("training_curves.png", "confusion_matrix.png"):  # large enough to read the numbers
        height, width = matplotlib.image.imread(sample_run / png).shape[:2]
        assert height >= 500 and width >= 600, (png, height, width)


def test_model_file_holds_the_weights_without_the_optimizer_state(sample_run):
    """model.keras is what is served: the weights, not Adam's two moments of each (resuming reads
    backup/, written while training)."""
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(sample_run / "model.keras") as z, h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
        assert "optimizer" not in f and "layers" in f
    model = kerasclf.load_run(sample_run).model
    assert model.name == "sample_cnn" and model.count_params() > 0


def test_resolved_config_reloads_to_the_same_model(sample_run):
    cfg = kerasclf.load_config(sample_run / "config.yaml")
    run = kerasclf.load_run(sample_run)
    assert cfg == run.config
    from kerasclf.models.build import build_network

    rebuilt = build_network(cfg, {n: t.vocab_size for n, t in run.tokenizers.items()}, 2)
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in run.model.weights]


def test_predict_after_reload_equals_predict_before_save(sample_run):
    # predictions.csv was written by the trained model in memory, before model.keras was saved
    with open(sample_run / "predictions.csv") as f:
        rows = list(csv.DictReader(f))[:40]
    run = kerasclf.load_run(sample_run)
    probs = run.predict_proba([r["text"] for r in rows])
    expected = np.array([[float(r["p_neg"]), float(r["p_pos"])] for r in rows])
    np.testing.assert_allclose(probs, expected, atol=2e-6)
    out = run.predict(["A wonderful film"])
    assert out[0]["label"] in ("neg", "pos") and set(out[0]["probabilities"]) == {"neg", "pos"}


def test_head_tail_truncation_for_word_tokens_survives_the_run_folder(tmp_path):
    from kerasclf.train import train

    cfg = kerasclf.load_config(
        overrides=[*QUICK, "inputs.0.tokenizer.truncation=head_tail", "inputs.0.tokenizer.head_tokens=16"]
    )
    run_dir = train(cfg, tmp_path)
    run = kerasclf.load_run(run_dir)
    assert run.tokenizers["review"].head_tokens == 16
    with open(run_dir / "predictions.csv") as f:
        rows = [r for r in csv.DictReader(f) if len(r["text"].split()) > 100][:20]
    expected = np.array([[float(r["p_neg"]), float(r["p_pos"])] for r in rows])
    np.testing.assert_allclose(run.predict_proba([r["text"] for r in rows]), expected, atol=2e-6)


def test_predict_cli_text_and_input_file(sample_run, tmp_path):
    r = run_cli("predict", "--run", str(sample_run), "--text", "Great film, loved it.", "--text", "Awful.")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert len(lines) == 2 and all(set(d) == {"label", "probabilities"} for d in lines)
    expected = kerasclf.load_run(sample_run).predict(["Great film, loved it.", "Awful."])
    assert [d["label"] for d in lines] == [d["label"] for d in expected]
    txt = tmp_path / "in.txt"
    txt.write_text("first review\n\n!!! ...\nsecond review " + "word " * 100 + "\n")
    r = run_cli("predict", "--run", str(sample_run), "--input", str(txt))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert [d["row"] for d in lines] == [1, 2, 3, 4]  # the file's line numbers, blank lines included
    assert lines[0]["label"] in ("neg", "pos") and "note" not in lines[0]
    assert lines[1]["label"] is None and lines[2]["label"] is None and "no words" in lines[2]["message"]
    assert "cut to 64 tokens of 102" in lines[3]["note"]  # the quick run's max_length is 64
    r = run_cli("predict", "--run", str(sample_run), "--input", str(FIXTURES / "bom.csv"))
    assert r.returncode == 0 and len(r.stdout.strip().splitlines()) == 8
    table = tmp_path / "in.csv"
    table.write_text("id,text\nr7,a fine film\nr8,\nr9,<br /><br />\n")
    r = run_cli("predict", "--run", str(sample_run), "--input", str(table))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.strip().splitlines()]
    assert [(d["row"], d["id"]) for d in lines] == [(1, "r7"), (2, "r8"), (3, "r9")]
    assert [d["label"] is None for d in lines] == [False, True, True]


def test_a_text_with_no_words_gets_no_label_from_every_entry_point(sample_run):
    """Empty, punctuation only, markup only: label None, no probabilities, a message; the same
    from Run.predict and the CLI (the demo's API is tested in test_demo.py)."""
    run = kerasclf.load_run(sample_run)
    texts = ["", "   ", "!!! ... ?", "<br /><p></p>", "A wonderful film."]
    out = run.predict(texts)
    for d in out[:4]:
        assert d["label"] is None and d["probabilities"] == {} and "no words to classify" in d["message"]
    assert out[4]["label"] in ("neg", "pos") and len(out[4]["probabilities"]) == 2
    r = run_cli("predict", "--run", str(sample_run), "--text", "")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip()) == out[0]


def test_same_seed_same_metrics(tmp_path):
    from kerasclf.train import train

    over = [*QUICK, "train.epochs=1", "data.limit=300"]
    a = train(kerasclf.load_config(overrides=over), tmp_path / "a")
    b = train(kerasclf.load_config(overrides=over), tmp_path / "b")
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert ma["test"]["accuracy"] == mb["test"]["accuracy"]
    assert ma["validation"]["f1_macro"] == mb["validation"]["f1_macro"]


def test_ema_run_keeps_the_averaged_weights(tmp_path):
    """train.ema: the run folder's model holds the moving average of the weights, not the last step's.
    With momentum near 1 the average stays at the weights after the first step, while the raw
    weights go on moving."""
    import keras

    from kerasclf.data.load import load_data
    from kerasclf.models.build import build_model
    from kerasclf.train import train

    over = [
        *QUICK,
        "data.limit=300",
        "train.learning_rate=0.01",
        "train.schedule=constant",
        "train.early_stopping=null",
        "train.weight_decay=0",
        "train.clipnorm=null",
    ]
    cfg = kerasclf.load_config(overrides=over)
    keras.utils.set_random_seed(cfg.train.seed)  # as train() does, so the same initial weights
    initial = build_model(cfg, load_data(cfg, progress=False)).get_weights()

    def moved(run_dir):
        weights = kerasclf.load_run(run_dir).model.get_weights()
        return max(float(np.abs(w - w0).max()) for w, w0 in zip(weights, initial))

    raw = moved(train(cfg, tmp_path / "raw"))
    averaged = moved(train(kerasclf.load_config(overrides=[*over, "train.ema=0.999999"]), tmp_path / "ema"))
    # one Adam step moves a weight by at most about the learning rate; the raw run took many steps
    assert averaged <= 0.011 < 5 * 0.01 < raw


# shorter than imdb_cnn.yaml, so its head_tail keeps a head that fits the shorter max_length
NOTEBOOK = [*QUICK, "inputs.0.tokenizer.max_tokens=2000", "inputs.0.tokenizer.head_tokens=16", "train.epochs=1"]


def test_notebook_snippet_from_the_readme():
    """The README's notebook block, run as written (with a shorter config)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- notebook -->", 2)[1].split("```python", 1)[1].split("```", 1)[0]
    block = block.replace(
        'kerasclf.load_config("configs/imdb_cnn.yaml")',
        f'kerasclf.load_config("configs/imdb_cnn.yaml", overrides={NOTEBOOK!r})',
    )
    block = block.replace("epochs=cfg.train.epochs", "epochs=1")
    scope = {}
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        exec(compile(block, "README notebook", "exec"), scope)
    finally:
        os.chdir(cwd)
    assert "model" in scope and scope["history"].history["loss"]
    model, data, clf = scope["model"], scope["data"], scope["clf"]
    with pytest.raises(TypeError, match=r"data\.encode\(texts\).*kerasclf\.text_model"):
        model.predict(["raw text"])
    probs = clf.predict(["A wonderful, moving film.", "Dull."])
    assert probs.shape == (2, 2) and np.allclose(probs.sum(axis=1), 1)
    logits = model.predict(data.encode(["A wonderful, moving film."]), verbose=0)
    assert np.allclose(np.exp(logits) / np.exp(logits).sum(), probs[:1], atol=1e-5)


def test_text_model_of_a_run_folder_takes_strings(sample_run):
    run = kerasclf.load_run(sample_run)
    clf = kerasclf.text_model(sample_run)
    texts = ["A wonderful, moving film.", "Dull and far too long."]
    np.testing.assert_allclose(clf.predict(texts), run.predict_proba(texts))
    assert clf.class_names == ["neg", "pos"] and clf(texts).shape == (2, 2)


def _trained_dirs(out):
    return sorted(p for p in out.iterdir()) if out.exists() else []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config", "missing.yaml"], "--config missing.yaml: no such file"),
        (["--set", "data.source=nowhere.csv"], "data.source: nowhere.csv: no such file or folder"),
        (["--set", "data.source=s3://bucket/x"], "no such file or folder"),
        (["--set", "train.epoch=2"], "train.epoch: unknown key; did you mean 'epochs'?"),
        (
            ["--set", f"data.source={FIXTURES / 'bom.csv'}", "--set", "data.label_column=stars"],
            "column 'stars' is not in",
        ),
        (["--set", f"data.source={FIXTURES / 'single_class.csv'}"], "single class"),
        (["--set", f"data.source={FIXTURES / 'empty_text.csv'}"], "has an empty 'text'"),
        (["--set", "inputs.0.max_length=0"], "inputs.0.max_length: expected an integer >= 1, got 0"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line_and_no_run_folder(tmp_path, args, message):
    out = tmp_path / "runs"
    r = run_cli("train", *args, "--output-dir", str(out))
    assert r.returncode == 2
    assert message in r.stderr
    error_lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "Traceback" not in r.stderr
    assert _trained_dirs(out) == []


def test_cli_trains_default_and_prints_the_run_folder_last(tmp_path):
    r = run_cli("train", "--output-dir", str(tmp_path), *sum((["--set", s] for s in QUICK + ["train.epochs=1"]), []))
    assert r.returncode == 0, r.stderr[-2000:]
    run_dir = r.stdout.strip().splitlines()[-1]
    assert (tmp_path / os.path.basename(run_dir) / "model.keras").is_file()


TIMINGS = ("seconds_fit", "seconds_per_epoch", "tokenize_seconds")


def test_killed_training_resumes_to_the_same_metrics_as_an_uninterrupted_run(tmp_path):
    """SIGKILL once epoch 2 of 4 is backed up, then --resume: history.csv and metrics.json equal an
    uninterrupted run's exactly (dropout, mixup's draws, Keras' batch shuffle and EarlyStopping's
    count are restored with the backup)."""
    from kerasclf.train import train

    over = [*QUICK, "train.epochs=4", "train.mixup_alpha=0.2", "train.early_stopping.patience=2"]
    out = tmp_path / "runs"
    args = [sys.executable, "-m", "kerasclf.train", "--output-dir", str(out), *sum((["--set", s] for s in over), [])]
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 300
        log = None
        while time.time() < deadline and proc.poll() is None:
            found = list(out.glob("*.incomplete/train.log"))
            if found and "epoch 2/4:" in found[0].read_text():  # logged once epoch 2's backup is whole
                log = found[0]
                break
            time.sleep(0.02)
        assert log is not None, "training finished or stalled before epoch 2 was logged"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    run_dir = log.parent
    assert not (run_dir / "model.keras").exists()
    r = run_cli("train", "--resume", str(run_dir))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resuming" in r.stderr and ("at epoch 3 of 4" in r.stderr or "at epoch 4 of 4" in r.stderr)
    final = run_dir.with_name(run_dir.name.removesuffix(".incomplete"))
    assert r.stdout.strip().splitlines()[-1] == str(final)
    assert (final / "model.keras").is_file()

    whole = train(kerasclf.load_config(overrides=over), tmp_path / "whole")
    assert (final / "history.csv").read_text() == (whole / "history.csv").read_text()
    resumed, uninterrupted = (json.loads((d / "metrics.json").read_text()) for d in (final, whole))
    for key in TIMINGS:
        resumed.pop(key), uninterrupted.pop(key)
    assert resumed == uninterrupted
    with open(final / "history.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)][0] == 1  # epochs count from 1, as in the log
    again = run_cli("train", "--resume", str(final))
    assert again.returncode == 2 and "this run finished" in again.stderr


def test_training_and_predicting_never_import_tensorflow(sample_run):
    code = (
        "import sys, kerasclf\n"
        "from kerasclf.train import train\n"
        f"train(kerasclf.load_config(overrides={[*QUICK, 'train.epochs=1', 'data.limit=200']!r}), "
        f"{str(sample_run.parent / 'no_tf')!r})\n"
        f"kerasclf.load_run({str(sample_run)!r}).predict(['a fine film'])\n"
        "print('TF' if 'tensorflow' in sys.modules else 'NO_TF')\n"
    )
    r = run_python(code, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "NO_TF"


def test_longformer_with_mixup_trains_and_predicts_on_the_tensorflow_backend(tmp_path):
    """The encoders use keras.ops only: the same config runs on another backend (TF, installed with keras-hub)."""
    pytest.importorskip("tensorflow")
    # TF_CPP_MIN_LOG_LEVEL=1 is what jax sets on import: it must not bring the start-up lines back
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "1"}
    over = [
        "data.limit=200",
        "train.epochs=1",
        "inputs.0.max_length=48",
        "inputs.0.encoder.attention_window=8",
        "inputs.0.encoder.embedding_dim=16",
        "inputs.0.encoder.ff_dim=16",
        "train.mixup_alpha=0.2",
    ]
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "kerasclf.train",
            "--config",
            "configs/imdb_longformer.yaml",
            "--output-dir",
            str(tmp_path),
            *sum((["--set", s] for s in over), []),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    # TensorFlow's start-up lines (no CUDA driver, cuInit failed, absl's notice) are hidden
    for noise in ("cuda drivers", "cuInit", "absl::InitializeLog", "oneDNN"):
        assert noise not in r.stderr, noise
    run_dir = r.stdout.strip().splitlines()[-1]
    p = subprocess.run(
        [sys.executable, "-m", "kerasclf.predict", "--run", run_dir, "--text", "A fine film."],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert set(json.loads(p.stdout.strip().splitlines()[-1])["probabilities"]) == {"neg", "pos"}


def test_other_libraries_log_lines_are_not_labelled_as_kerasclf():
    """The CLI's `kerasclf:` prefix is for kerasclf's own lines (jax's TPU notice once wore it)."""
    code = (
        "import logging\n"
        "from kerasclf.cli import setup_logging\n"
        "setup_logging()\n"
        "logging.getLogger('kerasclf').info('ours')\n"
        "logging.getLogger('somelib').warning('theirs')\n"
    )
    r = run_python(code, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "kerasclf: ours" in r.stderr and "theirs" in r.stderr and "kerasclf: theirs" not in r.stderr
