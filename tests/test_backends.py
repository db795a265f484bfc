"""A run saved on one Keras backend loads and predicts the same on another (the run folder is Keras' own format)."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import QUICK, ROOT

import kerasclf


def _train_on(backend: str, out) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": backend}
    args = [sys.executable, "-m", "kerasclf.train", "--output-dir", str(out)]
    args += sum((["--set", s] for s in [*QUICK, "train.epochs=1", "data.limit=300"]), [])
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.strip().splitlines()[-1]


def test_a_run_trained_on_jax_predicts_the_same_on_torch(tmp_path):
    pytest.importorskip("jax")
    run_dir = _train_on("jax", tmp_path)
    with open(os.path.join(run_dir, "predictions.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:64]
    on_jax = np.array([[float(r["p_neg"]), float(r["p_pos"])] for r in rows])  # written by the jax process
    on_torch = kerasclf.load_run(run_dir).predict_proba([r["text"] for r in rows])  # this process: torch
    np.testing.assert_allclose(on_torch, on_jax, atol=1e-4)
