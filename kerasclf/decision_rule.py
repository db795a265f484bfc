"""How a run turns logits into probabilities and labels: the temperature fitted after training
(`calibration: temperature`) and the decision threshold(s) (`decision.threshold`), both chosen on
the validation split and saved in the run folder as decision.json, which predict, the API and
the demo read.

    multiclass, two classes   softmax(logits / T); class 1 where its probability >= threshold (0.5 by default)
    multiclass, more          softmax(logits / T); the most probable class
    multilabel                sigmoid(logits / T); every label at or over its own threshold
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kerasclf import calibration, decision
from kerasclf.metrics import classification_metrics, multilabel_metrics


@dataclass
class DecisionRule:
    task: str = "multiclass"
    temperature: float = 1.0  # divides the logits (1: the raw probabilities)
    threshold: float | None = None  # two classes: on class 1's probability; None: the most probable class
    thresholds: list[float] | None = None  # multilabel: one per class

    @property
    def multilabel(self) -> bool:
        return self.task == "multilabel"

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return calibration.apply_temperature(logits, self.temperature, self.multilabel)

    def raw_probabilities(self, logits: np.ndarray) -> np.ndarray:
        return calibration.apply_temperature(logits, 1.0, self.multilabel)

    def chosen(self, probs: np.ndarray) -> np.ndarray:
        """Multiclass: each row's class index; multilabel: its 0/1 row of labels."""
        if self.multilabel:
            return (probs >= np.asarray(self.thresholds)[None, :]).astype(np.int8)
        if self.threshold is not None and probs.shape[1] == 2:
            return (probs[:, 1] >= self.threshold).astype(np.int64)
        return probs.argmax(axis=1)

    def metrics(self, labels: np.ndarray, probs: np.ndarray, class_names: list[str]) -> dict:
        """metrics.json's scores of one split under this rule."""
        if self.multilabel:
            return multilabel_metrics(labels, probs, class_names, np.asarray(self.thresholds))
        return classification_metrics(labels, probs, class_names, threshold=self.threshold)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path, task: str = "multiclass") -> DecisionRule:
        """The saved rule; a run folder from before decision.json: the raw probabilities, argmax / 0.5."""
        if not path.is_file():
            return cls(task)
        return cls(**json.loads(path.read_text()))

    @classmethod
    def fit(cls, cfg, logits: np.ndarray, labels: np.ndarray, num_classes: int) -> DecisionRule:
        """The temperature and threshold(s) for `cfg`, chosen on the validation split's logits and labels."""
        multilabel = cfg.task == "multilabel"
        t = 1.0
        if cfg.calibration == "temperature" and len(labels):
            t = calibration.fit_temperature(logits, labels, multilabel=multilabel)
        rule = cls(cfg.task, float(t))
        probs = rule.probabilities(logits)
        choice = cfg.decision.threshold
        if multilabel:
            if isinstance(choice, float):
                rule.thresholds = [choice] * num_classes
            else:  # auto, best_f1: each class's F1-best threshold on validation (rare ones: the pooled one)
                rule.thresholds = [
                    float(x) for x in decision.per_class_thresholds(labels, probs, "f1", cfg.decision.min_positives)
                ]
        elif num_classes == 2:
            if isinstance(choice, float):
                rule.threshold = choice
            else:
                rule.threshold = float(decision.binary_threshold("0.5" if choice == "auto" else choice, labels, probs))
        return rule
