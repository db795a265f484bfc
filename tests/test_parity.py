"""A run saved on any backend loads and predicts the same (within 1e-4) on the other two.

Every encoder type (and mixup, and a model fusing two inputs) is trained small on each backend
through the train CLI's `main`; each run folder is then loaded on the two other backends and
`predict_proba` of its test texts is compared with the probabilities the training backend wrote to
predictions.csv. A backend's start-up costs seconds, so there are six subprocesses in all: one per
backend trains every case in turn (the three side by side), then one fresh one per backend
(nothing imported or registered by training) loads every run of the other two, starting as soon
as those are written. Also the demo's Service and the word weights of a jax-trained run.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, ROOT

import kerasclf

pytestmark = pytest.mark.slow

BACKENDS = ("torch", "jax", "tensorflow")
ATOL = 1e-4

# 192 reviews of the shipped sample: 48 test, 48 validation and 96 train, two batches of 48. One
# batch shape (and on jax one length, 32) means one compiled program per step function.
SAMPLE = FIXTURES.parent.parent / "kerasclf" / "sample" / "imdb_train.jsonl.gz"
QUICK = [
    f"data.source={SAMPLE}",
    "data.limit=192",
    "data.test=0.25",
    "data.validation=0.3333",
    "inputs.0.max_length=32",
    "head.units=[8]",
    "train.epochs=1",
    "train.batch_size=48",
    # the models' outputs, compared as they are: a one-epoch model's fitted temperature flattens its
    # probabilities to about 0.5 each, too alike to tell one backend's from another's
    "calibration=none",
]
SMALL = "embedding_dim: 16, layers: 1, heads: 2, ff_dim: 16"
BERT = "{tiny_bert}"  # the session's tiny checkpoint goes here


def _encoder(spec: str) -> str:
    return f"inputs.0.encoder={{{spec}}}"


# case -> its --set overrides after QUICK. A checkpoint's features go straight to the logits (a small
# ReLU layer on them can die in one epoch: every text then gets the same probabilities).
CASES: dict[str, list[str]] = {
    "cnn": [_encoder("type: cnn, embedding_dim: 16, filters: 16, kernel_sizes: [3, 5]")],
    "cnn_one_hot": [
        _encoder(
            "type: cnn, one_hot: true, embedding_dropout: 0.1, kernel_sizes: [2, 3], filters: 16, pooling: max_mean,"
            " ngram_vocab: 500"
        )
    ],
    "rnn": [_encoder("type: rnn, cell: gru, embedding_dim: 16, units: 8, pooling: last")],
    "transformer": [_encoder(f"type: transformer, {SMALL}, ngram_buckets: 1000, pooling: cls")],
    "local_transformer": [_encoder(f"type: local_transformer, window_size: 16, {SMALL}")],
    "longformer": [_encoder(f"type: longformer, attention_window: 16, global_tokens: [0], {SMALL}, pooling: cls")],
    "longformer_init_from": [
        _encoder(f"type: longformer, init_from: '{BERT}', attention_window: 16, pooling: cls"),
        "head.units=[]",
    ],
    "pretrained_frozen": [
        _encoder(f"type: pretrained, preset: '{BERT}', freeze: true, pooling: mean"),
        "head.units=[]",
    ],
    "pretrained_finetuned": [
        _encoder(f"type: pretrained, preset: '{BERT}', freeze: false, pooling: cls"),
        "head.units=[]",
        "train.precision=float32",  # auto takes mixed bfloat16 on some CPUs; this tolerance is float32's
    ],
    "mixup": [_encoder("type: cnn, embedding_dim: 16, filters: 16, kernel_sizes: [3]"), "train.mixup_alpha=0.3"],
    "two_inputs": [  # two columns of the pairs fixture (36 train, 12 validation, 16 test rows)
        f"data.source={FIXTURES / 'pairs.csv'}",
        f"data.test={FIXTURES / 'pairs_test.csv'}",
        "data.validation=0.25",
        "inputs=[{name: a, column: first, max_length: 16, tokenizer: {min_freq: 1},"
        " encoder: {type: cnn, embedding_dim: 8, filters: 8, kernel_sizes: [2]}},"
        " {name: b, column: second, max_length: 16, tokenizer: {min_freq: 1},"
        " encoder: {type: cnn, one_hot: true, filters: 8, kernel_sizes: [3]}}]",
        "head.kind=residual_mlp",
        "train.batch_size=12",
    ],
}

# argv: output folder, {case: --set list}, and optionally a case whose run the demo's Service then
# loads and shows (its first test text). Prints RESULT {case: {"run": folder} or {"error": why}, ...}.
TRAIN = r"""
import contextlib, csv, io, json, sys, traceback
import keras
import kerasclf
from kerasclf.train import main

