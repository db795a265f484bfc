"""Train from a config and write a run folder.

    python -m kerasclf.train                                   # the default config on the shipped sample
    python -m kerasclf.train --config configs/imdb_cnn.yaml --set data.source=../shared/data/aclImdb_labeled.tar.gz
    python -m kerasclf.train --resume runs/imdb_cnn-20261121-101500.incomplete

The last line printed is the run folder.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

import keras
import numpy as np

from kerasclf import features, plots
from kerasclf.callbacks import monitor_mode, training_callbacks
from kerasclf.cli import Parser, entry_point
from kerasclf.config import Config, from_dict, load_config, read_yaml, save_config
from kerasclf.data.batching import Batches, token_counts
from kerasclf.data.load import Data, load_data, load_tokenizer
from kerasclf.errors import UserError
from kerasclf.metrics import classification_metrics
from kerasclf.models.build import build_model
from kerasclf.models.compile import compile_model
from kerasclf.resume import resume_point
from kerasclf.run import INCOMPLETE, predict_probs

log = logging.getLogger("kerasclf")


def _new_run_dir(output_dir: Path, name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        final = output_dir / (f"{name}-{stamp}" + (f"-{i}" if i else ""))
        tmp = final.with_name(final.name + INCOMPLETE)
        if not final.exists() and not tmp.exists():
            tmp.mkdir(parents=True)
            return tmp
    raise UserError(f"--output-dir {output_dir}: could not find a free run folder name")


def _write_history(path: Path, rows: list[dict]) -> None:
    if not rows:
        path.unlink(missing_ok=True)
        return
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)


def _write_predictions(path: Path, data: Data, probs: np.ndarray) -> None:
    names = data.class_names
    test = data.raw.test
    columns = list(test.columns)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([*columns, "label", "predicted", "correct", *[f"p_{c}" for c in names]])
        for i in range(len(test)):
            pred = int(probs[i].argmax())
            true = int(test.labels[i])
            w.writerow(
                [
                    *(test.columns[c][i] for c in columns),
                    names[true],
                    names[pred],
                    int(pred == true),
                    *(f"{p:.6f}" for p in probs[i]),
                ]
            )


class _Collect(logging.Handler):
    """Keeps log records in memory until train.log can be opened."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def train(cfg: Config, output_dir: str | Path = "runs", resume: str | Path | None = None) -> Path:
    """Train `cfg`, evaluate on validation and test, write the run folder and return its path."""
    tokenizers = None
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / "config.yaml").is_file():
            raise UserError(f"--resume {resume}: not a run folder (expected config.yaml there)")
        if (run_dir / "model.keras").exists() or not run_dir.name.endswith(INCOMPLETE):
            raise UserError(
                f"--resume {resume}: this run finished; only a stopped run "
                f"(a folder named *{INCOMPLETE}) can be resumed"
            )
        cfg = from_dict(read_yaml(run_dir / "config.yaml"))
        tokenizers = {i.name: load_tokenizer(i, run_dir / "tokenizers" / f"{i.name}.json") for i in cfg.inputs}
    keras.utils.set_random_seed(cfg.train.seed)
    if log.level == logging.NOTSET:  # the Python API too writes INFO lines to train.log
        log.setLevel(logging.INFO)
    early = _Collect()  # the data lines come before the folder exists: train.log gets them once it does
    log.addHandler(early)
    try:
        data = load_data(cfg, tokenizers)  # every bad-input error is raised here, before a folder exists
    finally:
        log.removeHandler(early)

    if resume is None:
        run_dir = _new_run_dir(Path(output_dir), cfg.name)
        save_config(cfg, run_dir / "config.yaml")
        (run_dir / "tokenizers").mkdir()
        for name, tok in data.tokenizers.items():
            tok.save(run_dir / "tokenizers" / f"{name}.json")
        (run_dir / "labels.json").write_text(json.dumps(data.class_names))
    handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    for record in early.records:
        handler.handle(record)
    log.addHandler(handler)
    try:
        return _fit_and_write(cfg, data, run_dir, resume is not None)
    except KeyboardInterrupt:
        log.info("interrupted; continue with: python -m kerasclf.train --resume %s", run_dir)
        raise
    except BaseException:
        # a folder with no finished epoch holds nothing to resume: leave no half-written run behind
        if resume is None and not (run_dir / "backup").exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        log.removeHandler(handler)
        handler.close()


