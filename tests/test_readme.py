"""The README's reproducible figures equal what its commands give today (bench/readme_figures.py)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("readme_figures", ROOT / "bench" / "readme_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_shows_what_the_default_run_gives(tmp_path):
    script = _script()
    values = script.figures(tmp_path)
    text = script.README.read_text(encoding="utf-8")
    assert script.render(text, values) == text, (
        "README.md figures are stale; run `make readme` (python bench/readme_figures.py --write)"
    )
    assert values["predict"].startswith('{"label": ') and values["accuracy"].endswith("%")


def test_the_thirty_second_example_runs_as_written(tmp_path, monkeypatch):
    """The README's first example (the default run, then a prediction), run in an empty folder."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- quick -->", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(block, "README quick example", "exec"), scope)
    assert scope["run_dir"].resolve().parent == (tmp_path / "runs").resolve()
    assert scope["run"].predict(["A wonderful, moving film."])[0]["label"] in ("neg", "pos")
