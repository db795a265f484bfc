"""The Keras callbacks a run trains with, and the two kerasclf adds (epochs counted from 1 in
history.csv, and one line per epoch in train.log)."""

from __future__ import annotations

import logging
import time

import keras
import numpy as np

from kerasclf import distribute
from kerasclf.config import Config
from kerasclf.data.batching import Split
from kerasclf.decision_rule import DecisionRule
from kerasclf.metrics import classification_metrics, multilabel_metrics
from kerasclf.resume import RandomState
from kerasclf.run import predict_probs
from kerasclf.run_folder import RunFolder

log = logging.getLogger("kerasclf")


def monitor_mode(cfg: Config) -> tuple[str, str]:
    """(the metric that picks the best epoch, "min" or "max")."""
    es = cfg.train.early_stopping
    monitor = es.monitor if es else "auto"
    if monitor == "auto":
        monitor = "val_f1_macro" if cfg.task == "multilabel" else "val_accuracy"
    mode = es.mode if es else "auto"
    if mode == "auto":
        mode = "min" if monitor.endswith("loss") else "max"
    return monitor, mode


class HistoryCSV(keras.callbacks.CSVLogger):
    """Keras' CSVLogger with epochs counted from 1, as the log, the plots and metrics.json count them."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


class EpochLog(keras.callbacks.Callback):
    """One line per epoch in the log (and so in train.log): its metrics and seconds."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs, self.start = epochs, None

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.start if self.start else float("nan")
        values = ", ".join(f"{k} {float(v):.4f}" for k, v in sorted((logs or {}).items()) if k != "learning_rate")
        log.info("epoch %d/%d: %s (%.1f s)", epoch + 1, self.epochs, values, seconds)


def validation_logs(labels: np.ndarray, probs: np.ndarray, class_names: list[str], multilabel: bool) -> dict:
    """The val_ metrics of one epoch from the validation split's (uncalibrated) probabilities:
    multiclass: loss, accuracy, f1_macro, mcc, balanced_accuracy (argmax); multilabel: loss (binary
    cross-entropy), f1_micro, f1_macro, subset_accuracy, hamming_loss, roc_auc_macro,
    average_precision_macro (every label at 0.5; the tuned thresholds come after training)."""
    if multilabel:
        m = multilabel_metrics(labels, probs, class_names, np.full(len(class_names), 0.5))
        p = np.clip(probs, 1e-12, 1 - 1e-12)
        loss = -(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean()
        keys = ("f1_micro", "f1_macro", "subset_accuracy", "hamming_loss", "roc_auc_macro", "average_precision_macro")
    else:
        m = classification_metrics(labels, probs, class_names)
        loss = -np.log(np.maximum(probs[np.arange(len(labels)), labels], 1e-300)).mean()
        keys = ("accuracy", "f1_macro", "mcc", "balanced_accuracy")
    out = {"val_loss": float(loss)}
    out.update({f"val_{k}": float("nan") if m.get(k) is None else float(m[k]) for k in keys})
    return out


class PredictedValidation(keras.callbacks.Callback):
    """The val_ metrics (validation_logs) from the model's predictions of the validation split,
    computed as metrics.json's are, for the first place in the callback list (later callbacks read them).

    Used where Keras' own validation would not give them: metrics Keras does not compute each step
    (mcc, balanced_accuracy, the multilabel ones), and jax, where every batch is padded to the whole
    batch size (one compiled step, not one more for the last batch; over several devices, an even
    split): Keras' validation would run the padding rows, and its loss tracker weighs each batch by
    all of its rows (padding included); prediction drops them, so these are the figures of unpadded batches."""

    def __init__(self, x: dict, labels, class_names: list[str], split: Split, batch_size: int, multilabel: bool):
        """`split` pads the prediction batches (no ranks: every process predicts every row)."""
        super().__init__()
        self.x, self.labels, self.class_names, self.split = x, np.asarray(labels), class_names, split
        self.batch_size, self.multilabel = batch_size, multilabel

    def on_epoch_end(self, epoch, logs=None):
        # with train.ema, validate the averaged weights, as Keras' validation does under SwapEMAWeights
        swap = keras.callbacks.SwapEMAWeights() if getattr(self.model.optimizer, "use_ema", False) else None
        if swap is not None:
            swap.set_model(self.model)
            swap.on_test_begin()
        try:
            with distribute.on_this_process(self.model) as model:  # jax across hosts: a local copy
                rule = DecisionRule("multilabel" if self.multilabel else "multiclass")
                probs = predict_probs(model, self.x, self.batch_size, self.split, rule)
        finally:
            if swap is not None:
                swap.on_test_end()
        values = validation_logs(self.labels, probs, self.class_names, self.multilabel)
        # jax across hosts: every process predicts the same rows; rank 0's figures, so that early
        # stopping and the best epoch agree on every host even where their floats round differently
        (logs if logs is not None else {}).update(distribute.broadcast(values))


class _Alone:
    """For the callbacks that rank 0 alone runs to save weights: they save with the distribution unset
    (distribute.alone: jax across processes)."""

    def on_train_batch_end(self, batch, logs=None):
        with distribute.alone():
            super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        with distribute.alone():
            super().on_epoch_end(epoch, logs)


class Backup(_Alone, keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore (rank 0's)."""


class Checkpoint(_Alone, keras.callbacks.ModelCheckpoint):
    """Keras' ModelCheckpoint (rank 0's)."""


class RestoreOnly(keras.callbacks.BackupAndRestore):
    """BackupAndRestore for the ranks other than 0 of a data-parallel run: they resume from the
    backup rank 0 writes, and write nothing (nor delete it when training ends)."""

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


def training_callbacks(cfg: Config, folder: RunFolder, resumed_history: list[dict], main: bool = True) -> list:
    """The callbacks of `model.fit`, in the order they must run at the end of an epoch. In a
    data-parallel run only rank 0 (`main`) writes: history, backup, checkpoint, log lines."""
    monitor, mode = monitor_mode(cfg)
    best_so_far = None
    if resumed_history:
        values = [float(r[monitor]) for r in resumed_history]
        best_so_far = min(values) if mode == "min" else max(values)
    es = cfg.train.early_stopping
    stopping = keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=es.patience) if es else None
    # the backup keeps the raw weights to resume from; then (with train.ema) the averaged weights are
    # swapped in for the checkpoint of the best epoch; the random state is saved after EarlyStopping
    # has counted this epoch, and the epoch's log line comes last, when its backup is whole
    checkpoint = Checkpoint(
        str(folder.best_weights),
        monitor=monitor,
        mode=mode,
        save_best_only=True,
        save_weights_only=True,
        initial_value_threshold=best_so_far,
    )
    return [
        keras.callbacks.TerminateOnNaN(),
        *([HistoryCSV(str(folder.history), append=True)] if main else []),
        (Backup if main else RestoreOnly)(str(folder.backup)),
        *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if cfg.train.ema else []),
        *([checkpoint] if main else []),
        *([stopping] if stopping else []),
        RandomState(folder.backup, stopping),
        *([EpochLog(cfg.train.epochs)] if main else []),
    ]
