"""The package's layers, bottom to top, and the rule that a module imports only from its own layer
or the layers below it: data never reaches up into training, storage never into running, nothing
below the command line imports it. Deferred imports inside functions count too: they hide a
dependency, they do not remove it. `study/__init__.py` (the lazy public API) sits above all."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "study"
LAYERS = ("core", "data", "train", "evaluate", "store", "run", "analyze", "cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    """The layer index of `study.<layer>...`; None for the package facade and outside modules."""
    parts = module.split(".")
    if parts[0] != "study" or len(parts) < 2 or parts[1] not in LAYERS:
        return None
    return LAYERS.index(parts[1])


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """(line, module) for every `study` import in `source`, `from study import x` resolved to
    `study.x` (a submodule or a name of the facade)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                raise AssertionError(f"{module}:{node.lineno}: relative import")
            if node.module == "study":
                found += [(node.lineno, f"study.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] == "study"]


def upward_imports(source: str, module: str) -> list[str]:
    """The imports of `module` that reach a higher layer (or the facade, from inside a layer)."""
    own = layer_of(module)
    if own is None:
        return []
    problems = []
    for line, name in imported_modules(source, module):
        if name == "study.__version__":
            continue  # a constant of the facade, not its API
        target = layer_of(name)
        if target is None or target > own:
            problems.append(f"{module}:{line} imports {name}")
    return problems


def test_every_module_lives_in_a_layer():
    loose = [
        module_name(p)
        for p in PACKAGE.rglob("*.py")
        if layer_of(module_name(p)) is None and p.name not in ("__init__.py", "__main__.py")
    ]
    assert loose == []
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(LAYERS)


def test_imports_go_down_the_layers():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        problems += upward_imports(path.read_text(), module_name(path))
    assert problems == []


@pytest.mark.parametrize(
    ("module", "source", "bad"),
    [
        ("study.data.vocab", "from study.train.probes import x", True),
        ("study.store.results", "def f():\n    from study.run.runner import execute_run", True),
        ("study.core.config", "import study.cli.app", True),
        ("study.evaluate.score", "from study import run_grid", True),  # the facade is the top
        ("study.analyze.figures.curves", "from study.analyze import analysis", False),
        ("study.run.runner", "from study.train.trainers.base import Callback", False),
        ("study.cli.app", "from study import __version__", False),
    ],
)
def test_the_rule_itself(module, source, bad):
    assert bool(upward_imports(source, module)) is bad
