"""Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks") and the calibration it is
judged by: expected calibration error and the reliability diagram's bins (numpy only)."""

from __future__ import annotations

import math

import numpy as np

_LOG_BOUNDS = (math.log(1e-2), math.log(1e2))
_GOLDEN = (math.sqrt(5) - 1) / 2


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, through log-sum-exp with the row's maximum taken out (no overflow)."""
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _nll(logits: np.ndarray, y: np.ndarray, temperature: float, multilabel: bool) -> float:
    """Mean negative log-likelihood of the labels under the scaled logits: softmax cross-entropy per row, or
    binary cross-entropy per cell, written softplus(z) - y*z (= -y log s(z) - (1-y) log(1-s(z)), stable)."""
    z = logits / temperature
    if multilabel:
        return float(np.mean(np.logaddexp(0.0, z) - y * z))
    return float(-np.mean(_log_softmax(z)[np.arange(len(y)), y]))


def fit_temperature(logits, y, multilabel: bool = False) -> float:
    """The temperature T > 0 that minimises the mean negative log-likelihood of softmax(logits / T) against
    integer labels `y` (n,), or with `multilabel` of sigmoid(logits / T) against 0/1 targets `y` (n, k) (mean
    binary cross-entropy over all cells). One scalar for all classes: it rescales confidence without changing
    any argmax. 1.0 for empty input.

    A golden-section search over log T on [1e-2, 1e2] is enough: with b = 1/T either NLL is a log-sum-exp (or
    softplus) of functions linear in b minus a linear term, so it is convex in b and thus unimodal in log T
    (a monotone change of variable), and golden section finds the minimum of a unimodal function in its
    bracket (or the bound the minimum lies beyond). 1.0 unless the found T lowers the NLL: a flat NLL (constant
    logits) leaves the logits as they are."""
    logits = np.asarray(logits, dtype=float)
    y = np.asarray(y)
    if logits.size == 0:
        return 1.0
    y = y.astype(float) if multilabel else y.astype(np.int64)
    loss = lambda u: _nll(logits, y, math.exp(u), multilabel)
    lo, hi = _LOG_BOUNDS
    a, b = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    fa, fb = loss(a), loss(b)
    while hi - lo > 1e-6:  # about 33 steps: T to a relative 1e-6
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - _GOLDEN * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + _GOLDEN * (hi - lo)
            fb = loss(b)
    u = (lo + hi) / 2
    return math.exp(u) if loss(u) < loss(0.0) else 1.0


def apply_temperature(logits, temperature: float, multilabel: bool = False) -> np.ndarray:
    """Probabilities of logits / T: softmax over the last axis, or with `multilabel` a sigmoid per cell
    (computed as exp(-softplus(-z)), which neither overflows nor loses the small ones)."""
    z = np.asarray(logits, dtype=float) / temperature
    if multilabel:
        return np.exp(-np.logaddexp(0.0, -z))
    return np.exp(_log_softmax(z))


def _confidence_and_outcome(probs, y, multilabel: bool) -> tuple[np.ndarray, np.ndarray]:
    """What is binned and what it is compared with. Multiclass: the top probability of each row and whether
    the argmax is the label. Multilabel: every (text, label) cell's probability and whether the label is
    present (each cell a binary prediction)."""
    probs = np.asarray(probs, dtype=float)
    y = np.asarray(y)
    if multilabel:
        return probs.ravel(), y.astype(float).ravel()
    if probs.size == 0:
        return np.zeros(0), np.zeros(0)
    return probs.max(axis=1), (probs.argmax(axis=1) == y.astype(np.int64)).astype(float)


def reliability_bins(probs, y, bins: int = 15, multilabel: bool = False) -> dict:
    """Equal-width bins on [0, 1] (bin i holds confidences in (i/bins, (i+1)/bins], the first one 0 too, as
    in Guo et al.), what a reliability diagram draws: `confidence` (mean confidence), `accuracy` (share
    correct, or multilabel share of cells with the label present) and `count` per bin, nan for an empty bin's
    means, and `edges` (bins + 1). See _confidence_and_outcome for what is binned."""
    confidence, outcome = _confidence_and_outcome(probs, y, multilabel)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.digitize(confidence, edges[1:-1], right=True)  # right=True: a bin holds its upper edge
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(index, weights=outcome, minlength=bins) / count
    return {"confidence": mean_confidence, "accuracy": accuracy, "count": count, "edges": edges}


def ece_from_bins(b: dict) -> float:
    """sum over bins of (bin size / all) * |accuracy - confidence|, empty bins left out; nan without rows."""
    count = np.asarray(b["count"], dtype=float)
    full = count > 0
    if not full.any():
        return float("nan")
    gap = np.abs(np.asarray(b["accuracy"])[full] - np.asarray(b["confidence"])[full])
    return float(np.sum(count[full] * gap) / count.sum())


def expected_calibration_error(probs, y, bins: int = 15, multilabel: bool = False) -> float:
    """Expected calibration error over `bins` equal-width bins (reliability_bins): the bin-size-weighted mean
    gap between confidence and accuracy. Multiclass (Guo et al.): confidence is the top probability, accuracy
    whether the argmax is the label `y` (n,). Multilabel: each (text, label) cell of probs (n, k) is a binary
    prediction, its probability against whether the label is present in `y` (n, k). 0 means calibrated; nan
    for empty input."""
    return ece_from_bins(reliability_bins(probs, y, bins, multilabel))
