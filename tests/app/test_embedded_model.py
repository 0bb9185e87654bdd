"""The shipped default model: present, small enough, documented, and speaking."""

from __future__ import annotations

import json

import numpy as np
import pytest

from echovox.app.demo import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT
from echovox.app.synthesizer import EMBEDDED_MODEL_DIR
from echovox.model_dir import REQUIRED_FILES

MAX_BYTES = 60 * 1024 * 1024


def test_embedded_model_is_complete_small_and_has_a_card():
    names = {p.name for p in EMBEDDED_MODEL_DIR.iterdir()}
    assert set(REQUIRED_FILES) | {"README.md"} <= names
    size = sum(p.stat().st_size for p in EMBEDDED_MODEL_DIR.rglob("*") if p.is_file())
    assert size <= MAX_BYTES, f"{size / 2**20:.1f} MiB"
    card = (EMBEDDED_MODEL_DIR / "README.md").read_text()
    # the training voices' licence must travel with the weights
    assert "mbrola" in card.lower() and "non-commercial" in card.lower()
    cfg = json.loads((EMBEDDED_MODEL_DIR / "config.json").read_text())
    assert cfg["name"] == "echovox-tiny"


@pytest.fixture(scope="module")
def tts():
    from echovox import Synthesizer

    return Synthesizer.from_pretrained(device="cpu")


def test_embedded_decoding_settings_are_the_large_recipes():
    """What large.yaml's stage 7 writes into config.json is how the embedded model decodes."""
    from pathlib import Path

    from echovox.config_files import load_yaml
    from echovox.model_dir import SpectralMatchConfig, VoiceMatchConfig

    repo = Path(__file__).resolve().parents[2]
    model = load_yaml(repo / "recipes/synthetic/large.yaml")["model"]
    cfg = json.loads((EMBEDDED_MODEL_DIR / "config.json").read_text())
    assert cfg["nar_decoding"] == model["nar_decoding"]
    assert VoiceMatchConfig(**cfg["voice_match"]) == VoiceMatchConfig(**model["voice_match"])
    assert SpectralMatchConfig(**cfg["spectral_match"]) == SpectralMatchConfig(
        **model["spectral_match"]
    )
    assert cfg["latent_contrast"] == model["latent_contrast"]
    for key, value in model["sampling"].items():
        assert cfg["sampling"][key] == value, key


def test_embedded_model_decodes_with_its_stored_float16_weights_on_a_cpu(tts):
    # stored float16, so the faster float16 decode copies are exactly the shipped weights
    assert tts.model.ar_stored_half and tts.half_weights is True


def test_same_seed_same_audio(tts):
    kw = dict(prompt=EXAMPLE_PROMPT, prompt_text=EXAMPLE_PROMPT_TEXT)
    a = tts.clone("Good morning.", settings=tts.default_settings(seed=3), **kw).waveform
    b = tts.clone("Good morning.", settings=tts.default_settings(seed=3), **kw).waveform
    np.testing.assert_array_equal(a, b)


def test_nar_decoding_benchmark_runs_on_the_embedded_model():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "nar_decoding_rtf.py"
    r = subprocess.run(
        [sys.executable, str(script), "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = json.loads(r.stdout)
    assert out["model_nar_decoding"] in ("codes", "expected")
    # the AR writes the same first codebook under every decoding (same seed): same length
    keys = ("codes", "expected", "expected_voice_match", "expected_voice_match_spectral")
    runs = [out[k] for k in keys]
    assert len({r["audio_s"] for r in runs}) == 1 and runs[0]["audio_s"] > 0
    assert all(r["seconds"] > 0 for r in runs)
    assert out["voice_match"]["weight"] > 0
    assert out["spectral_match"]["frame_weight"] > 0 and out["latent_contrast"] > 1
