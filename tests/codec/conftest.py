from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from echovox.codec import CodecConfig, RVQCodec


def speechlike(seconds: float, sr: int, seed: int = 0, f0: float = 140.0) -> np.ndarray:
    """A voiced, amplitude-modulated harmonic signal with a little noise: structured like
    speech (pitch, formant-ish harmonics, syllable rate) without needing a TTS here."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 1.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2
    x = 0.15 * x * env + 0.003 * rng.standard_normal(t.size)
    return x.astype(np.float32)


@pytest.fixture
def make_speech():
    """The `speechlike` generator (conftest modules are not importable under importlib mode)."""
    return speechlike


@pytest.fixture
def tiny_codec() -> RVQCodec:
    torch.manual_seed(0)
    return RVQCodec(CodecConfig.from_name("tiny")).eval()


@pytest.fixture
def audio_dir(tmp_path):
    d = tmp_path / "audio"
    d.mkdir()
    for i in range(3):
        sf.write(str(d / f"clip{i}.wav"), speechlike(1.2, 16000, seed=i, f0=110 + 30 * i), 16000)
    return d


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread; several threads on a shared 2-core machine
    oversubscribe and run 10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
