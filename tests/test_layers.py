"""Imports point down the layers, function-local ones included.

    echovox.audio, .checkpoint, .config_files, .dataview, .version  the bottom: no echovox imports
    echovox.text < echovox.codec < echovox.lm                   models and their training
    echovox.model_dir                                          the model-directory format
    echovox.app, echovox.eval                                  serving and evaluation (each may
                                                               use the other)
    echovox.recipes                                            may use everything
    echovox (the package __init__)                             the public facade, on top

A module may import its own package and anything in a lower layer. A string that names an
echovox module ("echovox.recipes.cli", a worker's "echovox.recipes.asr:transcribe_shard")
counts as an import too: importlib would make it one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# source folder -> the package it installs as (pyproject's package-dir)
FOLDERS = {
    "src/echovox": "echovox",
    "text": "echovox.text",
    "codec": "echovox.codec",
    "lm": "echovox.lm",
    "app": "echovox.app",
    "eval": "echovox.eval",
    "recipes": "echovox.recipes",
}
LAYERS = {
    "echovox.audio": 0,
    "echovox.checkpoint": 0,
    "echovox.config_files": 0,
    "echovox.dataview": 0,
    "echovox.version": 0,
    "echovox.text": 1,
    "echovox.codec": 2,
    "echovox.lm": 3,
    "echovox.model_dir": 4,
    "echovox.app": 5,
    "echovox.eval": 5,
    "echovox.recipes": 6,
    "echovox": 7,
}
MODULE_STRING = re.compile(r"echovox(\.\w+)+(:\w+)?")


def unit(module: str) -> str:
    """The layer entry a module belongs to: its longest prefix in LAYERS (the package itself,
    `echovox`, only for `echovox`)."""
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        name = ".".join(parts[:n])
        if name in LAYERS:
            return name
    if module == "echovox":
        return module
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def modules() -> dict[str, Path]:
    out = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("").parts
            if rel[-1] == "__init__":
                rel = rel[:-1]
            out[".".join((package, *rel))] = path
    return out


def imports(module: str, path: Path, known: set[str]):
    """(line, imported module) for every echovox import in the file, at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield node.lineno, sub if sub in known else target
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            named = node.value.partition(":")[0]
            if MODULE_STRING.fullmatch(node.value) and named in known:
                yield node.lineno, named


def test_imports_point_down():
    found = modules()
    known = set(found)
    upward = []
    for module, path in found.items():
        own = unit(module)
        for line, target in imports(module, path, known):
            if target != "echovox" and not target.startswith("echovox."):
                continue
            other = unit(target)
            if other == own:
                continue
            if LAYERS[other] > LAYERS[own] or (LAYERS[own] == 0 and other != own):
                where = path.relative_to(ROOT)
                upward.append(
                    f"{where}:{line}: {module} (layer {LAYERS[own]}) imports {target} "
                    f"(layer {LAYERS[other]})"
                )
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_every_module_is_in_a_layer():
    for module in modules():
        unit(module)
