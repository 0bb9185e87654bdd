"""Helpers shared by the recipe tests (imported via the path entry conftest.py adds)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from echovox.recipes.config import config_from_dict

REPO = Path(__file__).resolve().parents[2]

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")


def synthetic_config(tmp_path: Path, codec: Path | None = None, **synthetic):
    syn = {
        "seed": 0,
        "n_speakers": 4,
        "n_heldout_speakers": 1,
        "chapters_per_speaker": 1,
        "sentences_per_chapter": 4,
        "long_pause_every": 3,
    }
    syn.update(synthetic)
    return config_from_dict(
        {
            "recipe": "synthetic",
            "exp_dir": str(tmp_path / "exp"),
            "corpus": {"root": str(tmp_path / "corpus"), "subsets": ["small"]},
            "synthetic": syn,
            "segment": {"target_seconds": 4.0, "min_seconds": 1.0},
            "asr": {"backend": "reference"},
            "splits": {"dev_speakers": 1, "test_speakers": 0},
            "tokenize": {"codec": str(codec) if codec else None, "batch_size": 4},
            "work": {"num_proc": 1, "shard_size": 4},
        }
    )


def tone_bursts(spans, duration, sr=16000, seed=0) -> np.ndarray:
    """Noise floor with 200 Hz harmonic bursts at `spans`: speech-like energy where wanted."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * sr)) / sr
    wav = 0.001 * rng.standard_normal(t.size)
    for a, b in spans:
        m = (t >= a) & (t < b)
        wav[m] += 0.3 * np.sin(2 * np.pi * 200 * t[m]) + 0.1 * np.sin(2 * np.pi * 600 * t[m])
    return wav.astype(np.float32)
