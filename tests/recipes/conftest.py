from __future__ import annotations

import sys
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, so test files import their shared helpers from
# recipe_helpers.py through this path entry (a plain module name, unique to this folder)
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def tiny_codec_dir(tmp_path_factory) -> Path:
    """A randomly initialised tiny RVQ codec saved as a checkpoint directory."""
    import torch

    from echovox.codec import CodecConfig, RVQCodec

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("codec") / "tiny"
    RVQCodec(CodecConfig.from_name("tiny")).eval().save_pretrained(path)
    return path
