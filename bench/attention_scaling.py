"""Time and peak memory of one training step for full, local-window and Longformer-style attention
as the length grows (same width, heads, batch and window), written to bench/RESULTS.md and plotted.

    python bench/attention_scaling.py                      # CPU; on a GPU machine it uses the GPU
    python bench/attention_scaling.py --lengths 512 1024 2048 4096 --batch 4

Each point runs in a fresh process. Memory: on CPU the growth of the process' peak resident set
during the step; on a GPU torch.cuda.max_memory_allocated.

Each kind is measured on both attention paths (`--paths fast portable`): keras.ops.dot_product_attention,
on torch the fused scaled_dot_product_attention (what training uses), and the portable keras.ops path, which
materialises the scores as the textbook algorithm does. Rows are named `<kind>` and `<kind> (portable)`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENCODERS = {
    "full": "{type: transformer, embedding_dim: 128, heads: 4, ff_dim: 256, layers: 2, dropout: 0.0}",
    "local": (
        "{type: local_transformer, embedding_dim: 128, heads: 4, ff_dim: 256, layers: 2, dropout: 0.0, "
        "window_size: 128, overlap: true}"
    ),
    "longformer": (
        "{type: longformer, embedding_dim: 128, heads: 4, ff_dim: 256, layers: 2, dropout: 0.0, attention_window: 128}"
    ),
}


def label(kind: str, path: str) -> str:
    return kind if path == "fast" else f"{kind} (portable)"


def use_path(path: str) -> None:
    """In this (child) process, the layers take the portable path when asked: they call the attention
    module's functions, which are replaced by the same with fast=False."""
    from kerasclf.models import attention

    if path == "portable":
        for name in ("full_attention", "window_attention", "sliding_attention"):
            setattr(attention, name, functools.partial(getattr(attention, name), fast=False))


def one_point(kind: str, length: int, batch: int, steps: int, path: str = "fast") -> dict:
    """Runs in the child process."""
    import resource
    import time

    sys.path.insert(0, str(HERE.parent))
    import numpy as np
    import torch

    import kerasclf  # noqa: F401

    use_path(path)

    from kerasclf.config import load_config
    from kerasclf.models.build import build_network
    from kerasclf.models.compile import compile_model

    cfg = load_config(
        overrides=[
            f"inputs.0.encoder={ENCODERS[kind]}",
            f"inputs.0.max_length={length}",
            "head.units=[64]",
            f"train.batch_size={batch}",
        ]
    )
    model = compile_model(build_network(cfg, {"review": 20000}, 2), cfg.train, 2, 100)
    x = {"review": np.random.default_rng(0).integers(1, 20000, size=(batch, length)).astype("int32")}
    y = np.array([0, 1] * (batch // 2) + [0] * (batch % 2))
    cuda = torch.cuda.is_available()

    def rss_now():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    model.train_on_batch({"review": x["review"][:1, :16]}, y[:1])  # builds the optimizer state
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = rss_now()
    start = time.perf_counter()
    model.train_on_batch(x, y)
    if cuda:
        torch.cuda.synchronize()
    first = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ) - base
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return {
        "kind": label(kind, path),
        "length": length,
        "seconds": min(times) if times else first,
        "peak_mib": peak / 2**20,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    p.add_argument("--kinds", nargs="+", default=list(ENCODERS))
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument(
        "--paths",
        nargs="+",
        choices=["fast", "portable"],
        default=["fast", "portable"],
        help="torch's fused attention, the portable keras.ops path, or both",
    )
    p.add_argument("--child", nargs=3, metavar=("KIND", "LENGTH", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(
            "RESULT " + json.dumps(one_point(args.child[0], int(args.child[1]), args.batch, args.steps, args.child[2]))
        )
        return
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    from results import append, command, machine

    import kerasclf  # noqa: F401 - the children's backend (torch unless KERAS_BACKEND), before machine() imports keras

    rows = []
    for kind, path in [(k, p) for p in args.paths for k in args.kinds]:
        for length in args.lengths:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    kind,
                    str(length),
                    path,
                    "--batch",
                    str(args.batch),
                    "--steps",
                    str(args.steps),
                ],
                capture_output=True,
                text=True,
            )
            line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            if not line:
                print(out.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"{kind} at {length} failed")
            r = json.loads(line[0][7:])
            rows.append(r)
            print(f"{r['kind']:22s} {length:5d}  {r['seconds']:.3f} s  {r['peak_mib']:.0f} MiB", flush=True)
    by = {(r["kind"], r["length"]): r for r in rows}
    lo, hi = 1024, max(args.lengths)
    notes = []
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    for kind in kinds:
        if (kind, lo) in by and (kind, hi) in by:
            t = by[kind, hi]["seconds"] / by[kind, lo]["seconds"]
            m = by[kind, hi]["peak_mib"] / max(by[kind, lo]["peak_mib"], 1e-9)
            notes.append(f"{kind}: x{t:.1f} time, x{m:.1f} memory from {lo} to {hi}")
    for path in args.paths:
        full = label("full", path)
        for kind in ("local", "longformer"):
            kind = label(kind, path)
            if (kind, hi) in by and (full, hi) in by:
                notes.append(
                    f"{kind} at {hi}: {by[kind, hi]['peak_mib'] / by[full, hi]['peak_mib']:.2f} of {full}'s "
                    f"peak memory, {by[kind, hi]['seconds'] / by[full, hi]['seconds']:.2f} of its time"
                )
    where = machine()
    device = rows[0]["device"]
    for r in rows:
        append(
            "Attention scaling, one training step (issue 3): 2 blocks, width 128, 4 heads, "
            f"batch {args.batch}, window 128",
            ["date", "attention", "length", "seconds/step", "peak MiB", "machine", "command"],
            [
                date.today().isoformat(),
                r["kind"],
                r["length"],
                f"{r['seconds']:.3f}",
                f"{r['peak_mib']:.0f}",
                where,
                f"`{command()}`",
            ],
        )
    append(
        f"Attention scaling, one training step (issue 3): 2 blocks, width 128, 4 heads, batch {args.batch}, window 128",
        ["date", "attention", "length", "seconds/step", "peak MiB", "machine", "command"],
        [date.today().isoformat(), "summary", "", "; ".join(notes), "", device, ""],
    )
    print("\n".join(notes))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for kind in kinds:
        xs = [L for L in args.lengths if (kind, L) in by]
        style = "o-" if "portable" not in kind else "s--"
        axes[0].plot(xs, [by[kind, L]["seconds"] for L in xs], style, label=kind)
        axes[1].plot(xs, [by[kind, L]["peak_mib"] for L in xs], style, label=kind)
    for ax, title in zip(axes, ("seconds per training step", "peak memory of the step (MiB)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"attention scaling on {device}")
    fig.tight_layout()
    name = "attention_scaling_gpu.png" if device != "cpu" else "attention_scaling_cpu.png"
    fig.savefig(HERE / name, dpi=100)


if __name__ == "__main__":
    main()
