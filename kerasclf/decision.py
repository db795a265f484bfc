"""Decision thresholds tuned on labelled rows (numpy only): the cut of a score that maximises F1 or MCC, per
label for multi-label tasks and for the positive class of a two-class task."""

from __future__ import annotations

import numpy as np

RULES = ("0.5", "best_f1", "best_mcc")
_TIE = 1e-12  # scores this close count as equal: MCC's square root rounds equal ratios differently


def _candidates(sorted_desc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The candidate thresholds, descending, and for each the number of rows (the first ones of `sorted_desc`)
    that score >= it: one above the largest score (none positive), the midpoints between adjacent distinct
    scores, one below the smallest (all positive). The two outer ones lie half the neighbouring gap out, as if
    the scores went on at the same spacing (0.5 out when every score is the same)."""
    s = sorted_desc
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last row of each run of equal scores
    distinct = s[last]
    if len(distinct) > 1:
        top_gap, bottom_gap = distinct[0] - distinct[1], distinct[-2] - distinct[-1]
    else:
        top_gap = bottom_gap = 1.0
    inner = (distinct[:-1] + distinct[1:]) / 2
    thresholds = np.r_[distinct[0] + top_gap / 2, inner, distinct[-1] - bottom_gap / 2]
    return thresholds, np.r_[0, last + 1]


def _score(rule: str, tp, fp, n_pos: int, n_neg: int) -> np.ndarray:
    """F1 or MCC at each cut from its true- and false-positive counts; 0 where undefined (nothing predicted
    positive, or everything), as metrics.py scores it."""
    tp, fp = tp.astype(float), fp.astype(float)
    fn, tn = n_pos - tp, n_neg - fp
    if rule == "f1":
        return 2 * tp / (2 * tp + fp + fn)  # n_pos > 0: never 0 / 0
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return np.divide(tp * tn - fp * fn, denominator, out=np.zeros_like(tp), where=denominator > 0)


def best_threshold(y_true01, score, rule: str = "f1") -> float:
    """The threshold t (a row is positive where score >= t) that maximises F1 (`rule="f1"`) or MCC
    (`rule="mcc"`) on these rows, among the midpoints between adjacent distinct scores and one cut outside
    each end (a midpoint leaves the widest margin to both rows it separates). Of candidates scoring the same the
    one closest to 0.5 wins (the higher one of two equally close): the default cut unless the data say
    otherwise. 0.5 when the rows are all positive or all negative (nothing to tune on). Sorts once and counts
    cumulatively: O(n log n) whatever the number of distinct scores."""
    if rule not in ("f1", "mcc"):
        raise ValueError(f"unknown threshold rule {rule!r}: 'f1' or 'mcc'")
    y = np.asarray(y_true01).astype(bool).ravel()
    s = np.asarray(score, dtype=float).ravel()
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    order = np.argsort(-s, kind="mergesort")
    thresholds, taken = _candidates(s[order])
    tp = np.r_[0, np.cumsum(y[order])][taken]
    values = _score(rule, tp, taken - tp, n_pos, n_neg)
    best = np.flatnonzero(values >= values.max() - _TIE)
    return float(thresholds[best[np.argmin(np.abs(thresholds[best] - 0.5))]])


def per_class_thresholds(y_true, probs, rule: str = "f1", min_positives: int = 0) -> np.ndarray:
    """best_threshold of each column of 0/1 `y_true` (n, k) against `probs` (n, k): the (k,) thresholds a
    multi-label prediction compares each label's probability with. A label with fewer than `min_positives`
    positive rows takes the one threshold best for all labels pooled (their (row, label) pairs as one
    binary task, the micro-averaged score): a cut chosen on a handful of positives fits those rows, not
    the label (on GoEmotions' rare labels it fell below every score and marked every text)."""
    y, p = np.asarray(y_true), np.asarray(probs, dtype=float)
    own = np.array([best_threshold(y[:, j], p[:, j], rule) for j in range(p.shape[1])], dtype=float)
    rare = y.sum(axis=0) < min_positives
    if rare.any():
        own[rare] = best_threshold(y.ravel(), p.ravel(), rule)
    return own


def binary_threshold(rule: str, y_true, probs) -> float:
    """The threshold on probs[:, 1] of a two-class task (integer labels 0/1, probs (n, 2)) for one of RULES:
    0.5 for "0.5" (the argmax, but for a row at exactly 0.5), else the best F1 or MCC cut on these rows."""
    if rule not in RULES:
        raise ValueError(f"unknown threshold rule {rule!r}: one of {', '.join(RULES)}")
    if rule == "0.5":
        return 0.5
    y = np.asarray(y_true).astype(np.int64) == 1
    return best_threshold(y, np.asarray(probs, dtype=float)[:, 1], rule.removeprefix("best_"))
