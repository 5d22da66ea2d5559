"""The package keeps its layers: imports point down (docs/ARCHITECTURE.md), and no module or
function grows past what a reader takes in at one sitting."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ide"
# Lowest first; a module may import from its own folder and from folders before it.
LAYERS = ["data", "repo", "learn", "ops", "app", "serve", "cli"]
MODULES = sorted(PACKAGE.rglob("*.py"))


def imported(tree: ast.AST):
    """(line, module) of every `ide.*` import in TREE, those inside functions included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            if node.module == "ide":
                yield from ((node.lineno, f"ide.{a.name}") for a in node.names)
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            pytest.fail(f"relative import at line {node.lineno}: imports name their layer")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    here = path.relative_to(PACKAGE).parts
    if len(here) == 1:  # ide/__init__.py and errors.py: below every layer
        level = -1
    else:
        level = LAYERS.index(here[0])
    up = [f"{line}: {module}" for line, module in imported(ast.parse(path.read_text()))
          if module.startswith("ide.") and module.split(".")[1] in LAYERS
          and LAYERS.index(module.split(".")[1]) > level]
    assert not up, f"{path.relative_to(PACKAGE)} imports from a layer above it: {up}"


def test_every_layer_is_a_folder_and_nothing_else_is_loose():
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__") \
        == sorted(LAYERS)
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py", "errors.py"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_and_functions_stay_readable(path):
    text = path.read_text()
    assert text.count("\n") <= 400, "a module over 400 lines: split it by concept"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > 80]
    assert not long, f"functions over 80 lines: {long}"
