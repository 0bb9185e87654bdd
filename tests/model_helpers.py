"""Helpers of the tests that need a model directory (a plain module name, unique in tests/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SR = 8_000  # the tiny codec's rate


def build_tiny_model(directory, weights_dtype: str = "float32", **settings):
    """A random tiny model directory; `settings`: ModelSettings fields (objects or dicts)."""
    import torch

    from echovox.codec import CodecConfig, RVQCodec
    from echovox.lm.ar import ARModel
    from echovox.lm.config import ARConfig, NARConfig
    from echovox.lm.nar import NARModel
    from echovox.model_dir import ModelSettings, save_model_dir
    from echovox.text import SymbolTable

    torch.manual_seed(0)
    symbols = SymbolTable.default()
    codec = RVQCodec(CodecConfig.from_name("tiny"))
    # the tiny codec runs at 250 frames/s: 3 s of prompt is 750 frames, so widen the tables
    lm = dict(
        n_phonemes=len(symbols),
        n_codebooks=codec.n_codebooks,
        codebook_size=codec.codebook_size,
        max_frames=1200,
    )
    ar = ARModel(ARConfig.from_name("tiny", **lm))
    nar = NARModel(NARConfig.from_name("tiny", **lm))
    return save_model_dir(
        directory,
        codec=codec,
        ar=ar,
        nar=nar,
        symbols=symbols,
        settings=ModelSettings.from_dict(settings),
        weights_dtype=weights_dtype,
    )


def voice(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A voiced-sounding test signal: a gliding harmonic tone with syllable-rate amplitude
    modulation and short pauses, so trimming and quiet-point cutting have something to find."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = np.clip(np.sin(2 * np.pi * 2.5 * t), 0, None) ** 0.5
    wav = 0.3 * tone * envelope + 0.002 * rng.standard_normal(len(t))
    return wav.astype(np.float32)


def mbrola_speech(text: str, voice: str = "mb-us1", speed: int = 150) -> np.ndarray:
    """TEXT spoken by espeak-ng through an mbrola voice (recorded diphones), at 16 kHz."""
    import subprocess
    import tempfile

    from echovox.audio import load_audio

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
                       check=True, capture_output=True)  # fmt: skip
        return load_audio(path, 16_000)
