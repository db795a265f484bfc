"""The transformers side of the bench scripts that race its Trainer (finetune_vs_hf.py, mrpc.py): tokenized rows
as the Trainer reads them, and the classification model in float32."""

from __future__ import annotations


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
