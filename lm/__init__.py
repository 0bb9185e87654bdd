"""Codec language models: the AR model (codebook 1) and the NAR model (codebooks 2..Q).

    from echovox.lm import load_pretrained, generate_ar, generate_nar, SamplingSettings

Names resolve lazily so that importing `echovox.lm.cli` (for `echovox --help`) stays free of
torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ARConfig": "config",
    "NARConfig": "config",
    "ConfigError": "config",
    "ARModel": "ar",
    "NARModel": "nar",
    "SamplingSettings": "generate",
    "ARResult": "generate",
    "generate_ar": "generate",
    "generate_nar": "generate",
    "generate_nar_distributions": "generate",
    "NARResult": "generate",
    "save_pretrained": "checkpoint",
    "load_pretrained": "checkpoint",
    "load_symbols": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
