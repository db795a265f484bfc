"""The README's figures that a user can reproduce, made by running what the README says to run.

    python bench/readme_figures.py           # --check: exit 1 and show what differs if the README is stale
    python bench/readme_figures.py --write   # rewrite those figures in README.md (make readme)

It trains the default config as `make train` does (`python -m kerasclf.train`, the shipped
sample), classifies the README's example texts with `python -m kerasclf.predict` and with
`load_run(...).predict` (the code path of the demo's API, tested equal in tests/test_demo.py),
and puts the outputs and the run's test accuracy where the README shows them. A seeded CPU run
gives the same figures every time; tests/test_readme.py runs the check.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
POSITIVE = "A wonderful, moving film."
NEGATIVE = "Dull and far too long."


def _run(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT, env=env)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return r.stdout


def figures(output_dir: str | Path | None = None) -> dict[str, str]:
    """Train the default config and classify the README's texts; the figures as the README prints them."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(output_dir or tmp)
        run_dir = _run("kerasclf.train", "--output-dir", str(out)).strip().splitlines()[-1]
        predicted = _run("kerasclf.predict", "--run", run_dir, "--text", POSITIVE).strip()

        import kerasclf

        run = kerasclf.load_run(run_dir)
        pos, neg = run.predict([POSITIVE, NEGATIVE])
        accuracy = json.loads((Path(run_dir) / "metrics.json").read_text())["test"]["accuracy"]
    return {
        "predict": predicted,
        "api_one": repr(pos),
        "api_batch": f"[{pos!r},\n#  {neg!r}]",
        "curl": json.dumps([pos]),
        "accuracy": f"{100 * accuracy:.1f}%",
    }


# where each figure stands in the README: (figure, pattern whose group 1 is the figure's text)
PLACES = [
    ("predict", r'--text "A wonderful, moving film\."\n(\{.*\})\s+# the default run of `make train`'),
    ("api_one", r'api_name="/classify"\)\n# (\{.*\})\n'),
    ("api_batch", r'api_name="/classify_batch"\)\n# (\[\{.*\},\n#  \{.*\}\])\n'),
    ("curl", r"# data: (\[.*\])\n"),
    ("accuracy", r"default run of `make train`, (\d+\.\d%) test accuracy"),
]


def render(text: str, values: dict[str, str]) -> str:
    """`text` with every figure replaced by its value; each place must be found exactly once."""
    for name, pattern in PLACES:
        found = list(re.finditer(pattern, text))
        if len(found) != 1:
            raise SystemExit(f"README.md: the {name} figure ({pattern}) is found {len(found)} times, expected once")
        m = found[0]
        text = text[: m.start(1)] + values[name] + text[m.end(1) :]
    return text


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="rewrite README.md (default: only check it)")
    args = p.parse_args()
    text = README.read_text(encoding="utf-8")
    new = render(text, figures())
    if new == text:
        print("README.md: every reproducible figure is current")
        return 0
    if args.write:
        README.write_text(new, encoding="utf-8")
        print("README.md: figures rewritten")
        return 0
    import difflib

    sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), new.splitlines(True), "README.md", "fresh run"))
    return 1


if __name__ == "__main__":
    sys.exit(main())
