"""The LM package of an earlier commit, imported beside the current one, so that a benchmark can
time the old and the new code in one process, interleaved, on the same weights: on a shared CPU
only a side-by-side ratio means anything.

    old = load_lm("5ecb4ec")          # echovox_baseline_lm: old.ar.ARModel, old.generate, ...

`git archive` reads the commit from the repository's object store into a temporary folder;
no worktree or branch is touched.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
NAME = "echovox_baseline_lm"


def load_lm(ref: str) -> SimpleNamespace:
    """The `lm` package at git `ref` as `echovox_baseline_lm`: .ar, .generate, .layers, .sampling.
    Raises RuntimeError when git cannot produce it (no repository, unknown ref)."""
    r = subprocess.run(["git", "-C", str(REPO), "archive", ref, "lm"], capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"git archive {ref} lm: {r.stderr.decode().strip()}")
    dest = Path(tempfile.mkdtemp(prefix="echovox_baseline_"))
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tar:
        tar.extractall(dest)
    for mod in [m for m in sys.modules if m == NAME or m.startswith(NAME + ".")]:
        del sys.modules[mod]
    pkg = dest / "lm"
    spec = importlib.util.spec_from_file_location(
        NAME, pkg / "__init__.py", submodule_search_locations=[str(pkg)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    spec.loader.exec_module(module)
    parts = ("ar", "generate", "layers", "sampling")
    return SimpleNamespace(ref=ref, **{p: importlib.import_module(f"{NAME}.{p}") for p in parts})
