"""Run configs as YAML files, each a short delta over a documented base.

A top-level `base: OTHER.yaml` (resolved against the file's own folder) is read first, and the
file's keys override it: mappings merge key by key at every depth, anything else (a list, a
number, a string) replaces the base's value whole. A base has no base of its own, so a config
is never more than two files: the run and the base it names. The codec's, the LMs' and the
recipes' configs all load through `load_yaml`.

Written here rather than taken from jsonargparse's config merging: the codec's and the recipes'
run configs are plain dataclasses read from YAML, and this is their one composition rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

BASE_KEY = "base"


def load_yaml(path: str | Path) -> dict[str, Any]:
    """The config at `path` with its base merged in, as a dict without the `base` key."""
    path = Path(path)
    data = _read(path)
    base = data.pop(BASE_KEY, None)
    if base is None:
        return data
    base_path = path.parent / str(base)
    merged = _read(base_path)
    if BASE_KEY in merged:
        raise ValueError(
            f"{path}: its base {base_path} names a base of its own; a config is at most two "
            "files (the run and its base)"
        )
    return merge(merged, data)


def merge(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """`delta` over `base`: mappings merge key by key at every depth, other values replace."""
    out = dict(base)
    for key, value in delta.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _read(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise FileNotFoundError(f"no such config file: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config is a mapping of sections, got {type(data).__name__}")
    return data
