"""Append measured numbers to bench/RESULTS.md: one table per benchmark, a row per run."""

from __future__ import annotations

import importlib
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # kerasclf before Keras: it sets KERAS_BACKEND=torch unless the caller chose one (Keras alone picks TF)
    kerasclf = importlib.import_module("kerasclf")
    keras, torch = importlib.import_module("keras"), importlib.import_module("torch")
    del kerasclf

    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU {cpu}, {os.cpu_count()} cores"
    return f"{dev}; torch {torch.__version__}, keras {keras.__version__}, backend {keras.backend.backend()}"


def train_cli(config: str, sets: list[str], out: str) -> tuple[Path, float]:
    """`python -m kerasclf.train --config configs/CONFIG.yaml --output-dir OUT --set ...` in a fresh
    process from the project root, as a user runs it: (the run folder, the whole process's seconds).
    A failed run stops the bench with the run's last error line."""
    root = Path(__file__).resolve().parent.parent
    args = [sys.executable, "-m", "kerasclf.train", "--config", f"configs/{config}.yaml", "--output-dir", out]
    args += [a for s in sets for a in ("--set", s)]
    start = time.perf_counter()
    r = subprocess.run(args, cwd=root, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{config} {sets}: {(r.stderr.strip().splitlines() or ['no output'])[-1]}")
    return Path(r.stdout.strip().splitlines()[-1]), time.perf_counter() - start


def command() -> str:
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def append(section: str, columns: list[str], row: list) -> None:
    """Add `row` to the table under `## section`, creating the section (and file) when missing."""
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmark results\n\nEvery number here was written by a script under bench/; "
        "each row names its date, machine and command.\n"
    )
    line = "| " + " | ".join(str(v) for v in row) + " |"
    head = f"## {section}"
    if head not in text:
        text = text.rstrip("\n") + f"\n\n{head}\n\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
        text += line + "\n"
    else:
        start = text.index(head)
        nxt = text.find("\n## ", start + len(head))
        end = len(text) if nxt < 0 else nxt
        block = text[start:end].rstrip("\n").split("\n")
        # the end of the section's first table: rows go there, before any notes under it
        row = next((i for i, b in enumerate(block) if b.startswith("|")), None)
        if row is None:  # a section without a table yet: start one
            block += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
            row = len(block)
        while row < len(block) and block[row].startswith("|"):
            row += 1
        block.insert(row, line)
        text = text[:start] + "\n".join(block) + "\n" + ("\n" + text[end:].lstrip("\n") if nxt >= 0 else "")
    RESULTS.write_text(text)
