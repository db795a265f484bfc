"""The checks of the task keys: `task`, the multilabel label layouts, `train.class_weight`,
`data.sampling`, `decision.threshold` and the metric early stopping watches for the task."""

from __future__ import annotations

import difflib

from kerasclf.errors import UserError

_METRICS = ("loss", "accuracy", "f1_macro", "f1_micro")  # logged for training and validation
# computed from the validation split's predictions each epoch (kerasclf.callbacks.PredictedValidation)
VAL_ONLY = ("mcc", "balanced_accuracy", "subset_accuracy", "hamming_loss", "roc_auc_macro", "average_precision_macro")
MONITORS = ("auto", *_METRICS, *(f"val_{m}" for m in (*_METRICS, *VAL_ONLY)))  # train.early_stopping.monitor

THRESHOLD_RULES = ("auto", "best_f1", "best_mcc")
MULTILABEL_ONLY = ("f1_micro", "subset_accuracy", "hamming_loss", "roc_auc_macro", "average_precision_macro")
MULTICLASS_ONLY = ("accuracy", "mcc", "balanced_accuracy")


def validate_monitor(monitor: str) -> None:
    """train.early_stopping.monitor names a metric that is logged: loss, accuracy or f1_macro, val_ or not."""
    if monitor not in MONITORS:
        close = difflib.get_close_matches(monitor, MONITORS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UserError(
            f"train.early_stopping.monitor: unknown metric {monitor!r}, expected one of {', '.join(MONITORS)}{hint}"
        )


def validate_task(cfg) -> None:
    validate_labels(cfg)
    validate_class_weight(cfg)
    validate_threshold(cfg)
    validate_task_monitor(cfg)


def validate_labels(cfg) -> None:
    data = cfg.data
    if data.label_columns is not None and cfg.task != "multilabel":
        raise UserError("data.label_columns: one 0/1 column per class is a multilabel layout; set task: multilabel")
    if data.label_columns is not None and len(set(data.label_columns)) < 2:
        raise UserError(f"data.label_columns: expected at least two distinct columns, got {data.label_columns}")
    if not data.label_delimiter:
        raise UserError("data.label_delimiter: expected a non-empty separator such as ','")
    if data.sampling == "balanced" and cfg.task == "multilabel":
        raise UserError(
            "data.sampling: balanced draws rows by their one class (multiclass); "
            "for multilabel use train.class_weight: balanced"
        )


def validate_class_weight(cfg) -> None:
    cw = cfg.train.class_weight
    if cw is None or cw == "balanced":
        return
    if isinstance(cw, str):
        raise UserError(f"train.class_weight: expected balanced, a mapping {{class: weight}} or null, got {cw!r}")
    for name, w in cw.items():
        if not isinstance(w, (int, float)) or isinstance(w, bool) or w <= 0:
            raise UserError(f"train.class_weight.{name}: expected a positive number, got {w!r}")


def validate_threshold(cfg) -> None:
    t = cfg.decision.threshold
    if isinstance(t, bool) or (isinstance(t, str) and t not in THRESHOLD_RULES):
        raise UserError(
            f"decision.threshold: expected a number in (0, 1) or one of {', '.join(THRESHOLD_RULES)}, got {t!r}"
        )
    if isinstance(t, (int, float)) and not 0 < t < 1:
        raise UserError(f"decision.threshold: expected a number in (0, 1), got {t}")
    m = cfg.decision.min_positives
    if isinstance(m, bool) or not isinstance(m, int) or m < 0:
        raise UserError(f"decision.min_positives: expected a whole number >= 0, got {m!r}")
    if t == "best_mcc" and cfg.task == "multilabel":
        raise UserError("decision.threshold: best_mcc is for two classes; multilabel thresholds use best_f1 per class")


def validate_task_monitor(cfg) -> None:
    es = cfg.train.early_stopping
    if es is None or es.monitor == "auto":
        return
    metric = es.monitor.removeprefix("val_")
    wrong = MULTICLASS_ONLY if cfg.task == "multilabel" else MULTILABEL_ONLY
    if metric in wrong:
        ok = ", ".join(f"val_{m}" for m in (MULTILABEL_ONLY if cfg.task == "multilabel" else MULTICLASS_ONLY))
        raise UserError(
            f"train.early_stopping.monitor: {es.monitor} is not logged for task: {cfg.task} "
            f"(expected loss, f1_macro or one of {ok})"
        )
