"""What the seq-CNN's torch path is worth: its bias, ReLU and pooling as one autograd function
(layers.ReluPool, backend_fast.torch_relu_pool) and every width's windows in one table lookup
(layers.OneHotConv).

    python bench/seq_cnn_step.py                                   # the layer alone
    python bench/seq_cnn_step.py --base 19f84c0 --source ../shared/data/aclImdb_labeled.tar.gz

- The layer: forward and backward of max_mean pooling of relu(x + bias) on (64, length, filters)
  batches of random features and text lengths, torch's autograd function against the same in keras.ops
  (what every other backend runs), one process; milliseconds and the largest difference of outputs and
  gradients (the features' gradient summed over the length, as equal maxima send it to different positions).
- With --base REV: a config's training step (bench/cpu_memory.py's step, 64 rows at 600 and 300 tokens)
  and `python -m kerasclf.train` as a user runs it on the full set, whole process, in a checkout of REV
  and in this tree, one after the other, each in its own process; both read this tree's config file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_memory import IMDB, ROOT, cli_cells, cli_run, step_run  # noqa: E402
from results import append, command, machine  # noqa: E402

SECTION = "The seq-CNN on torch: its bias, ReLU and pooling as one function"
LAYER_COLUMNS = [
    "date",
    "batch",
    "keras.ops ms",
    "torch function ms",
    "speed-up",
    "max difference",
    "machine",
    "command",
]
MODEL_SECTION = "The seq-CNN on torch: one lookup for all widths, one bias-ReLU-pool function; the step and the CLI"
MODEL_COLUMNS = [
    "date",
    "config",
    "code",
    "step ms at 600 / 300 tokens",
    "CLI wall s",
    "s / epoch",
    "epochs",
    "peak RSS GiB",
    "val acc",
    "test acc",
    "machine",
    "command",
]


def layer_rows(repeats: int) -> list[list]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import torch

    from kerasclf import backend_fast
    from kerasclf.models.layers import relu_pool

    rows = []
    for filters in (192, 384):
        for length in (304, 608):
            g = torch.Generator().manual_seed(0)
            x = torch.randn(64, length, filters, generator=g, requires_grad=True)
            bias = torch.zeros(filters, requires_grad=True)
            lengths = torch.randint(length // 4, length + 1, (64,), generator=g)
            mask = (torch.arange(length)[None] < lengths[:, None]).float()
            upstream = torch.randn(64, 2 * filters, generator=g)

            def step(pool, x=x, bias=bias, mask=mask, upstream=upstream):
                out = pool(x, bias, mask, "max_mean")
                return [out.detach(), *torch.autograd.grad(out, [x, bias], upstream)]

            # x's gradient summed over the length: where a feature's maximum is reached twice (random
            # floats repeat now and then) the two paths give it to different positions, not in all
            ours, theirs = step(relu_pool), step(backend_fast.torch_relu_pool)
            ours[1], theirs[1] = ours[1].sum(1), theirs[1].sum(1)
            diff = max(float((a - b).abs().max()) for a, b in zip(ours, theirs))
            ms = {}
            for name, pool in (("ops", relu_pool), ("torch", backend_fast.torch_relu_pool)):
                step(pool)
                start = time.perf_counter()
                for _ in range(repeats):
                    step(pool)
                ms[name] = (time.perf_counter() - start) / repeats * 1000
            rows.append(
                [
                    f"64 x {length} x {filters}",
                    f"{ms['ops']:.1f}",
                    f"{ms['torch']:.1f}",
                    f"{ms['ops'] / ms['torch']:.2f}x",
                    f"{diff:.1e}",
                ]
            )
            print(rows[-1], flush=True)
    return rows


def checkout(rev: str, into: Path, config: str) -> Path:
    """The tree of `rev` (git archive), so that its kerasclf is the one imported from there, with this
    tree's configs/CONFIG.yaml."""
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    shutil.copy(ROOT / "configs" / f"{config}.yaml", into / "configs" / f"{config}.yaml")
    found = subprocess.run(
        [sys.executable, "-c", "import kerasclf; print(kerasclf.__file__)"], cwd=into, capture_output=True, text=True
    ).stdout.strip()
    if not found.startswith(str(into)):
        raise SystemExit(f"{rev}: kerasclf is imported from {found}, not from the checkout")
    return into


def model_row(root: Path, config: str, source: str, steps: int) -> dict:
    step = step_run(config, source, steps, {}, root=root)
    with tempfile.TemporaryDirectory() as out_dir:
        cli = cli_run(config, source, {}, out_dir, root=root)
    return {"step": step, **cli}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=20, help="timed forward and backward passes per batch")
    p.add_argument("--base", help="a commit before the change: also time the step and the CLI there and here")
    p.add_argument("--config", default="imdb_cnn", help="with --base: the config (configs/CONFIG.yaml) to time")
    p.add_argument("--source", default=str(IMDB))
    p.add_argument("--steps", type=int, default=20, help="timed training steps per length (with --base)")
    args = p.parse_args()
    where, today, cmd = machine(), date.today().isoformat(), command()
    for row in layer_rows(args.repeats):
        append(SECTION, LAYER_COLUMNS, [today, *row, where, f"`{cmd}`"])
    if not args.base:
        return
    source = str(Path(args.source).resolve())
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as base_dir:
        trees = {
            args.base: checkout(args.base, Path(base_dir), args.config),
            head + (" + working tree" if dirty else ""): ROOT,
        }
        for name, root in trees.items():
            r = model_row(root, args.config, source, args.steps)
            print(name, r["step"], r["wall"], flush=True)
            append(
                MODEL_SECTION,
                MODEL_COLUMNS,
                [
                    today,
                    args.config,
                    name,
                    f"{r['step']['600'][0]:.1f} / {r['step']['300'][0]:.1f}",
                    f"{r['wall']:.0f}",
                    *cli_cells(r),
                    where,
                    f"`{cmd}`",
                ],
            )


if __name__ == "__main__":
    main()
