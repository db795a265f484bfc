"""Train from a config and write a run folder.

    python -m kerasclf.train                                   # the default config on the shipped sample
    python -m kerasclf.train --config configs/imdb_cnn.yaml --set data.source=../shared/data/aclImdb_labeled.tar.gz
    python -m kerasclf.train --resume runs/imdb_cnn-20261121-101500.incomplete

The last line printed is the run folder. `train()` reads as the steps it takes: load the data (every
bad-input error is raised there, before a folder exists), create the run folder, build the model
(and cache frozen backbones' features), fit, pick the best epoch, evaluate, write the report,
save the model, finish the folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from kerasclf import backend_fast, calibration, distribute, features, plots
from kerasclf.callbacks import PredictedValidation, monitor_mode, training_callbacks
from kerasclf.cli import Parser, entry_point
from kerasclf.config import Config, from_dict, load_config, read_yaml, save_config
from kerasclf.data.batching import Batches, token_counts
from kerasclf.data.load import Data, load_data, load_tokenizer
from kerasclf.decision_rule import DecisionRule
from kerasclf.errors import PeerLost, UserError
from kerasclf.metrics import json_safe
from kerasclf.models.build import build_model
from kerasclf.models.compile import compile_model
from kerasclf.resume import resume_point
from kerasclf.run import predict_logits
from kerasclf.run_folder import RunFolder
from kerasclf.task_validation import VAL_ONLY

log = logging.getLogger("kerasclf")
SPLITS = ("train", "validation", "test")


def train(cfg: Config, output_dir: str | Path = "runs", resume: str | Path | None = None) -> Path:
    """Train `cfg`, evaluate on validation and test, write the run folder and return its path.

    Args:
        cfg: the config (from `load_config`); ignored when `resume` is given (the run's own is used).
        output_dir: where the run folder is created.
        resume: a stopped run folder (`<name>-<time>.incomplete`) to continue from its last finished epoch.

    Example:
        >>> import kerasclf
        >>> from kerasclf.train import train
        >>> run_dir = train(kerasclf.load_config(overrides=["train.epochs=1"]), "runs")  # doctest: +SKIP
    """
    folder = RunFolder.stopped(resume) if resume is not None else None
    tokenizers = None
    if folder is not None:
        cfg = from_dict(read_yaml(folder.config))
        tokenizers = {i.name: load_tokenizer(i, folder.tokenizer(i.name)) for i in cfg.inputs}
    world = distribute.World()
    try:
        world = distribute.start(cfg.train.distribute, cfg.train.batch_size)  # before any tensor exists
        path = _train_as(world, cfg, tokenizers, folder, output_dir)
        # jax across hosts: the other processes wait for rank 0's evaluation (they would otherwise
        # leave jax's coordination service, which rank 0 hosts, while it still works)
        return Path(distribute.broadcast(str(path))) if world.jax_processes else path
    except BaseException as e:
        if distribute.lost_peer(e):
            raise PeerLost(
                f"rank {world.rank}: another process of this run stopped ({distribute.peer_error(e)}); "
                "its own output says why; the run folder keeps the epochs that finished (--resume)"
            ) from None
        raise
    finally:
        distribute.stop()


def _train_as(world, cfg: Config, tokenizers, folder: RunFolder | None, output_dir) -> Path:
    """train() in one process of the world: every rank trains, rank 0 alone writes."""
    keras.utils.set_random_seed(cfg.train.seed)
    if log.level == logging.NOTSET:  # the Python API too writes INFO lines to train.log
        log.setLevel(logging.INFO)
    if not world.main:
        log.setLevel(logging.WARNING)  # one log, rank 0's
    with _collected() as early:  # the data lines come before the folder exists: train.log gets them once it does
        if world.engine != "none":
            log.info(distribute.describe(world, cfg.train.batch_size))
        data = load_data(cfg, tokenizers, progress=world.main)
    resumed = folder is not None
    if folder is None:
        path = distribute.broadcast(str(_create_folder(cfg, data, output_dir).path) if world.main else None)
        folder = RunFolder(path)
    logging_to = _logging_to(folder, early.records) if world.main else contextlib.nullcontext()
    with logging_to:
        try:
            return _train_into(cfg, data, folder, resumed=resumed).path
        except KeyboardInterrupt:
            log.info("interrupted; continue with: python -m kerasclf.train --resume %s", folder.path)
            raise
        except BaseException:
            if not resumed and world.main:
                folder.discard_if_empty()
            raise


def _create_folder(cfg: Config, data: Data, output_dir: str | Path) -> RunFolder:
    """A new run folder holding what reloads the model's inputs: config, tokenizers, labels."""
    folder = RunFolder.create(output_dir, cfg.name)
    save_config(cfg, folder.config)
    for name, tok in data.tokenizers.items():
        tok.save(folder.tokenizer(name))
    folder.labels.write_text(json.dumps(data.class_names))
    return folder


@dataclass
class _Trainable:
    """What model.fit trains: the whole model, or (frozen backbones) its core on cached features."""

    model: keras.Model  # the whole model, what the run folder serves
    fit_model: keras.Model
    arrays: dict  # split -> the fit model's input arrays
    train_batches: Batches
    cached: list  # the inputs whose backbone features are cached


def _train_into(cfg: Config, data: Data, folder: RunFolder, resumed: bool) -> RunFolder:
    """The steps after the data: build, (resume,) fit, pick the best epoch, evaluate, report, save, finish."""
    world = distribute.world()
    t = _build(cfg, data)
    if world.engine == "torch":
        backend_fast.torch_data_parallel(t.fit_model)  # DDP: gradients averaged over the ranks
    # rank 0 reads where the backup stands and trims history.csv; the other ranks are told
    point = resume_point(folder) if resumed and world.main else (0, [])
    start_epoch, history_rows = distribute.broadcast(point) if resumed else point
    if resumed:
        if world.main:
            folder.keep_history(history_rows)
        t.train_batches.set_epoch(start_epoch)
        log.info("resuming %s at epoch %d of %d", folder.path, start_epoch + 1, cfg.train.epochs)
    t.model.summary(print_fn=lambda line, *a, **k: log.info(line), expand_nested=len(cfg.inputs) > 1)
    log.info("training into %s (resume with --resume if it is stopped)", folder.path)
    seconds = _fit(cfg, data, folder, t, history_rows)
    if not world.main:
        return folder  # rank 0 evaluates every row once, writes the report and the model
    # jax across hosts: rank 0 goes on alone, with a copy of the model on its own devices
    with distribute.on_this_process(t.model) as model:
        fit_model = t.fit_model if model is t.model else (model.get_layer("core") if t.cached else model)
        return _conclude(cfg, data, folder, (model, fit_model), t, (seconds, start_epoch))


def _conclude(cfg, data: Data, folder: RunFolder, models: tuple, t: _Trainable, timing: tuple) -> RunFolder:
    """Rank 0, after fit: the best epoch's weights, the evaluation, the report, the served model.
    `models`: (the whole model, the one fit trained); `timing`: (fit's seconds, the epoch it started at)."""
    (model, fit_model), (seconds, start_epoch) = models, timing
    history = plots.read_history(folder.history)
    best_epoch = _restore_best(cfg, folder, fit_model, history)
    metrics = _evaluate(cfg, data, folder, fit_model, t.arrays)
    epochs_run = len(history.get("epoch", []))
    metrics.update(
        best_epoch=best_epoch,
        epochs_run=epochs_run,
        seconds_fit=round(seconds, 2),
        seconds_per_epoch=round(seconds / max(1, epochs_run - start_epoch), 2),
        tokenize_seconds=round(data.tokenize_seconds, 3),
        cached_features=[i.name for i in t.cached],
    )
    _report(folder, metrics, history, data.class_names)
    # the served model: the same layers and weights without the optimizer's state (two moments per weight:
    # 2/3 of the file for models with large embedding tables; resuming reads backup/, not this file)
    keras.Model(model.input, model.output, name=model.name).save(folder.model)
    return folder.finish()


def _build(cfg: Config, data: Data) -> _Trainable:
    """The compiled model, and with every backbone frozen its `core` on the backbones' cached features."""
    model = build_model(cfg, data)
    cached = features.cached_inputs(cfg)
    tc = cfg.train
    # data.train's batches, each shared out over the ranks in data-parallel training (one part otherwise)
    lengths = token_counts(data.arrays["train"])
    split = distribute.world().split(tc.batch_size)
    arrays, fit_model = data.arrays, model
    if cached:
        arrays = {s: features.core_arrays(model, cached, data.arrays[s], s, tc.batch_size) for s in SPLITS}
        fit_model = compile_model(
            model.get_layer("core"), tc, data.num_classes, len(data.train), task=cfg.task, pos_weight=data.pos_weight
        )
        log.info("training the head on cached features of %s", ", ".join(i.name for i in cached))
    batches = data.train_batches(arrays["train"], lengths=lengths, split=split, train_weights=True)
    return _Trainable(model, fit_model, arrays, batches, cached)


def _fit(cfg: Config, data: Data, folder: RunFolder, t: _Trainable, history_rows: list[dict]) -> float:
    """model.fit with the run's callbacks; the seconds it took."""
    # off a terminal (and on ranks other than 0), the log's line per epoch is the progress
    verbose = 1 if sys.stdout.isatty() and distribute.world().main else 0
    # the same random state at the start of fit whether or not features were computed first (that runs
    # the backbones, which draws from the global generators; Keras' unseeded torch dropout uses them)
    keras.utils.set_random_seed(cfg.train.seed)
    world, labels = distribute.world(), data.raw.validation.labels
    callbacks = training_callbacks(cfg, folder, history_rows, world.main)
    validation = Batches(t.arrays["validation"], labels, cfg.train.batch_size, split=world.split(cfg.train.batch_size))
    monitor = monitor_mode(cfg)[0]
    if validation.split.pad_to > 1 or cfg.task == "multilabel" or monitor.removeprefix("val_") in VAL_ONLY:
        # jax (padding dropped), and the metrics Keras does not compute: validation from predictions
        padded, multilabel = world.prediction_split(cfg.train.batch_size), cfg.task == "multilabel"
        callbacks.insert(0, PredictedValidation(t.arrays["validation"], labels, data.class_names, padded,
                                                cfg.train.batch_size, multilabel))  # fmt: skip
        validation = None
    start = time.perf_counter()
    # the model is built; BackupAndRestore restores weights, optimizer and the epoch to go on from
    t.fit_model.fit(
        t.train_batches,
        validation_data=validation,
        epochs=cfg.train.epochs,
        # Batches shuffles itself (seeded by train.seed and the epoch); Keras' own shuffle of the batch
        # order would draw from Python's global generator, which the ranks of a data-parallel run do
        # not share (each would take its part of a different batch at the same step)
        shuffle=False,
        callbacks=callbacks,
        verbose=verbose,
    )
    return time.perf_counter() - start


def _restore_best(cfg: Config, folder: RunFolder, fit_model: keras.Model, history: dict) -> int | None:
    """Load the best epoch's weights (by the monitored metric); its number, counted from 1."""
    if not folder.best_weights.is_file():
        return None
    fit_model.load_weights(str(folder.best_weights))
    monitor, mode = monitor_mode(cfg)
    values = np.asarray(history[monitor], dtype=float)
    best = int((np.nanargmin if mode == "min" else np.nanargmax)(values)) + 1
    log.info("best epoch %d by %s = %.4f", best, monitor, values[best - 1])
    return best


def _evaluate(cfg: Config, data: Data, folder: RunFolder, fit_model: keras.Model, arrays: dict) -> dict:
    """Metrics of validation and test (and predictions.csv for test) under the decision rule fitted
    on validation: the temperature (calibration) and the threshold(s), saved as decision.json."""
    padded = distribute.world().prediction_split(cfg.train.batch_size)
    logits = {s: predict_logits(fit_model, arrays[s], cfg.train.batch_size, padded) for s in ("validation", "test")}
    labels = {s: getattr(data.raw, s).labels for s in ("validation", "test")}
    rule = DecisionRule.fit(cfg, logits["validation"], labels["validation"], data.num_classes)
    rule.save(folder.decision)
    metrics, multilabel = {}, rule.multilabel
    for split in ("validation", "test"):
        raw, probs = rule.raw_probabilities(logits[split]), rule.probabilities(logits[split])
        m = metrics[split] = rule.metrics(labels[split], probs, data.class_names)
        before = calibration.reliability_bins(raw, labels[split], multilabel=multilabel)
        after = calibration.reliability_bins(probs, labels[split], multilabel=multilabel)
        m["calibration"] = {
            "temperature": rule.temperature,
            "ece_before": calibration.ece_from_bins(before),
            "ece_after": calibration.ece_from_bins(after),
        }
        if split == "test":
            folder.write_predictions(data.raw.test, data.class_names, probs, rule.chosen(probs))
            plots.reliability_diagram(
                before, after, folder.reliability, f"{folder.name}: test, T = {rule.temperature:.2f}"
            )
        log.info("%s: %s", split, _scores_line(m, multilabel))
    return metrics


def _scores_line(m: dict, multilabel: bool) -> str:
    """The log's line of a split's scores."""
    keys = ("f1_micro", "f1_macro", "subset_accuracy") if multilabel else ("accuracy", "f1_macro", "mcc", "roc_auc")
    scores = [f"{k} {m[k]:.4f}" for k in keys if isinstance(m.get(k), float)]
    c = m["calibration"]
    return (
        ", ".join(scores) + f"; ECE {c['ece_before']:.4f} -> {c['ece_after']:.4f} (temperature {c['temperature']:.3f})"
    )


def _report(folder: RunFolder, metrics: dict, history: dict, class_names: list[str]) -> None:
    """metrics.json and the pictures, titled with the run's name and test scores."""
    folder.metrics.write_text(json.dumps(json_safe(metrics), indent=2))
    test = metrics["test"]
    multilabel = "f1_micro" in test  # multilabel: F1 per class instead of a confusion matrix
    if multilabel:
        scores = f"micro F1 {test['f1_micro']:.4f}, macro F1 {test['f1_macro']:.4f}"
    else:
        scores = f"accuracy {test['accuracy']:.4f}, macro F1 {test['f1_macro']:.4f}"
    plots.training_curves(history, metrics["best_epoch"], folder.curves, f"{folder.name}: test {scores}")
    title = f"{folder.name}\ntest split, {test['count']} texts: {scores}"
    if multilabel:
        plots.per_class_f1(test["per_class"], folder.per_class_f1, title)
        return
    plots.confusion_matrix(np.asarray(test["confusion_matrix"]), class_names, folder.confusion, title)


class _Collect(logging.Handler):
    """Keeps log records in memory until train.log can be opened."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@contextlib.contextmanager
def _collected():
    handler = _Collect()
    log.addHandler(handler)
    try:
        yield handler
    finally:
        log.removeHandler(handler)


@contextlib.contextmanager
def _logging_to(folder: RunFolder, earlier: list[logging.LogRecord]):
    """The log also goes to the folder's train.log (the records from before it existed first)."""
    handler = logging.FileHandler(folder.log, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    for record in earlier:
        handler.handle(record)
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()


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
    rank = os.environ.get("RANK", os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID", "0"))
    if rank == "0":  # torchrun or jax across hosts: rank 0 prints the folder, once
        print(run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
