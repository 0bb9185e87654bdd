"""GTA latents (echovox.app.gta): shard planning, writing, resuming, and the codec training
data that reads them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf
from model_helpers import SR, build_tiny_model, voice

from echovox.app.gta import plan_shards, write_gta_latents


@pytest.fixture(scope="module")
def expected_synth(tmp_path_factory):
    from echovox.app.synthesizer import Synthesizer
    from echovox.model_dir import VoiceMatchConfig

    d = build_tiny_model(
        tmp_path_factory.mktemp("gta_model") / "tiny",
        nar_decoding="expected",
        voice_match=VoiceMatchConfig(weight=0.5, k=4),
    )
    return Synthesizer.from_pretrained(d, device="cpu", bf16=False)


@pytest.fixture(scope="module")
def utterances(tmp_path_factory):
    """Five utterances of two speakers in one 8 kHz recording, and one speaker alone."""
    d = tmp_path_factory.mktemp("gta_audio")
    rec = d / "chapter.wav"
    sf.write(str(rec), voice(9.0, seed=1), SR)
    texts = ["Hello there.", "Good morning to you.", "See you soon.", "It rains.", "Yes."]
    out = [
        {
            "id": f"u{i}",
            "speaker": "a" if i < 3 else "b",
            "text": t,
            "path": str(rec),
            "start": 1.5 * i,
            "end": 1.5 * i + 1.2,
        }
        for i, t in enumerate(texts)
    ]
    out.append(
        {
            "id": "alone",
            "speaker": "c",
            "text": "Alone.",
            "path": str(rec),
            "start": 7.5,
            "end": 8.7,
        }
    )
    return out


def test_plan_pairs_each_utterance_with_another_of_its_speaker(utterances):
    shards = plan_shards(utterances, shard_size=2, seed=0, limit=None)
    pairs = [p for s in shards for p in s]
    assert [len(s) for s in shards] == [2, 2, 1]
    assert sorted(u["id"] for u, _ in pairs) == ["u0", "u1", "u2", "u3", "u4"]  # not "alone"
    for u, p in pairs:
        assert p["speaker"] == u["speaker"] and p["id"] != u["id"]
    assert plan_shards(utterances, 2, 0, None) == shards  # the seed decides
    assert len([p for s in plan_shards(utterances, 2, 0, limit=3) for p in s]) == 3
    with pytest.raises(ValueError, match="shard_size"):
        plan_shards(utterances, 0, 0, None)


def test_written_latents_train_the_codec_and_resume(expected_synth, utterances, tmp_path):
    from echovox.codec.training import LatentSegments

    synth = expected_synth
    # a speaker whose recordings are gone: both utterances are left out, the rest written
    bad = [
        {**utterances[0], "id": f"missing{i}", "speaker": "x", "path": str(tmp_path / "no.wav")}
        for i in range(2)
    ]
    with pytest.warns(UserWarning, match="left out missing.*not found"):
        counts = write_gta_latents(
            synth, [*utterances, *bad], tmp_path / "gta", shard_size=2, progress=False
        )
    assert (counts["skipped"], counts["utterances"], counts["left_out"]) == (0, 5, 2)
    shards = sorted((tmp_path / "gta").glob("shard_*.npz"))
    assert len(shards) == counts["written"] >= 3 and not list((tmp_path / "gta").glob("*.partial"))
    hop, dim = synth.codec.config.hop_length, synth.codec.config.dim
    with np.load(shards[0], allow_pickle=False) as z:
        n = int(z["samples"][0])
        assert n == int(1.2 * SR)
        lat = z["lat_0"]
        assert lat.dtype == np.float16 and lat.shape == (dim, -(-n // hop))
        assert np.isfinite(lat).all() and lat.std() > 0
    (tmp_path / "gta" / "shard_00009.npz.partial").write_bytes(b"killed mid-write")
    ds = LatentSegments(tmp_path / "gta", SR, hop, dim, 0.25, items=4)  # skips the half shard
    wav, latent, _ = ds[0]
    assert wav.shape == (1, round(0.25 * SR / hop) * hop) and latent.shape[0] == dim

    # a killed job resumes: finished shards are skipped, missing ones rewritten the same way
    before = shards[1].read_bytes()
    shards[1].unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = write_gta_latents(
            synth, [*utterances, *bad], tmp_path / "gta", shard_size=2, progress=False
        )
    assert again["written"] == 1 and again["skipped"] == len(shards) - 1
    with (
        np.load(shards[1], allow_pickle=False) as z,
        np.load(__import__("io").BytesIO(before), allow_pickle=False) as old,
    ):
        assert list(z["ids"]) == list(old["ids"])
        np.testing.assert_array_equal(z["lat_0"], old["lat_0"])


def test_a_model_that_decodes_codes_needs_no_gta(synth, utterances, tmp_path):
    with pytest.raises(ValueError, match="expected latents"):
        write_gta_latents(synth, utterances, tmp_path / "gta", progress=False)


def test_output_latent_is_what_synthesis_decodes(expected_synth):
    """The latent gta_latents stores is the one _decode renders for the LMs' output."""
    import torch

    synth = expected_synth
    torch.manual_seed(0)
    q, k = synth.codec.n_codebooks, synth.codec.codebook_size
    probs = torch.softmax(3 * torch.randn(q, 20, k), -1)
    prompt = torch.randint(0, k, (q, 30))
    wav = synth._decode(probs, prompt, expected=True)
    latent = synth.output_latent(probs, prompt, expected=True)
    with torch.inference_mode():
        rendered = synth.codec.decode_latent(latent)[0, 0].numpy()
    np.testing.assert_allclose(wav, np.clip(rendered, -1, 1), atol=1e-6)
    unmatched = synth.output_latent(probs, None, expected=True)
    assert not torch.allclose(latent, unmatched)  # voice matching moved it
    assert torch.allclose(unmatched, synth.codec.expected_latent(probs[None]))
