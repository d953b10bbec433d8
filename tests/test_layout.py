"""The layout stays readable: no module of the app over 400 lines, no function over 100, and the import
contracts kept (.importlinter: the engine never imports Streamlit, no cycles). Pure and fast: it reads
the source, it imports nothing of the app."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 100


def app_modules() -> list[Path]:
    """The app's own code: app.py, the pages, the pages' helpers and the engine (not tests, not benches)."""
    found = [
        ROOT / "app.py",
        *ROOT.glob("app_pages/*.py"),
        *ROOT.glob("lab_ui*.py"),
        *ROOT.glob("lab_ui/**/*.py"),
        *ROOT.glob("mnist_core/**/*.py"),
    ]
    return sorted(p for p in found if p.is_file())


def test_the_app_has_the_modules_this_test_reads():
    names = {p.relative_to(ROOT).as_posix() for p in app_modules()}
    assert {"app.py", "mnist_core/__init__.py", "mnist_core/training.py"} <= names


@pytest.mark.parametrize("path", app_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_over_400_lines_and_no_function_over_100(path):
    source = path.read_text(encoding="utf-8")
    assert source.count("\n") <= MAX_MODULE_LINES, f"{path.name}: {source.count(chr(10))} lines"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{path.name}:{node.lineno} {node.name}() is {length} lines"


def test_the_import_contracts_are_kept():
    """lint-imports (import-linter, a test requirement) with the project's .importlinter."""
    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if tool is None:
        pytest.skip("import-linter is not installed (pip install -r requirements-dev.txt)")
    out = subprocess.run([tool, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
