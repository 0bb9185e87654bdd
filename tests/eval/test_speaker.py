"""Speaker-embedding backends: a tiny random WavLM verifier, and resemblyzer on espeak-ng
voices."""

from __future__ import annotations

import numpy as np
import pytest


def test_wavlm_backend_with_a_tiny_random_checkpoint(tiny_wavlm, one_thread):
    from echovox.eval.speaker import SpeakerBackendError, cosine, load_speaker_encoder

    enc = load_speaker_encoder("wavlm", tiny_wavlm)
    assert enc.name == "wavlm" and enc.model == str(tiny_wavlm)
    rng = np.random.default_rng(0)
    wav = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    e = enc.embed(wav, 16000)
    assert e.shape == (8,) and e.dtype == np.float32
    assert np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5)
    assert cosine(e, enc.embed(wav, 16000)) == pytest.approx(1.0, abs=1e-5)
    # any input rate is resampled to 16 kHz first
    assert enc.embed(np.stack([wav, wav], 1), 16000).shape == (8,)
    with pytest.raises(SpeakerBackendError, match="--speaker_model"):
        load_speaker_encoder("wavlm", None)
    with pytest.raises(SpeakerBackendError, match="cannot load"):
        load_speaker_encoder("wavlm", tiny_wavlm.parent / "absent")
    with pytest.raises(SpeakerBackendError, match="must be one of"):
        load_speaker_encoder("ecapa")


def test_resemblyzer_backend_tells_voices_apart(librispeech_tree, one_thread):
    pytest.importorskip("resemblyzer", reason="resemblyzer is in the eval extra")
    from echovox.audio import load_audio
    from echovox.eval.speaker import cosine, load_speaker_encoder

    enc = load_speaker_encoder("resemblyzer")

    def emb(spk, i):
        path = librispeech_tree / spk / "100" / f"{spk}-100-{i:04d}.flac"
        return enc.embed(load_audio(path, 22050), 22050)

    a0, a1, b0 = emb("19", 0), emb("19", 1), emb("26", 0)
    assert a0.shape == (256,) and np.linalg.norm(a0) == pytest.approx(1.0, abs=1e-5)
    assert cosine(a0, a1) > cosine(a0, b0)
