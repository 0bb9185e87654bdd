"""The repository stays small enough to clone: its tracked binary files (model weights, audio)
hold at most 60 MB. Model files are not source, so only the shipped models are tracked; a
checkpoint committed by mistake fails here before it lands."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_BINARY_BYTES = 60_000_000


def _is_binary(path: Path) -> bool:
    # git's own test: a NUL byte in the first 8,000 bytes
    with path.open("rb") as f:
        return b"\0" in f.read(8000)


def test_tracked_binaries_fit_the_limit():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    files = [ROOT / name.decode() for name in listed if name]
    sizes = {f: f.stat().st_size for f in files if f.is_file() and _is_binary(f)}
    total = sum(sizes.values())
    largest = sorted(sizes, key=sizes.get, reverse=True)[:5]
    assert total <= MAX_BINARY_BYTES, (
        f"tracked binaries hold {total / 1e6:.1f} MB (limit {MAX_BINARY_BYTES / 1e6:.0f}); "
        "largest: " + ", ".join(f"{f.relative_to(ROOT)} ({sizes[f] / 1e6:.1f} MB)" for f in largest)
    )
