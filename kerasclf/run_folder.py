"""The run folder's layout: every file training writes, in one place.

    runs/<name>-<YYYYmmdd-HHMMSS>/
      config.yaml             the resolved config (reloads to the same model)
      model.keras             the best weights, no optimizer state (Keras native format, safe_mode=True)
      tokenizers/<input>.json the vocabulary and settings each input was trained with
      labels.json             class names, index order
      history.csv             per-epoch train and validation metrics, epochs counted from 1
      metrics.json            {"validation": {...}, "test": {...}, "best_epoch", ...}
      decision.json           the temperature and decision threshold(s) chosen on validation (kerasclf/decision_rule.py)
      training_curves.png, confusion_matrix.png (multilabel: per_class_f1.png), reliability.png,
      predictions.csv (the test split), train.log
      backup/, checkpoints/   while training only: what --resume reads, the best epoch's weights

While training, the folder is `<name>-<time>.incomplete`; `finish()` removes backup/ and
checkpoints/ and renames it when every file is written.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np

from kerasclf.errors import UserError

INCOMPLETE = ".incomplete"


class RunFolder:
    """Paths of one run folder, and the checks and moves of its life: created, stopped, finished."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # ---------------------------------------------------------------- the files
    config = property(lambda self: self.path / "config.yaml")
    model = property(lambda self: self.path / "model.keras")
    labels = property(lambda self: self.path / "labels.json")
    history = property(lambda self: self.path / "history.csv")
    metrics = property(lambda self: self.path / "metrics.json")
    curves = property(lambda self: self.path / "training_curves.png")
    confusion = property(lambda self: self.path / "confusion_matrix.png")
    predictions = property(lambda self: self.path / "predictions.csv")
    decision = property(lambda self: self.path / "decision.json")
    reliability = property(lambda self: self.path / "reliability.png")
    per_class_f1 = property(lambda self: self.path / "per_class_f1.png")
    log = property(lambda self: self.path / "train.log")
    backup = property(lambda self: self.path / "backup")
    checkpoints = property(lambda self: self.path / "checkpoints")
    best_weights = property(lambda self: self.path / "checkpoints" / "best.weights.h5")

    def tokenizer(self, input_name: str) -> Path:
        return self.path / "tokenizers" / f"{input_name}.json"

    @property
    def name(self) -> str:
        """The run's name, as the finished folder will be called."""
        return self.path.name.removesuffix(INCOMPLETE)

    @property
    def incomplete(self) -> bool:
        return self.path.name.endswith(INCOMPLETE)

    def class_names(self) -> list[str]:
        return json.loads(self.labels.read_text())

    def read_metrics(self) -> dict | None:
        return json.loads(self.metrics.read_text()) if self.metrics.is_file() else None

    # ---------------------------------------------------------------- writing
    def keep_history(self, rows: list[dict]) -> None:
        """history.csv holding only `rows` (a resumed run redoes the epochs after them)."""
        if not rows:
            self.history.unlink(missing_ok=True)
            return
        with open(self.history, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)

    def write_predictions(self, split, class_names: list[str], probs, chosen=None) -> None:
        """predictions.csv: each text of `split` (a Split), its label, the prediction, the probabilities.
        `chosen`: the decision rule's classes (default argmax); multilabel: 0/1 rows, labels joined by ','."""
        columns = list(split.columns)
        chosen = probs.argmax(axis=1) if chosen is None else chosen
        names = np.asarray(class_names, dtype=object)
        with open(self.predictions, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow([*columns, "label", "predicted", "correct", *[f"p_{c}" for c in class_names]])
            for i in range(len(split)):
                if split.labels.ndim == 2:  # multilabel
                    true, pred = ",".join(names[split.labels[i] > 0]), ",".join(names[chosen[i] > 0])
                else:
                    true, pred = class_names[int(split.labels[i])], class_names[int(chosen[i])]
                texts = [split.columns[c][i] for c in columns]
                probabilities = [f"{p:.6f}" for p in probs[i]]
                w.writerow([*texts, true, pred, int(pred == true), *probabilities])

    # ---------------------------------------------------------------- its life
    @classmethod
    def create(cls, output_dir: str | Path, name: str) -> RunFolder:
        """A new `<name>-<time>.incomplete` folder under `output_dir` (with a suffix if the name is taken)."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        for i in range(1000):
            final = Path(output_dir) / (f"{name}-{stamp}" + (f"-{i}" if i else ""))
            tmp = final.with_name(final.name + INCOMPLETE)
            if not final.exists() and not tmp.exists():
                tmp.mkdir(parents=True)
                (tmp / "tokenizers").mkdir()
                return cls(tmp)
        raise UserError(f"--output-dir {output_dir}: could not find a free run folder name")

    @classmethod
    def stopped(cls, path: str | Path) -> RunFolder:
        """A run folder that `--resume` can continue; one line of error otherwise."""
        folder = cls(path)
        if not folder.config.is_file():
            raise UserError(f"--resume {path}: not a run folder (expected config.yaml there)")
        if folder.model.exists() or not folder.incomplete:
            raise UserError(
                f"--resume {path}: this run finished; only a stopped run (a folder named *{INCOMPLETE}) can be resumed"
            )
        return folder

    @classmethod
    def finished(cls, path: str | Path) -> RunFolder:
        """A run folder that holds a trained model; one line of error otherwise."""
        folder = cls(path)
        if not folder.model.is_file():
            hint = " (training did not finish; resume it with --resume)" if folder.incomplete else ""
            raise UserError(
                f"--run {path}: no model.keras there; expected a run folder written by kerasclf.train{hint}"
            )
        return folder

    @classmethod
    def newest(cls, runs_dir: str | Path = "runs") -> RunFolder:
        """The most recently finished run folder under `runs_dir`."""
        runs = [p.parent for p in Path(runs_dir).glob("*/model.keras") if not p.parent.name.endswith(INCOMPLETE)]
        if not runs:
            raise UserError(
                f"--runs-dir {runs_dir}: no finished run folder there; train one first with "
                f"`make train` (or python -m kerasclf.train), or pass --run DIR"
            )
        return cls(max(runs, key=lambda p: (p / "model.keras").stat().st_mtime))

    def finish(self) -> RunFolder:
        """Remove what only training needed and drop the `.incomplete` mark; the finished folder."""
        shutil.rmtree(self.checkpoints, ignore_errors=True)
        shutil.rmtree(self.backup, ignore_errors=True)
        final = self.path.with_name(self.name)
        self.path.rename(final)
        return RunFolder(final)

    def discard_if_empty(self) -> None:
        """A folder with no finished epoch holds nothing to resume: leave no half-written run behind."""
        if not self.backup.exists():
            shutil.rmtree(self.path, ignore_errors=True)
