"""No function in the package runs past 80 lines or takes more than 8 parameters (self and cls
not counted; *args and **kwargs neither, being no named options): a longer one is split into
named steps, and related parameters are grouped into a dataclass. Benchmarks and tests are
scripts, not the library, and are left out."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("src/echovox", "text", "codec", "lm", "app", "eval", "recipes")
MAX_LINES = 80
MAX_PARAMETERS = 8


def _functions():
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield path.relative_to(ROOT), node


def test_functions_are_short():
    long = [
        f"{path}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines"
        for path, node in _functions()
        if node.end_lineno - node.lineno + 1 > MAX_LINES
    ]
    assert not long, f"functions over {MAX_LINES} lines:\n" + "\n".join(long)


def test_signatures_are_small():
    wide = []
    for path, node in _functions():
        a = node.args
        names = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
        names = [n for n in names if n not in ("self", "cls")]
        if len(names) > MAX_PARAMETERS:
            wide.append(f"{path}:{node.lineno} {node.name}: {len(names)} parameters")
    assert not wide, f"signatures over {MAX_PARAMETERS} parameters:\n" + "\n".join(wide)
