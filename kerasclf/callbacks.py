"""The Keras callbacks a run trains with, and the two kerasclf adds (epochs counted from 1 in
history.csv, and one line per epoch in train.log)."""

from __future__ import annotations

import logging
import time

import keras

from kerasclf.config import Config
from kerasclf.resume import RandomState
from kerasclf.run_folder import RunFolder

log = logging.getLogger("kerasclf")


def monitor_mode(cfg: Config) -> tuple[str, str]:
    """(the metric that picks the best epoch, "min" or "max")."""
    es = cfg.train.early_stopping
    monitor = es.monitor if es else "val_accuracy"
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


def training_callbacks(cfg: Config, folder: RunFolder, resumed_history: list[dict]) -> list:
    """The callbacks of `model.fit`, in the order they must run at the end of an epoch."""
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
    return [
        keras.callbacks.TerminateOnNaN(),
        HistoryCSV(str(folder.history), append=True),
        keras.callbacks.BackupAndRestore(str(folder.backup)),
        *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if cfg.train.ema else []),
        keras.callbacks.ModelCheckpoint(
            str(folder.best_weights),
            monitor=monitor,
            mode=mode,
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=best_so_far,
        ),
        *([stopping] if stopping else []),
        RandomState(folder.backup, stopping),
        EpochLog(cfg.train.epochs),
    ]