def _fit_and_write(cfg: Config, data: Data, run_dir: Path, resumed: bool) -> Path:
    model = build_model(cfg, data)
    # what model.fit trains: the whole model, or (frozen backbones) its core on cached backbone features
    fit_model, arrays, train_batches = model, data.arrays, data.train
    cached = features.cached_inputs(cfg)
    if cached:
        t = cfg.train
        arrays = {
            s: features.core_arrays(model, cached, data.arrays[s], s, t.batch_size)
            for s in ("train", "validation", "test")
        }
        fit_model = compile_model(model.get_layer("core"), t, data.num_classes, len(data.train))
        train_batches = Batches(
            arrays["train"],
            data.raw.train.labels,
            t.batch_size,
            shuffle=True,
            bucket=True,
            seed=t.seed,
            lengths=token_counts(data.arrays["train"]),
        )
        log.info("training the head on cached features of %s", ", ".join(i.name for i in cached))
    start_epoch, history_rows = resume_point(run_dir) if resumed else (0, [])
    if resumed:
        _write_history(run_dir / "history.csv", history_rows)
        train_batches.set_epoch(start_epoch)
        log.info("resuming %s at epoch %d of %d", run_dir, start_epoch + 1, cfg.train.epochs)
    model.summary(print_fn=lambda line, *a, **k: log.info(line), expand_nested=len(cfg.inputs) > 1)
    log.info("training into %s (resume with --resume if it is stopped)", run_dir)
    verbose = 1 if sys.stdout.isatty() else 0  # off a terminal, the log's line per epoch is the progress
    # the same random state at the start of fit whether or not features were computed first (that runs
    # the backbones, which draws from the global generators; Keras' unseeded torch dropout uses them)
    keras.utils.set_random_seed(cfg.train.seed)
    start = time.perf_counter()
    # the model is built; BackupAndRestore restores weights, optimizer and the epoch to go on from
    fit_model.fit(
        train_batches,
        validation_data=Batches(arrays["validation"], data.raw.validation.labels, cfg.train.batch_size),
        epochs=cfg.train.epochs,
        callbacks=training_callbacks(cfg, run_dir, history_rows),
        verbose=verbose,
    )
    fit_seconds = time.perf_counter() - start

    history = plots.read_history(run_dir / "history.csv")
    monitor, mode = monitor_mode(cfg)
    best_path = run_dir / "checkpoints" / "best.weights.h5"
    best_epoch = None
    if best_path.is_file():
        fit_model.load_weights(str(best_path))
        values = np.asarray(history[monitor], dtype=float)
        pick = np.nanargmin if mode == "min" else np.nanargmax
        best_epoch = int(pick(values)) + 1
        log.info("best epoch %d by %s = %.4f", best_epoch, monitor, values[best_epoch - 1])

    metrics = {}
    for split in ("validation", "test"):
        probs = predict_probs(fit_model, arrays[split], cfg.train.batch_size)
        metrics[split] = classification_metrics(getattr(data.raw, split).labels, probs, data.class_names)
        if split == "test":
            _write_predictions(run_dir / "predictions.csv", data, probs)
    metrics["best_epoch"] = best_epoch
    metrics["epochs_run"] = len(history.get("epoch", []))
    metrics["seconds_fit"] = round(fit_seconds, 2)
    metrics["seconds_per_epoch"] = round(fit_seconds / max(1, metrics["epochs_run"] - start_epoch), 2)
    metrics["tokenize_seconds"] = round(data.tokenize_seconds, 3)
    metrics["cached_features"] = [i.name for i in cached]
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    test = metrics["test"]
    scores = f"test accuracy {test['accuracy']:.4f}, macro F1 {test['f1_macro']:.4f}"
    name = run_dir.name.removesuffix(INCOMPLETE)
    plots.training_curves(history, best_epoch, run_dir / "training_curves.png", f"{name}: {scores}")
    plots.confusion_matrix(
        np.asarray(test["confusion_matrix"]),
        data.class_names,
        run_dir / "confusion_matrix.png",
        f"{name}\ntest split, {test['count']} texts: {scores.removeprefix('test ')}",
    )
    # the served model: the same layers and weights without the optimizer's state (two moments per weight:
    # 2/3 of the file for models with large embedding tables; resuming reads backup/, not this file)
    keras.Model(model.input, model.output, name=model.name).save(run_dir / "model.keras")
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    shutil.rmtree(run_dir / "backup", ignore_errors=True)
    for split in ("validation", "test"):
        m = metrics[split]
        log.info(
            "%s: accuracy %.4f, f1_macro %.4f%s",
            split,
            m["accuracy"],
            m["f1_macro"],
            f", roc_auc {m['roc_auc']:.4f}" if "roc_auc" in m else "",
        )
    final = run_dir.with_name(run_dir.name.removesuffix(INCOMPLETE))
    run_dir.rename(final)
    return final


@entry_point
def main(argv=None) -> int:
    p = Parser(prog="python -m kerasclf.train", description="Train a text classifier from a YAML config.")
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="config file; several merge in order (later win, inputs concatenate)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="overrides",
        help="override one value, e.g. --set train.epochs=2 --set inputs.0.max_length=64",
    )
    p.add_argument("--output-dir", default="runs", help="where run folders go (default: runs)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its last finished epoch")
    args = p.parse_args(argv)
    if args.resume and (args.config or args.overrides):
        raise UserError("--resume takes the run's own config; leave out --config and --set")
    cfg = None if args.resume else load_config(*args.config, overrides=args.overrides)
    try:
        run_dir = train(cfg, args.output_dir, resume=args.resume)
    except KeyboardInterrupt:
        return 130
    print(run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
