"""Skewed classes: IMDB's train split cut to 10% positive reviews (the test split as it is, half and
half), the CNN trained plain, with `train.class_weight: balanced`, with `data.sampling: balanced`,
and with the decision threshold tuned on validation (`decision.threshold: best_f1`): macro F1, MCC
and balanced accuracy on test, and ECE before and after temperature scaling.

    python bench/imbalance.py --source ../shared/data/aclImdb_labeled.tar.gz

Every run is `python -m kerasclf.train --config configs/imdb_cnn.yaml` in a fresh process on the
same two files (written once: all 12,500 negative training reviews and the first 1,389 positive
ones after a seeded shuffle, so positives are 10% of train; the 25,000 test reviews), validation
carved from train (10%, stratified, so it is skewed too); the best epoch by validation macro F1.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import append, command, machine, train_cli  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from kerasclf.data.sources import read_acl_imdb  # noqa: E402

SECTION = "Imbalanced IMDB: 10% positive training reviews, class weights and balanced sampling (issue 17)"
COLUMNS = ["date", "config", "remedy", "train rows (pos)", "test macro F1", "test MCC", "test balanced acc",
           "test accuracy", "threshold", "test ECE before / after (T)", "s/epoch", "wall s", "machine",
           "command"]  # fmt: skip
# every run keeps the epoch of best validation macro F1 (accuracy, the config's own monitor, rewards
# predicting the majority class when 90% of the rows are negative)
COMMON = ["train.early_stopping.monitor=val_f1_macro"]
REMEDIES = {
    "none": [],
    "class_weight": ["train.class_weight=balanced"],
    "sampling": ["data.sampling=balanced"],
    "threshold": ["decision.threshold=best_f1"],  # no reweighting: the decision threshold tuned on validation
}


def write_files(source: str, folder: Path, positive_share: float, seed: int) -> tuple[Path, Path, int, int]:
    splits = read_acl_imdb(Path(source))
    rng = np.random.default_rng(seed)
    neg = [r for r in splits["train"] if r["label"] == "neg"]
    pos = [r for r in splits["train"] if r["label"] == "pos"]
    n_pos = round(len(neg) * positive_share / (1 - positive_share))
    keep = [pos[i] for i in rng.permutation(len(pos))[:n_pos]]
    paths = folder / "train.csv", folder / "test.csv"
    for path, rows in zip(paths, (neg + keep, splits["test"])):
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["text", "label"])
            w.writeheader()
            w.writerows({"text": r["text"], "label": r["label"]} for r in rows)
    return *paths, len(neg) + n_pos, n_pos


def run(config: str, train_csv: Path, test_csv: Path, sets: list[str], out: str) -> tuple[dict, float]:
    run_dir, wall = train_cli(config, [f"data.source={train_csv}", f"data.test={test_csv}", *COMMON, *sets], out)
    m = json.loads((run_dir / "metrics.json").read_text())
    m["decision"] = json.loads((run_dir / "decision.json").read_text())
    return m, wall


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, help="the full labelled IMDB set (aclImdb folder or tarball)")
    p.add_argument("--config", default="imdb_cnn")
    p.add_argument("--remedies", nargs="+", default=list(REMEDIES), choices=list(REMEDIES))
    p.add_argument("--positive-share", type=float, default=0.1)
    args = p.parse_args()
    where = machine()
    with tempfile.TemporaryDirectory() as out:
        train_csv, test_csv, n, n_pos = write_files(args.source, Path(out), args.positive_share, seed=0)
        for remedy in args.remedies:
            m, wall = run(args.config, train_csv, test_csv, REMEDIES[remedy], out)
            t, cal = m["test"], m["test"]["calibration"]
            print(f"{remedy}: macro F1 {t['f1_macro']:.4f}, MCC {t['mcc']:.4f}", flush=True)
            append(SECTION, COLUMNS, [
                date.today().isoformat(), args.config, remedy, f"{n} ({n_pos})", f"{t['f1_macro']:.4f}",
                f"{t['mcc']:.4f}", f"{t['balanced_accuracy']:.4f}", f"{t['accuracy']:.4f}",
                f"{m['decision']['threshold']:.3f}",
                f"{cal['ece_before']:.4f} / {cal['ece_after']:.4f} ({cal['temperature']:.2f})",
                m["seconds_per_epoch"], f"{wall:.0f}", where, command(),
            ])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
