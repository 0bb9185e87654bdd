"""Shared fixtures: a tiny random-weight model directory for plumbing tests (it produces noise,
not speech), a stereo 16 kHz prompt file, and a loaded Synthesizer. The app, eval and
model-directory tests all use them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

# model_helpers.py through this path entry (pytest runs with --import-mode=importlib)
sys.path.insert(0, str(Path(__file__).parent))

from model_helpers import SR, build_tiny_model, voice  # noqa: E402

from echovox.audio import save_audio  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture(scope="session")
def synth(tiny_model_dir):
    from echovox.app.synthesizer import Synthesizer

    # float32 throughout, whatever the CPU: tests that compare against the codec or the LMs
    # called directly expect their exact numbers (bfloat16 has its own test)
    return Synthesizer.from_pretrained(tiny_model_dir, device="cpu", bf16=False)


@pytest.fixture(scope="session")
def prompt_wav(tmp_path_factory):
    """2.5 s of voice at 16 kHz stereo, so loading must resample and mix down."""
    wav = voice(2.5, sr=16_000)
    stereo = np.stack([wav, 0.5 * wav], axis=1)
    path = tmp_path_factory.mktemp("prompt") / "prompt.wav"
    import soundfile as sf

    sf.write(str(path), stereo, 16_000)
    return path


@pytest.fixture
def save_wav(tmp_path):
    def _save(wav, sr=SR, name="x.wav"):
        return save_audio(tmp_path / name, wav, sr)

    return _save


@pytest.fixture(scope="session")
def whisper():
    """The real Whisper base (the packaged offline copy), loaded once for the session."""
    from echovox.eval.asr import load_asr

    return load_asr("whisper", device="cpu", threads=2)
