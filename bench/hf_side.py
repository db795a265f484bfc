"""The transformers side of the bench scripts that race its Trainer (finetune_vs_hf.py, cli_vs_trainer.py, mrpc.py):
tokenized rows as the Trainer reads them, the classification model in float32, and the IMDB fine-tune as a
Trainer user writes it. Nothing here imports kerasclf or Keras, so that the Trainer's own process
(cli_vs_trainer.py) pays only for what a Trainer user imports."""

from __future__ import annotations

import json
import math
from pathlib import Path

# the IMDB fine-tuning recipe both sides of finetune_vs_hf.py and cli_vs_trainer.py follow
BATCH, LR, WARMUP, WD, CLIP, SEED = 16, 5e-5, 0.1, 0.01, 1.0, 42


def kerasclf_overrides(files: dict, preset: str, max_length: int, precision: str) -> list[str]:
    """The recipe above as `--set` overrides of configs/imdb_bert_finetune.yaml (kerasclf's side): the files
    (train, test, validation), BERT's pooled output, one rate, texts cut from the start with HTML kept."""
    return [
        f"data.source={files['train']}",
        f"data.test={files['test']}",
        f"data.validation={files['validation']}",
        f"inputs.0.encoder.preset={preset}",
        f"inputs.0.max_length={max_length}",
        "inputs.0.tokenizer.truncation=head",
        "inputs.0.tokenizer.strip_html=false",
        "inputs.0.encoder.pooling=pooled",
        "inputs.0.encoder.learning_rate=null",
        f"train.batch_size={BATCH}",
        f"train.learning_rate={LR}",
        "train.schedule=linear",
        f"train.warmup_ratio={WARMUP}",
        f"train.weight_decay={WD}",
        f"train.clipnorm={CLIP}",
        "train.epochs=1",
        f"train.seed={SEED}",
        f"train.precision={precision}",
    ]


def rows(enc, labels):
    """A torch Dataset of a tokenizer's output and integer labels: one dict per row, as DataCollatorWithPadding
    expects."""
    import torch

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return {**{k: v[i] for k, v in enc.items()}, "labels": int(labels[i])}

    return Rows()


def classifier(preset: str, num_labels: int):
    """AutoModelForSequenceClassification (BERT's pooler, dropout, a linear layer) with float32 weights, also from
    a float16 checkpoint (transformers 5 loads one in the checkpoint's dtype)."""
    import torch
    import transformers

    dtype = "dtype" if tuple(int(x) for x in transformers.__version__.split(".")[:2]) >= (4, 56) else "torch_dtype"
    return transformers.AutoModelForSequenceClassification.from_pretrained(
        preset, num_labels=num_labels, **{dtype: torch.float32}
    )


def train_and_predict(model, args, tok, train, test):
    """Trainer.train on `train` (padding each batch to its longest row), then logits of `test`: (the seconds
    Trainer.train took, logits as a numpy array)."""
    import time

    import numpy as np
    from transformers import DataCollatorWithPadding, Trainer

    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=DataCollatorWithPadding(tok))
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    return seconds, np.asarray(trainer.predict(test).predictions)


def read_jsonl(path: Path):
    """(texts, labels as 0/1 with pos = 1) of a bench/subsets.py file."""
    import numpy as np

    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
    return [r["text"] for r in rows], np.array([1 if r["label"] == "pos" else 0 for r in rows])


def imdb_trainer(files: dict, preset: str, max_length: int, precision: str = "float32", output_dir: Path | None = None):
    """Fine-tune `preset` on files["train"] with the Trainer (the recipe above, texts cut to max_length
    wordpieces from the start) and predict files["test"]: (training samples/s, test accuracy, Trainer.train's
    seconds, transformers' version)."""
    import torch
    import transformers
    from transformers import AutoTokenizer, TrainingArguments

    texts, labels = read_jsonl(files["train"])
    test_texts, test_labels = read_jsonl(files["test"])
    tok = AutoTokenizer.from_pretrained(preset)
    enc = tok(texts, truncation=True, max_length=max_length)
    test_enc = tok(test_texts, truncation=True, max_length=max_length)

    transformers.set_seed(SEED)
    model = classifier(preset, 2)
    steps = math.ceil(len(texts) / BATCH)
    args = TrainingArguments(
        output_dir=str(output_dir or Path(__file__).parent / "out" / "hf_trainer"),
        per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=64,
        learning_rate=LR,
        num_train_epochs=1,
        lr_scheduler_type="linear",
        warmup_steps=int(WARMUP * steps),
        weight_decay=WD,
        max_grad_norm=CLIP,
        seed=SEED,
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        bf16=precision == "mixed_bfloat16",
        save_strategy="no",
        logging_strategy="no",
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    seconds, logits = train_and_predict(model, args, tok, rows(enc, labels), rows(test_enc, test_labels))
    acc = float((logits.argmax(1) == test_labels).mean())
    return len(texts) / seconds, acc, seconds, transformers.__version__
