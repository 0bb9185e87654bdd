"""The codec corpus: held-out voice families stay out of training; files resume; real speech."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import soundfile as sf

from echovox.recipes import codec_corpus, voices


def test_training_speakers_never_use_a_heldout_family():
    rng = random.Random(0)
    for i in range(300):
        p = codec_corpus.speaker_params(i, False, rng)
        assert not voices.is_heldout_family(p["family"]), p
    held = [codec_corpus.speaker_params(i, True, random.Random(i)) for i in range(12)]
    assert all(voices.is_heldout_family(p["family"]) for p in held)
    assert len({p["family"] for p in held}) == 12  # one speaker per family before repeating
    assert all(p["noise"] is None and not p["reverb"] for p in held)  # clean references


def test_sentence_split_is_stable_and_disjoint():
    train, held = codec_corpus.split_sentences("/usr/share/games/fortunes")
    assert len(held) > 100 and len(train) > 9 * len(held) * 0.8
    assert not set(train) & set(held)


@pytest.mark.slow
def test_make_speaker_writes_and_resumes(tmp_path):
    job = (str(tmp_path), 3, True, ["The cat sat on the mat.", "A bird flew over the house."])
    rows = codec_corpus.make_speaker(job)
    assert [r["path"] for r in rows] == ["eval/synth/h0003/000.flac", "eval/synth/h0003/001.flac"]
    wav, sr = sf.read(tmp_path / rows[0]["path"])
    assert sr == 16000 and 0.5 < len(wav) / sr < 5 and np.abs(wav).max() <= 0.99
    level = 20 * np.log10(np.sqrt(np.mean(wav**2)))
    assert level == pytest.approx(-22.0, abs=0.5)  # held-out speakers sit at -22 dBFS
    before = (tmp_path / rows[1]["path"]).stat().st_mtime_ns
    assert codec_corpus.make_speaker(job) == rows  # a rerun keeps the finished files
    assert (tmp_path / rows[1]["path"]).stat().st_mtime_ns == before
    assert not list(tmp_path.rglob("*.partial"))
    json.dumps(rows)  # rows go to eval.jsonl as they are


@pytest.mark.slow
def test_asterisk_prompts_decode(tmp_path):
    n, seconds = codec_corpus.import_asterisk("fr", tmp_path / "fr")
    assert n > 400 and 20 * 60 < seconds < 30 * 60
    wav, sr = sf.read(sorted((tmp_path / "fr").iterdir())[0])
    assert sr == 16000 and np.abs(wav).max() > 1e-3
    with pytest.raises(KeyError):
        codec_corpus.import_asterisk("de", tmp_path / "de")
