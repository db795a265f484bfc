"""The comparison issue 18 asks for beside a fused model: an ensemble of separately trained runs, each run's
test probabilities (its predictions.csv, temperature-calibrated) averaged, and the accuracy of that average.

    python bench/ensemble.py bench/out/imdb_cnn-20261205-1400 bench/out/imdb_nbsvm-20261205-1410

The runs must have predicted the same test rows (the same data source and split); the row names each run
and its own accuracy. Not a kerasclf feature: a fused config is one model, saved and served as one.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import append, command, machine  # noqa: E402

SECTION = "IMDB: ensembles of separately trained runs, test probabilities averaged (issue 18's comparison)"


def read(run: Path) -> tuple[list[str], list[str], np.ndarray, list[str]]:
    """(texts, labels, probabilities (rows, classes), class names) of a run's test predictions."""
    with open(run / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    names = [k[2:] for k in rows[0] if k.startswith("p_")]
    probs = np.array([[float(r[f"p_{n}"]) for n in names] for r in rows])
    return [r["text"] for r in rows], [r["label"] for r in rows], probs, names


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders (two or more)")
    args = p.parse_args()
    if len(args.runs) < 2:
        p.error("expected at least two run folders")
    texts, labels, total, names = read(args.runs[0])
    parts = []
    for run in args.runs:
        t, y, probs, n = read(run)
        if t != texts or y != labels or n != names:
            sys.exit(f"ensemble: {run} predicted other test rows or classes than {args.runs[0]}")
        if run != args.runs[0]:
            total = total + probs
        m = json.loads((run / "metrics.json").read_text())
        parts.append(f"{run.name} ({100 * m['test']['accuracy']:.2f}%)")
    accuracy = float(np.mean(np.array(names)[total.argmax(1)] == np.array(labels)))
    print(f"ensemble of {len(args.runs)}: test accuracy {100 * accuracy:.2f}%")
    append(
        SECTION,
        ["date", "runs (each one's test accuracy)", "ensemble test accuracy", "machine", "command"],
        [date.today().isoformat(), ", ".join(parts), f"{100 * accuracy:.2f}%", machine(), f"`{command()}`"],
    )


if __name__ == "__main__":
    main()
