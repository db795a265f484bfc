"""What a stopped run needs to go on as if it had never stopped.

Keras' BackupAndRestore keeps the weights, the optimizer and the epoch in `backup/`. That alone
does not make a resumed run the run it continues: the random draws of later epochs (dropout,
mixup's λ and permutation, word dropout) come from generators
whose state it does not keep, and EarlyStopping starts counting its patience again. `RandomState`
saves both beside the backup at each epoch's end and puts them back when the run resumes, so a
run killed after epoch k and resumed gives the same metrics as one that was never stopped (on
CPU; tested). A run killed in the middle of an epoch redoes that epoch from its start.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import random
from pathlib import Path

import keras
import numpy as np

from kerasclf import distribute
from kerasclf.run_folder import RunFolder

log = logging.getLogger("kerasclf")

STATE = "random_state.npz"  # in backup/, beside Keras' own files


def resume_point(folder: RunFolder) -> tuple[int, list[dict]]:
    """The number of epochs the backup holds, and history.csv's rows for them (later rows are redone)."""
    meta = folder.backup / "training_metadata.json"
    epoch = json.loads(meta.read_text())["epoch"] if meta.is_file() else 0
    rows = []
    if folder.history.is_file():
        with open(folder.history, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= epoch]  # epochs count from 1
    return epoch, rows


def _seed_states(model: keras.Model) -> list:
    """The model's random-seed variables: `model.variables` holds them, `model.weights` does not."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _global_states() -> dict[str, np.ndarray]:
    out = {}
    version, internal, gauss = random.getstate()
    out["python"] = np.asarray(internal, dtype=np.int64)
    out["python_meta"] = np.asarray([version, -1 if gauss is None else 1], dtype=np.int64)
    out["python_gauss"] = np.asarray([0.0 if gauss is None else gauss])
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    out["numpy"] = keys
    out["numpy_meta"] = np.asarray([pos, has_gauss], dtype=np.int64)
    out["numpy_gauss"] = np.asarray([cached])
    if keras.backend.backend() == "torch":
        import torch

        out["torch"] = torch.get_rng_state().numpy()
        if torch.cuda.is_available():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                out[f"torch_cuda_{i}"] = s.numpy()
    return out


def _set_global_states(saved) -> None:
    version, gauss_flag = (int(v) for v in saved["python_meta"])
    gauss = None if gauss_flag < 0 else float(saved["python_gauss"][0])
    random.setstate((version, tuple(int(v) for v in saved["python"]), gauss))
    pos, has_gauss = (int(v) for v in saved["numpy_meta"])
    np.random.set_state(("MT19937", saved["numpy"], pos, has_gauss, float(saved["numpy_gauss"][0])))
    if keras.backend.backend() == "torch" and "torch" in saved:
        import torch

        torch.set_rng_state(torch.from_numpy(np.array(saved["torch"])))
        cuda = [torch.from_numpy(np.array(saved[k])) for k in sorted(k for k in saved if k.startswith("torch_cuda_"))]
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def _prefix(rank: int) -> str:
    """The keys of rank `rank`'s states in the file (rank 0's, as a single process's, have none)."""
    return f"rank{rank}_" if rank else ""


class RandomState(keras.callbacks.Callback):
    """Saves the random generators and EarlyStopping's count at each epoch's end into `backup_dir`;
    restores them at the start of a resumed fit. Put it after BackupAndRestore and EarlyStopping in
    the callback list: it must read EarlyStopping's count after that epoch's update, and restore
    it after EarlyStopping's own reset."""

    def __init__(self, backup_dir: str | Path, early_stopping: keras.callbacks.EarlyStopping | None = None):
        super().__init__()
        self.path = Path(backup_dir) / STATE
        self.early_stopping = early_stopping
        self.epochs_done = 0

    def on_train_begin(self, logs=None):
        meta = self.path.parent / "training_metadata.json"
        if not (self.path.is_file() and meta.is_file()):
            return
        epoch = json.loads(meta.read_text())["epoch"]
        prefix = _prefix(distribute.world().rank)  # data parallel: each rank's own generators
        with np.load(self.path) as saved:
            saved = dict(saved)
        if prefix and not any(k.startswith(prefix) for k in saved):
            log.warning(
                "backup/%s holds no state for rank %d (the run was stopped with fewer processes): it goes on "
                "with rank 0's generators",
                STATE,
                distribute.world().rank,
            )
            prefix = ""
        saved = {k.removeprefix(prefix): v for k, v in saved.items() if k.startswith(prefix)}
        if int(saved["epoch"][0]) != epoch:
            log.warning(
                "backup/%s is from epoch %d, the weights from epoch %d: the resumed run goes on with "
                "other random draws than an uninterrupted one",
                STATE,
                int(saved["epoch"][0]),
                epoch,
            )
            return
        _set_global_states(saved)
        seeds = _seed_states(self.model)
        for i, v in enumerate(seeds):
            if f"seed_{i}" in saved:
                v.assign(saved[f"seed_{i}"])
        es = self.early_stopping
        if es is not None and "es_wait" in saved:
            es.wait = int(saved["es_wait"][0])
            es.best = float(saved["es_best"][0]) if saved["es_has_best"][0] else None
            es.best_epoch = int(saved["es_best_epoch"][0])

    def on_epoch_end(self, epoch, logs=None):
        out = {"epoch": np.asarray([epoch + 1]), **_global_states()}
        for i, v in enumerate(_seed_states(self.model)):
            out[f"seed_{i}"] = keras.ops.convert_to_numpy(v.value)
        es = self.early_stopping
        if es is not None:
            out["es_wait"] = np.asarray([es.wait])
            out["es_has_best"] = np.asarray([es.best is not None])
            out["es_best"] = np.asarray([0.0 if es.best is None else float(es.best)])
            out["es_best_epoch"] = np.asarray([es.best_epoch])
        ranks = distribute.gather(out)  # data parallel: every rank's state, saved by rank 0 in one file
        if not distribute.world().main:
            return
        out = {f"{_prefix(r)}{k}": v for r, states in enumerate(ranks) for k, v in states.items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, **out)
        os.replace(tmp, self.path)  # a kill mid-write leaves the previous epoch's file whole
