"""The run folder's pictures: training curves, the confusion matrix, F1 per class and the reliability diagram
(matplotlib, no display)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from kerasclf.calibration import ece_from_bins  # noqa: E402


def read_history(path: Path) -> dict[str, list[float]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0].keys() if rows else [])}


def training_curves(history: dict[str, list[float]], best_epoch: int | None, path: Path, title: str = "") -> None:
    """Loss and accuracy per epoch, train against validation, the best epoch marked; `title` on top
    (the run's name and test scores)."""
    epochs = [int(e) for e in history.get("epoch", range(1, len(history.get("loss", [])) + 1))]  # from 1
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, key in zip(axes, ("loss", "accuracy")):
        if key in history:
            ax.plot(epochs, history[key], "o-", label=f"train {key}")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], "s-", label=f"validation {key}")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="gray", linestyle="--", label=f"best epoch ({best_epoch})")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def confusion_matrix(cm: np.ndarray, class_names: list[str], path: Path, title: str = "test") -> None:
    """Counts, and each row's share in percent (of that true class's texts), coloured by the share."""
    cm = np.asarray(cm)
    n = len(class_names)
    totals = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, totals, out=np.zeros(cm.shape, dtype=float), where=totals > 0)
    size = max(5.5, 0.9 * n + 3)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_xticks(range(n), class_names, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                f"{cm[i, j]}\n{100 * share[i, j]:.1f}%",
                ha="center",
                va="center",
                fontsize=11 if n <= 6 else 8,
                color="white" if share[i, j] > 0.5 else "black",
            )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def reliability_diagram(before: dict, after: dict | None, path: Path, title: str = "") -> None:
    """Accuracy per confidence bin against the diagonal (a calibrated model's bars reach it), before and after
    temperature scaling, each one's ECE in the legend, and below how many predictions fall in each bin (the
    bars of a near-empty bin say little). `before` and `after` are calibration.reliability_bins results."""
    runs = [("before", before, "tab:red")] + ([("after", after, "tab:blue")] if after is not None else [])
    edges = np.asarray(before["edges"])
    width = 1.0 / (len(edges) - 1)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.5, 8), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], "k--", linewidth=1, label="calibrated")
    shift = width / (2 * len(runs))  # the two series side by side within each bin
    for i, (name, bins, colour) in enumerate(runs):
        x = edges[:-1] + shift * (2 * i + 1)
        accuracy = np.nan_to_num(np.asarray(bins["accuracy"], dtype=float))  # an empty bin: no bar
        label = f"{name} temperature scaling (ECE {ece_from_bins(bins):.3f})"
        top.bar(x, accuracy, width=2 * shift, color=colour, alpha=0.7, edgecolor="black", label=label)
        bottom.bar(x, bins["count"], width=2 * shift, color=colour, alpha=0.7, edgecolor="black", label=name)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy (share correct)")
    top.grid(alpha=0.3)
    top.legend(loc="upper left")
    top.set_title(title or "reliability diagram", fontsize=10)
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("predictions")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def per_class_f1(per_class: dict, path: Path, title: str = "") -> None:
    """F1 of each class as horizontal bars, best on top, each labelled with its support ("joy (n=85)") and its
    value: the multi-label run's picture in place of the confusion matrix (one bar a class, 28 stay legible)."""
    rows = sorted(per_class.items(), key=lambda item: item[1]["f1"] or 0.0)  # ascending: barh draws bottom up
    names = [f"{name} (n={scores['support']})" for name, scores in rows]
    f1 = [scores["f1"] or 0.0 for _, scores in rows]
    fig, ax = plt.subplots(figsize=(8, max(4.5, 0.32 * len(rows) + 1.5)))
    ax.barh(range(len(rows)), f1, color="tab:blue", alpha=0.8)
    for i, value in enumerate(f1):
        ax.text(value + 0.01, i, f"{value:.3f}", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), names, fontsize=9)
    ax.set_xlim(0, 1.1)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("F1")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or "F1 per class", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