out, cases = sys.argv[1], json.loads(sys.argv[2])
result = {}
for name, sets in cases.items():
    keras.backend.clear_session()
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):  # the run folder is main's last line
            rc = main(["--output-dir", f"{out}/{name}", *[a for s in sets for a in ("--set", s)]])
        result[name] = {"run": printed.getvalue().splitlines()[-1]} if rc == 0 else {"error": f"exit code {rc}"}
    except BaseException:
        result[name] = {"error": traceback.format_exc()[-4000:]}
if len(sys.argv) > 3 and "run" in result.get(sys.argv[3], {}):
    from kerasclf.service import Service

    try:
        service = Service(kerasclf.load_run(result[sys.argv[3]]["run"]))
        with open(service.run.folder.predictions, newline="", encoding="utf-8") as f:
            text = next(csv.DictReader(f))["text"]
        result["service"] = {"labels": service.labels, "view": service.view([text])}
    except BaseException:
        result["service"] = {"error": traceback.format_exc()[-4000:]}
print("RESULT " + json.dumps(result))
"""

# argv: [run folder, ...]. Prints RESULT {folder: {"probs": of its test texts} or {"error": why}}.
LOAD = r"""
import csv, json, sys, traceback
import kerasclf

result = {}
for run_dir in json.loads(sys.argv[1]):
    try:
        run = kerasclf.load_run(run_dir)
        with open(run.folder.predictions, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        columns = list(dict.fromkeys(c for inp in run.config.inputs for c in inp.text_columns))
        texts = [r[columns[0]] if len(columns) == 1 else {c: r[c] for c in columns} for r in rows]
        result[run_dir] = {"probs": run.predict_proba(texts).tolist()}
    except BaseException:
        result[run_dir] = {"error": traceback.format_exc()[-4000:]}
print("RESULT " + json.dumps(result))
"""


class Worker:
    """`python -c CODE ARGS` on a backend, its output to files (no pipe to fill while others run)."""

    def __init__(self, backend: str, code: str, args: list[str], folder: Path, **env):
        folder.mkdir(parents=True, exist_ok=True)
        self.backend, self.out, self.err = backend, folder / f"{backend}.out", folder / f"{backend}.err"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": backend, **env}
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, stderr=err, cwd=ROOT, env=env)
        self.started = time.monotonic()

    def done(self, timeout: float = 600) -> bool:
        if self.proc.poll() is None and time.monotonic() - self.started > timeout:
            self.proc.kill()
            self.proc.wait()
        return self.proc.poll() is not None

    def result(self) -> dict:
        lines = [line for line in self.out.read_text().splitlines() if line.startswith("RESULT ")]
        if self.proc.returncode != 0 or not lines:
            return {"error": f"{self.backend}: exit code {self.proc.returncode}\n{self.err.read_text()[-4000:]}"}
        return json.loads(lines[-1][len("RESULT ") :])


def _runs(trained: dict, but: str) -> list[str]:
    """The run folders trained on every backend but `but`."""
    return [c["run"] for b in BACKENDS if b != but for c in trained[b].values() if isinstance(c, dict) and "run" in c]


@pytest.fixture(scope="module")
def parity(tiny_bert, tmp_path_factory) -> dict:
    """{"trained": {backend: {case: {"run"} or {"error"}, "service": ...}}, "loaded": {backend: {run folder:
    {"probs"} or {"error"}}}}. Each loading backend starts once the two it reads from are done."""
    tmp = tmp_path_factory.mktemp("parity")
    # jax's loader finds the programs that training compiled (a run of the same case trained on
    # another backend has the same shapes; the weights are arguments): seconds less per run
    jax_cache = {"JAX_COMPILATION_CACHE_DIR": str(tmp / "jax_cache"), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    cases = {name: [*QUICK, *(s.replace(BERT, str(tiny_bert)) for s in sets)] for name, sets in CASES.items()}
    training = {
        b: Worker(
            b,
            TRAIN,
            [str(tmp / b), json.dumps(cases), *(["cnn"] if b == "jax" else [])],
            tmp / "train",
            KERASCLF_CACHE=str(tmp / f"features_{b}"),
            **jax_cache,
        )
        for b in BACKENDS
    }
    trained: dict[str, dict] = {}
    loading: dict[str, Worker] = {}
    while len(loading) < len(BACKENDS) or not all(w.done() for w in loading.values()):
        for b, w in training.items():
            if b not in trained and w.done():
                trained[b] = w.result()
        for b in BACKENDS:
            if b not in loading and all(t in trained for t in BACKENDS if t != b):
                loading[b] = Worker(b, LOAD, [json.dumps(_runs(trained, b))], tmp / "load", **jax_cache)
        time.sleep(0.2)
    return {"trained": trained, "loaded": {b: w.result() for b, w in loading.items()}}


def _run(parity: dict, backend: str, case: str) -> Path:
    got = parity["trained"][backend]
    assert "error" not in got, got["error"]
    assert "run" in got[case], f"training {case} on {backend} failed:\n{got[case]['error']}"
    return Path(got[case]["run"])


def _written(run_dir: Path) -> np.ndarray:
    """The test texts' probabilities, as the training backend wrote them."""
    classes = json.loads((run_dir / "labels.json").read_text())
    with open(run_dir / "predictions.csv", newline="", encoding="utf-8") as f:
        return np.array([[float(r[f"p_{c}"]) for c in classes] for r in csv.DictReader(f)])


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_predicts_the_same_on_the_other_two_backends(backend, case, parity):
    run_dir = _run(parity, backend, case)
    expected = _written(run_dir)
    assert len(expected) >= 16 and np.ptp(expected[:, 0]) > ATOL  # texts enough, and not all alike
    if case == "pretrained_frozen":  # trained on cached features, as the case means to check
        assert json.loads((run_dir / "metrics.json").read_text())["cached_features"] == ["review"]
    for other in (b for b in BACKENDS if b != backend):
        loaded = parity["loaded"][other]
        assert "error" not in loaded, loaded["error"]
        got = loaded[str(run_dir)]
        assert "probs" in got, f"loading {case} (trained on {backend}) on {other} failed:\n{got['error']}"
        np.testing.assert_allclose(np.array(got["probs"]), expected, atol=ATOL, err_msg=f"loaded on {other}")


def test_a_jax_run_s_demo_service_on_jax_and_word_weights_on_torch(parity):
    """The demo's Service on jax (word weights by occlusion) shows what the run predicts; on torch
    (this process) integrated gradients of the same jax-trained run add up to its logit gap."""
    from kerasclf import attributions
    from kerasclf.service import Service

    run_dir = _run(parity, "jax", "cnn")
    classes = json.loads((run_dir / "labels.json").read_text())
    expected = _written(run_dir)[0]
    shown = parity["trained"]["jax"]["service"]
    assert "view" in shown, shown.get("error")
    view = shown["view"]
    assert shown["labels"] == ["text"] and "occlusion" in view["caption"]
    np.testing.assert_allclose([view["probabilities"][c] for c in classes], expected, atol=ATOL)
    (spans,) = view["spans"].values()
    assert spans and all(-1 <= w <= 1 for _, w in spans) and max(abs(w) for _, w in spans) == 1

    run = kerasclf.load_run(run_dir)
    with open(run_dir / "predictions.csv", newline="", encoding="utf-8") as f:
        text = next(csv.DictReader(f))["text"]
    on_torch = Service(run).view([text])
    assert "integrated gradients" in on_torch["caption"] and on_torch["spans"]["review"]
    np.testing.assert_allclose([on_torch["probabilities"][c] for c in classes], expected, atol=ATOL)
    scores = attributions.integrated_gradients(run, text, target=1, steps=64)
    total = sum(s for _, s in scores["review"])
    gap = attributions.baseline_gap(run, text, target=1)
    assert abs(total - gap) <= 0.05 * abs(gap) + 1e-3  # completeness (Sundararajan et al. 2017)
