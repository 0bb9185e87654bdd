"""The installed package's version, read from its metadata (no torch, no other echovox module)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """echovox's version; "0.0.0+unknown" in a source tree that was never installed."""
    try:
        return version("echovox")
    except PackageNotFoundError:
        return "0.0.0+unknown"
