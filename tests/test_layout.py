"""The package's shape: layers that depend one way, short functions and modules, private APIs in one place."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kerasclf"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_FUNCTION_LINES = 50
MAX_MODULE_LINES = 400


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The kerasclf modules `path` imports, at any depth of the file (lazy imports count too)."""
    names = {_name(p) for p in MODULES}
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kerasclf"):
            for alias in node.names:  # `from kerasclf.models import pretrained` imports a module
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in names else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("kerasclf"))
    return {m for m in found if m in names and m != _name(path)}


def test_the_import_graph_has_no_cycle():
    """Lazy imports included: a cycle hidden in a function is still a cycle between layers
    (the package's __init__, which imports the public API, is left out as an importer)."""
    graph = {_name(p): _imports(p) for p in MODULES if p.name != "__init__.py" or p.parent != PACKAGE}
    state: dict[str, int] = {}

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt == "kerasclf":
                continue
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def _functions(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_no_function_is_longer_than_50_lines():
    long = []
    for path in MODULES:
        for fn in _functions(ast.parse(path.read_text())):
            lines = fn.end_lineno - fn.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                long.append(f"{path.relative_to(PACKAGE.parent)}:{fn.lineno} {fn.name} ({lines} lines)")
    assert not long, "functions over 50 lines:\n" + "\n".join(long)


def test_no_module_is_longer_than_400_lines():
    long = [f"{p.relative_to(PACKAGE.parent)} ({n})" for p in MODULES if (n := len(p.read_text().splitlines())) > 400]
    assert not long, "modules over 400 lines: " + ", ".join(long)


def test_private_apis_are_used_in_backend_fast_only():
    """keras.src, keras_hub.src and torch's underscored functions: kerasclf/backend_fast.py, nowhere else."""
    offenders = []
    for path in MODULES:
        if path.name == "backend_fast.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.split(".")[:2]
                in (
                    ["keras", "src"],
                    ["keras_hub", "src"],
                )
            ):
                offenders.append(f"{path.name}:{node.lineno} from {node.module}")
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                base = node.value
                if isinstance(base, ast.Name) and base.id in ("torch", "keras", "keras_hub"):
                    offenders.append(f"{path.name}:{node.lineno} {base.id}.{node.attr}")
    assert not offenders, "private APIs outside backend_fast.py:\n" + "\n".join(offenders)


def test_the_public_functions_docstring_examples_run():
    """load_config, load_data and build_model carry runnable Examples (keras-hub's docstring style)."""
    import doctest

    import kerasclf
    from kerasclf import config
    from kerasclf.data import load
    from kerasclf.models import build

    for module, name in ((config, "load_config"), (load, "load_data"), (build, "build_model")):
        finder = doctest.DocTestFinder()
        (test,) = [t for t in finder.find(getattr(module, name), name) if t.examples]
        result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test, out=lambda _: None)
        assert result.failed == 0 and result.attempted > 0, name
    assert kerasclf.load_config is config.load_config
