"""Class weights (`train.class_weight`) and balanced sampling (`data.sampling`) for skewed classes.

- multiclass: each row's loss is weighted by its class's weight, `balanced` being scikit-learn's
  n / (classes x count) (so the weights average to 1 over the rows); what Keras'
  `fit(class_weight=...)` does, applied in `Batches` (which already weights rows).
- multilabel: each class's positive cells weigh `pos_weight` (torch's BCEWithLogitsLoss convention),
  `balanced` being negatives / positives per class; the negative cells weigh 1.
- `data.sampling: balanced` draws each epoch's rows with replacement, every class equally likely
  (multiclass).
"""

from __future__ import annotations

import numpy as np

from kerasclf.errors import UserError


def class_weights(cfg, labels: np.ndarray, class_names: list[str]) -> np.ndarray | None:
    """One weight per class (multiclass: of its rows' loss; multilabel: of its positive cells), or None."""
    cw = cfg.train.class_weight
    if cw is None:
        return None
    if cw == "balanced":
        if labels.ndim == 2:
            pos = labels.sum(axis=0)
            return ((len(labels) - pos) / np.maximum(pos, 1)).astype(np.float32)
        counts = np.bincount(labels, minlength=len(class_names))
        return (len(labels) / (len(class_names) * np.maximum(counts, 1))).astype(np.float32)
    unknown = sorted(set(cw) - set(class_names))
    if unknown:
        raise UserError(f"train.class_weight.{unknown[0]}: not a class (classes: {', '.join(class_names[:10])})")
    return np.asarray([cw.get(c, 1.0) for c in class_names], dtype=np.float32)


def row_weights(weights: np.ndarray | None, labels: np.ndarray) -> np.ndarray | None:
    """Multiclass: the weight of each row (its class's); multilabel weights go to the loss instead."""
    if weights is None or labels.ndim == 2:
        return None
    return weights[labels]


def sampling_probabilities(cfg, labels: np.ndarray) -> np.ndarray | None:
    """data.sampling: balanced: each row's chance to be drawn, every class's rows summing to 1/classes."""
    if cfg.data.sampling != "balanced":
        return None
    counts = np.bincount(labels)
    p = 1.0 / counts[labels]
    return p / p.sum()
