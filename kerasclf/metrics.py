"""Evaluation metrics from labels and probabilities (numpy only): accuracy, macro P/R/F1, balanced accuracy,
MCC, ROC-AUC and average precision, for single-label and multi-label tasks."""

from __future__ import annotations

import math

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    return np.bincount(y_true * n + y_pred, minlength=n * n).reshape(n, n)


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve for a binary task (Mann-Whitney U, ties counted half)."""
    pos, neg = y_true == 1, y_true == 0
    if not pos.any() or not neg.any():
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    s = score[order]
    # average ranks over ties
    boundaries = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(s)]])
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    n_pos, n_neg = pos.sum(), neg.sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(y_true01, score) -> float:
    """Binary average precision as scikit-learn defines it: sum over thresholds of (R_n - R_{n-1}) * P_n, one
    threshold at each distinct score, descending (no interpolation); nan when there is no positive row."""
    y = np.asarray(y_true01).astype(bool).ravel()
    s = np.asarray(score, dtype=float).ravel()
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last row of each run of equal scores
    tp = np.cumsum(y)[last].astype(float)
    precision = tp / (last + 1)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mcc_from_confusion(cm: np.ndarray) -> float:
    """Matthews correlation, the multiclass form (Gorodkin 2004): (c*s - sum_k p_k t_k) /
    sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2)), with c correct, s all rows, t_k true and p_k predicted counts of
    class k. For two classes it is the binary formula. 0.0 when the denominator is 0 (one class true or
    predicted throughout), the value scikit-learn gives too."""
    cm = np.asarray(cm, dtype=float)  # floats: s^2 of int64 counts could overflow
    t, p = cm.sum(axis=1), cm.sum(axis=0)
    c, s = np.trace(cm), cm.sum()
    denominator = math.sqrt((s * s - p @ p) * (s * s - t @ t))
    return float((c * s - p @ t) / denominator) if denominator > 0 else 0.0


def _predict(probs: np.ndarray, threshold: float | None) -> np.ndarray:
    """Argmax, or for a binary task with a threshold class 1 where probs[:, 1] >= threshold."""
    if threshold is None:
        return probs.argmax(axis=1)
    if probs.shape[1] != 2:
        raise ValueError(f"a decision threshold applies to a two-class task, not {probs.shape[1]} classes")
    return (probs[:, 1] >= threshold).astype(np.int64)


def classification_metrics(
    y_true: np.ndarray, probs: np.ndarray, class_names: list[str], threshold: float | None = None
) -> dict:
    """The single-label scores of `probs` (n, classes) against integer labels: accuracy, macro P/R/F1, balanced
    accuracy, MCC, ROC-AUC (two classes), count, per class P/R/F1/support and the confusion matrix.

    `threshold` (two classes only) predicts class 1 where probs[:, 1] >= threshold instead of the argmax: a tuned
    threshold changes every score but ROC-AUC. A class never predicted (or never true) scores 0 precision (recall).
    """
    n = len(class_names)
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs)
    y_pred = _predict(probs, threshold)
    cm = confusion(y_true, y_pred, n)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(tp / cm.sum(axis=0))
        recall = np.nan_to_num(tp / support)
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    present = support > 0  # balanced accuracy: recall averaged over the classes that occur, not all of them
    out = {
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else float("nan"),
        "f1_macro": float(f1.mean()),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
        "mcc": mcc_from_confusion(cm),
    }
    if n == 2:
        out["roc_auc"] = roc_auc(y_true, probs[:, 1])
    out["count"] = int(len(y_true))
    out["per_class"] = {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(class_names, precision, recall, f1, support)
    }
    out["confusion_matrix"] = cm.tolist()
    return out


def json_safe(value):
    """`value` with every nan float (numpy's too) replaced by None, recursively through dicts, lists and tuples,
    and numpy scalars made Python numbers: json.dumps writes nan as `NaN`, which is not JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _ratio(a, b):
    """a / b elementwise, 0 where b is 0 (no predicted or no true positive: the score is 0, as above)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def _mean_defined(values: np.ndarray) -> float:
    """The mean of the non-nan values; nan when there is none."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if len(defined) else float("nan")


def _ranking_scores(y: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and average precision of each label column; nan for a column without both 0 and 1 rows (for
    average precision too: with every row positive it would be 1 whatever the scores)."""
    k = y.shape[1]
    auc, ap = np.full(k, np.nan), np.full(k, np.nan)
    for j in range(k):
        positives = int(y[:, j].sum())
        if 0 < positives < len(y):
            auc[j] = roc_auc(y[:, j], probs[:, j])
            ap[j] = average_precision(y[:, j], probs[:, j])
    return auc, ap


def multilabel_metrics(y_true, probs, class_names, thresholds) -> dict:
    """The multi-label scores of sigmoid `probs` (n, k) against 0/1 `y_true` (n, k), a label predicted where
    probs >= its entry of `thresholds` (k,): micro and macro P/R/F1, subset accuracy (all k labels right),
    Hamming loss (share of wrong cells), macro ROC-AUC and average precision (over the labels with both 0 and 1
    rows), count, mean true labels per text, texts without a true label, and per label P/R/F1/support/ROC-AUC/
    average precision/threshold. JSON-ready: nan (undefined) is written as None throughout."""
    y = np.asarray(y_true).astype(np.int64)
    probs = np.asarray(probs, dtype=float)
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=float), (y.shape[1],))
    pred = (probs >= thresholds).astype(np.int64)
    tp, fp, fn = (pred * y).sum(0), (pred * (1 - y)).sum(0), ((1 - pred) * y).sum(0)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * precision * recall, precision + recall)
    p_micro, r_micro = float(_ratio(tp.sum(), tp.sum() + fp.sum())), float(_ratio(tp.sum(), tp.sum() + fn.sum()))
    auc, ap = _ranking_scores(y, probs)
    n = len(y)
    out = {
        "f1_micro": float(_ratio(2 * p_micro * r_micro, p_micro + r_micro)),
        "f1_macro": float(f1.mean()),
        "precision_micro": p_micro,
        "precision_macro": float(precision.mean()),
        "recall_micro": r_micro,
        "recall_macro": float(recall.mean()),
        "subset_accuracy": float((pred == y).all(axis=1).mean()) if n else float("nan"),
        "hamming_loss": float((pred != y).mean()) if y.size else float("nan"),
        "roc_auc_macro": _mean_defined(auc),
        "average_precision_macro": _mean_defined(ap),
        "count": int(n),
        "labels_per_text": float(y.sum(axis=1).mean()) if n else float("nan"),
        "no_label_texts": int((y.sum(axis=1) == 0).sum()),
    }
    columns = zip(class_names, precision, recall, f1, tp + fn, auc, ap, thresholds)
    out["per_class"] = {
        name: {
            "precision": p,
            "recall": r,
            "f1": f,
            "support": int(s),
            "roc_auc": a,
            "average_precision": v,
            "threshold": t,
        }
        for name, p, r, f, s, a, v, t in columns
    }
    return json_safe(out)
