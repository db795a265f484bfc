"""What set-up costs a new user: each README command timed from a fresh clone, and the venv it leaves.

    python bench/install_size.py                      # HEAD: `make train`, then `make test`'s install
    python bench/install_size.py --rev acc6a89 --rev HEAD    # several commits, one after the other

For each commit: `git clone` into a temporary folder, then `make train` (venv, install, train the
default config) timed as a whole process; the venv's size, its package count and whether
TensorFlow is in it; then the dev extra that `make test` installs before its tests (`make
.venv/.installed-dev`, or for commits before that target the whole `make setup` of the dev extra).
pip's cache is off (PIP_NO_CACHE_DIR=1), so every run downloads or unpacks everything again.
`--wheels` instead records the size of the wheels each command has pip fetch (`pip download`):
what sets the time on a machine that downloads them (a laptop), where these machines read most
from a local wheel folder. Rows go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import append, command, machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECTION = "Set-up from a fresh clone (issue 14)"
COLUMNS = ["date", "commit", "step", "wall s", "venv MB", "packages", "TensorFlow", "machine", "command"]


def _du_mb(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) // 2**20


def _packages(venv: Path) -> tuple[int, bool]:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True
    ).stdout.splitlines()
    return len(out), any(line.lower().startswith("tensorflow==") for line in out)


def _timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, "PIP_NO_CACHE_DIR": "1"})
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return time.perf_counter() - start


def measure(rev: str, when: str, where: str) -> None:
    sha = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "kerasclf"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", sha], cwd=clone, check=True)
        shared = ROOT.parent / "shared"
        if shared.exists():  # CI's layout: ../shared beside the clone
            os.symlink(shared, Path(tmp) / "shared")
        seconds = _timed(["make", "train"], clone)
        venv = clone / ".venv"
        count, tf = _packages(venv)
        append(
            SECTION,
            COLUMNS,
            [
                when,
                sha,
                "`make train` (set-up + default run)",
                f"{seconds:.0f}",
                _du_mb(venv),
                count,
                "yes" if tf else "no",
                where,
                command(),
            ],
        )
        has_dev_target = "installed-dev" in (clone / "Makefile").read_text()
        if has_dev_target:
            seconds = _timed(["make", ".venv/.installed-dev"], clone)
            step = "then `make test`'s install (dev extra)"
        else:  # before the split, make train already installed the dev extra
            step = None
        if step:
            count, tf = _packages(venv)
            append(
                SECTION,
                COLUMNS,
                [when, sha, step, f"{seconds:.0f}", _du_mb(venv), count, "yes" if tf else "no", where, command()],
            )
        shutil.rmtree(venv, ignore_errors=True)


def wheels(when: str, where: str) -> None:
    """MB of wheels `make train` and `make test` have pip fetch, the CPU torch wheel included."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        for step, spec in (("wheels for `make train`", "."), ("wheels for `make test` (all of them)", ".[dev]")):
            folder = Path(tmp) / spec
            _timed([sys.executable, "-m", "pip", "download", "-q", "-d", str(folder), "torch==2.13.0", spec], ROOT)
            mb = _du_mb(folder)
            append(
                SECTION,
                COLUMNS,
                [when, sha, step, "-", f"{mb} (download)", len(list(folder.iterdir())), "-", where, command()],
            )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rev", action="append", help="commit to measure (repeatable; default HEAD)")
    p.add_argument("--wheels", action="store_true", help="record the wheels' download size instead")
    args = p.parse_args()
    from datetime import date

    where = machine()
    if args.wheels:
        wheels(date.today().isoformat(), where)
        return 0
    for rev in args.rev or ["HEAD"]:
        measure(rev, date.today().isoformat(), where)
    return 0


if __name__ == "__main__":
    sys.exit(main())
