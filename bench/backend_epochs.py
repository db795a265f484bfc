"""Seconds per epoch of the default run on a Keras backend, the first epoch (where jax compiles) apart.

    python bench/backend_epochs.py --backend jax
    python bench/backend_epochs.py --backend jax --source /path/to/an/older/checkout   # A/B in one run

Runs `python -m kerasclf.train` (the default config on the shipped sample, early stopping off so
every epoch runs) in a fresh process per source tree, reads the epoch lines of its train.log, and
appends the first epoch's seconds, the median of the later ones, their ratio and the whole
process's wall time to bench/RESULTS.md. Each source runs twice with one fresh cache folder
($KERASCLF_CACHE): cold (jax compiles every step) and warm (jax's persistent compilation cache,
kerasclf/device.py, holds them from the first run).
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
SECTION = "Backends: the default run's epochs, the first apart, cold and warm caches (issue 16)"
COLUMNS = ["date", "backend", "source", "cache", "first epoch s", "later epochs s (median)", "ratio", "whole run s",
           "test acc", "machine", "command"]  # fmt: skip


def run(source: Path, backend: str, cache: str) -> dict:
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(source), "KERASCLF_CACHE": cache}
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        args = [sys.executable, "-m", "kerasclf.train", "--output-dir", out, "--set", "train.early_stopping=null"]
        start = time.perf_counter()
        r = subprocess.run(args, cwd=source, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if r.returncode != 0:
            raise SystemExit(f"training failed in {source}:\n{r.stderr[-3000:]}")
        run_dir = Path(r.stdout.strip().splitlines()[-1])
        seconds = [
            float(s) for s in re.findall(r"epoch \d+/\d+: .*\((\d+\.\d+) s\)", (run_dir / "train.log").read_text())
        ]
        accuracy = re.search(r"test: accuracy (\d\.\d+)", (run_dir / "train.log").read_text()).group(1)
    later = statistics.median(seconds[1:])
    return {"first": seconds[0], "later": later, "wall": wall, "accuracy": accuracy}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="jax", choices=["jax", "torch", "tensorflow"])
    p.add_argument("--source", action="append", help="a kerasclf checkout to time (repeatable; default: this one)")
    args = p.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend  # before kerasclf (machine()) imports Keras: the row names it
    where = machine()
    for source in [Path(s) for s in (args.source or [str(ROOT)])]:
        label = subprocess.run(["git", "log", "-1", "--format=%h"], cwd=source, capture_output=True, text=True).stdout
        with tempfile.TemporaryDirectory() as cache:
            for state in ("cold", "warm"):
                m = run(source, args.backend, cache)
                print(f"{args.backend} {label.strip()} {state}: first {m['first']:.1f} s, later {m['later']:.1f} s")
                append(SECTION, COLUMNS, [date.today().isoformat(), args.backend, label.strip() or str(source), state,
                                  f"{m['first']:.1f}", f"{m['later']:.2f}", f"{m['first'] / m['later']:.1f}x",
                                  f"{m['wall']:.0f}", m["accuracy"], where, command()])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
