"""What kerasclf's CPU set-up for torch is worth (kerasclf/device.py): the memory a step frees kept for
the next step (reuse_cpu_memory) and subnormal floats flushed to zero (flush_denormals).

    python bench/cpu_memory.py --source ../shared/data/aclImdb_labeled.tar.gz
    python bench/cpu_memory.py --configs imdb_cnn imdb_bow --skip-cli
    python bench/cpu_memory.py --configs imdb_bow imdb_nbsvm --skip-steps

Two tables, each variant in its own process, one after the other on this machine:
- one training step of each config's model on full-IMDB batches (64 rows at 600 and at 300 tokens):
  milliseconds and minor page faults a step, under torch's and glibc's defaults, with glibc's settings
  (memory kept), with torch's transparent huge pages (THP_MEM_ALLOC_ENABLE, tried and not taken) alone and
  beside them, with memory kept and subnormals flushed but blocks over 32 MiB mapped afresh in each step
  (KERASCLF_HEAP_STEPS=0, the default before device.heap_blocks), with kerasclf's default (memory kept,
  large blocks too inside a step, subnormals flushed), and with huge pages as well;
- `python -m kerasclf.train --config configs/CONFIG.yaml` as a user runs it, whole process, with torch's
  and glibc's defaults, with large blocks mapped in each step, and with kerasclf's default: wall seconds,
  seconds an epoch, peak RSS (wait4), validation and test accuracy (keeping memory and huge pages move
  memory, not arithmetic; flushing changes values under 1e-38 only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import append, command, machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
IMDB = ROOT.parent / "shared" / "data" / "aclImdb_labeled.tar.gz"
SECTION = "torch on a CPU: memory kept between training steps"
CLI_SECTION = "torch on a CPU: memory kept and subnormals flushed, the CLI's whole process"
STEP_COLUMNS = [
    "date",
    "config",
    "memory settings",
    "ms a step, 600 tokens (speed-up)",
    "page faults a step",
    "ms a step, 300 tokens (speed-up)",
    "page faults a step",
    "machine",
    "command",
]
CLI_COLUMNS = [
    "date",
    "config",
    "memory settings",
    "whole process s (speed-up)",
    "s an epoch",
    "epochs",
    "peak GiB",
    "validation accuracy",
    "test accuracy",
    "machine",
    "command",
]

# the environment of each variant: KERASCLF_REUSE_MEMORY=0 and KERASCLF_FLUSH_DENORMAL=0 leave glibc and torch
# as they are (kerasclf/device.py); THP_MEM_ALLOC_ENABLE=1 is torch's own switch for transparent huge pages
DEFAULTS = {"KERASCLF_REUSE_MEMORY": "0", "KERASCLF_FLUSH_DENORMAL": "0"}
HUGE = {"THP_MEM_ALLOC_ENABLE": "1"}
VARIANTS = {
    "torch and glibc defaults": DEFAULTS,
    "memory kept (glibc)": {"KERASCLF_FLUSH_DENORMAL": "0"},
    "torch huge pages only": {**DEFAULTS, **HUGE},
    "memory kept and huge pages": {"KERASCLF_FLUSH_DENORMAL": "0", **HUGE},
    # KERASCLF_HEAP_STEPS=0: blocks over 32 MiB mapped afresh in every training step (kerasclf's default
    # until device.heap_blocks, 2026-12-07)
    "memory kept, subnormals flushed, large blocks mapped": {"KERASCLF_HEAP_STEPS": "0"},
    "memory kept, subnormals flushed (kerasclf default)": {},
    "memory kept, subnormals flushed, huge pages": HUGE,
}
CLI_VARIANTS = (
    "torch and glibc defaults",
    "memory kept, subnormals flushed, large blocks mapped",
    "memory kept, subnormals flushed (kerasclf default)",
)

STEP = """
import json, resource, sys, time
import numpy as np
import kerasclf
cfg = kerasclf.load_config("configs/{config}.yaml", overrides=["data.source={source}"])
data = kerasclf.load_data(cfg, progress=False)
model = kerasclf.build_model(cfg, data)
arrays = data.arrays["train"]
rows = {{}}
for length in (600, 300):
    x = {{k: v[:64, :length] for k, v in arrays.items()}}
    y = np.asarray(data.raw.train.labels)[:64]
    for _ in range(3):
        model.train_on_batch(x, y)
    faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
    for _ in range({steps}):
        model.train_on_batch(x, y)
    rows[length] = ((time.perf_counter() - start) / {steps} * 1000,
                    (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / {steps})
print(json.dumps(rows))
"""


def clean_env(extra: dict) -> dict:
    ours = ("THP_MEM_ALLOC_ENABLE", "KERASCLF_REUSE_MEMORY", "KERASCLF_FLUSH_DENORMAL", "KERASCLF_HEAP_STEPS")
    env = {k: v for k, v in os.environ.items() if k not in ours and not k.startswith("MALLOC_")}
    return {**env, "KERAS_BACKEND": "torch", **extra}


def step_run(config: str, source: str, steps: int, extra: dict, root: Path = ROOT) -> dict:
    """STEP in a fresh process, in the checkout `root`: {length: (ms, minor faults) a step}."""
    code = STEP.format(config=config, source=source, steps=steps)
    r = subprocess.run([sys.executable, "-c", code], cwd=root, env=clean_env(extra), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{config} in {root}: {(r.stderr.strip().splitlines() or ['no output'])[-1]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def step_rows(config: str, source: str, steps: int) -> dict:
    out = {}
    for name, extra in VARIANTS.items():
        out[name] = step_run(config, source, steps, extra)
        print(config, name, out[name], flush=True)
    return out


def cli_run(config: str, source: str, extra: dict, out_dir: str, root: Path = ROOT) -> dict:
    """`python -m kerasclf.train` in a fresh process, in the checkout `root`: its wall seconds and peak RSS
    (wait4), and the run's metrics.json."""
    args = [sys.executable, "-m", "kerasclf.train", "--config", f"configs/{config}.yaml", "--output-dir", out_dir]
    args += ["--set", f"data.source={source}"]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=root, env=clean_env(extra), stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS, not the bench's other children
        wall = time.perf_counter() - start
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{config}: {(stderr.strip().splitlines() or ['no output'])[-1]}")
    metrics = json.loads((Path(stdout.strip().splitlines()[-1]) / "metrics.json").read_text())
    return {"wall": wall, "metrics": metrics, "peak_gib": usage.ru_maxrss / 2**20}


def cli_cells(r: dict) -> list:
    """A `cli_run`'s seconds an epoch, epochs run, peak RSS, validation and test accuracy, as table cells."""
    m = r["metrics"]
    return [
        f"{m['seconds_per_epoch']:.1f}",
        m["epochs_run"],
        f"{r['peak_gib']:.2f}",
        f"{m['validation']['accuracy']:.4f}",
        f"{m['test']['accuracy']:.4f}",
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=["imdb_cnn"])
    p.add_argument("--source", default=str(IMDB))
    p.add_argument("--steps", type=int, default=20, help="timed steps per length")
    p.add_argument("--skip-cli", action="store_true", help="the step table only")
    p.add_argument("--skip-steps", action="store_true", help="the CLI table only")
    args = p.parse_args()
    source = str(Path(args.source).resolve())
    where, today, cmd = machine(), date.today().isoformat(), command()
    for config in [] if args.skip_steps else args.configs:
        rows = step_rows(config, source, args.steps)
        base = rows["torch and glibc defaults"]
        for name, r in rows.items():
            cells = []
            for length in ("600", "300"):
                ms, faults = r[length]
                cells += [f"{ms:.1f} ({base[length][0] / ms:.2f}x)", f"{faults:,.0f}"]
            append(
                SECTION,
                STEP_COLUMNS,
                [today, config, name, *cells, where, f"`{cmd}`"],
            )
    if args.skip_cli:
        return
    for config in args.configs:
        runs = {}
        for name in CLI_VARIANTS:
            with tempfile.TemporaryDirectory() as out_dir:
                runs[name] = cli_run(config, source, VARIANTS[name], out_dir)
            print(config, name, runs[name]["wall"], flush=True)
        base = runs["torch and glibc defaults"]
        for name, r in runs.items():
            append(
                CLI_SECTION,
                CLI_COLUMNS,
                [
                    today,
                    config,
                    name,
                    f"{r['wall']:.0f} ({base['wall'] / r['wall']:.2f}x)",
                    *cli_cells(r),
                    where,
                    f"`{cmd}`",
                ],
            )


if __name__ == "__main__":
    main()
