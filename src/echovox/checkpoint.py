"""Checkpoint directories: safetensors weights plus a JSON config. Loading never unpickles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

CONFIG_NAME = "config.json"

# The model directory's format tag and file names (echovox.model_dir writes and reads the
# whole directory). They live here, at the bottom, so that a codec or an LM can be read out of
# a model directory without importing the layer that assembles one.
FORMAT = "echovox-model-v1"
CODEC_WEIGHTS = "codec.safetensors"
AR_WEIGHTS = "ar.safetensors"
NAR_WEIGHTS = "nar.safetensors"
SYMBOLS_NAME = "symbols.json"
CARD_NAME = "README.md"


class CheckpointError(ValueError):
    """A checkpoint directory is missing a file, or a file does not match the model."""


def save_weights(
    module: torch.nn.Module, path: str | Path, dtype: torch.dtype | None = None
) -> Path:
    """Write a module's state dict as safetensors.

    dtype: store floating-point tensors in this type (e.g. torch.float16 halves a shipped model;
    `load_weights` casts back to the module's own dtype). A tensor that would overflow or lose
    its finiteness in `dtype` stays as it is. Integer buffers are never cast. Tensors named in a
    submodule's `derived_state` are left out (that submodule rebuilds them on loading)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # state a submodule rebuilds from the rest when it loads (its `derived_state` names, such as
    # an EMA codebook's running sums) stays out of weight files; training checkpoints keep it
    derived = {
        f"{prefix}.{name}" if prefix else name
        for prefix, sub in module.named_modules()
        for name in getattr(sub, "derived_state", ())
    }
    state = {}
    for k, v in module.state_dict().items():
        if k in derived:
            continue
        # contiguous copies: safetensors refuses views and tied storage
        v = v.detach().contiguous().cpu()
        if dtype is not None and v.is_floating_point() and v.dtype != dtype:
            cast = v.to(dtype)
            if bool(torch.isfinite(cast).all()) or not bool(torch.isfinite(v).all()):
                v = cast
        state[k] = v
    save_file(state, str(path))
    return path


WEIGHTS_DTYPES = {"float32": None, "float16": torch.float16, "bfloat16": torch.bfloat16}


def storage_dtype(weights_dtype: str) -> torch.dtype | None:
    """The `save_weights` dtype for a config's "float32" / "float16" / "bfloat16"."""
    if weights_dtype not in WEIGHTS_DTYPES:
        raise ValueError(
            f"weights_dtype must be one of {sorted(WEIGHTS_DTYPES)}, not {weights_dtype!r}"
        )
    return WEIGHTS_DTYPES[weights_dtype]


def load_weights(
    module: torch.nn.Module, path: str | Path, strict: bool = True
) -> set[torch.dtype]:
    """Load a safetensors file into `module` (cast to the module's own dtypes); returns the
    dtypes the file stored its floating-point tensors in."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"missing weights file: {path}")
    try:
        state = load_file(str(path))
    except Exception as err:  # safetensors raises its own types for truncated or foreign files
        raise CheckpointError(f"{path} is not a readable safetensors file: {err}") from err
    missing, unexpected = module.load_state_dict(state, strict=False)
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{path} does not match the model: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    return {v.dtype for v in state.values() if v.is_floating_point()}


def write_json(path: str | Path, obj: Any) -> Path:
    """Write JSON atomically (tmp file then rename), so a killed job never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"missing file: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is not valid JSON: {err}") from err
