"""The speech recognisers: pocketsphinx on espeak-ng speech, and the transformers path on a
tiny random CTC checkpoint."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from echovox.eval.asr import PocketSphinxAsr, TransformersAsr, load_asr


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")
def test_pocketsphinx_recognises_synthetic_speech(tmp_path):
    wav = tmp_path / "s.wav"
    # pocketsphinx copes with mbrola's recorded diphones far better than with formant voices
    voice = "mb-us2" if Path("/usr/share/mbrola/us2").exists() else "en-us"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(wav),
                    "the cat sat on the mat and then it went home"], check=True)  # fmt: skip
    audio, sr = sf.read(wav, dtype="float32")
    import soxr

    audio = soxr.resample(audio, sr, 16000)
    asr = PocketSphinxAsr()
    (text,) = asr.transcribe([audio])
    words = set(text.split())
    assert len(words & {"cat", "sat", "mat", "then", "went", "home", "the", "and"}) >= 3, text
    assert asr.name == "pocketsphinx" and "bundled" in asr.model


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")
def test_pocketsphinx_hears_each_utterance_afresh(tmp_path):
    """The same audio gets the same transcript whatever was transcribed before it: WERs
    must not depend on the order of an evaluation list. One decoder reused across utterances
    failed this (its transcript of `target` changed after the noise or the other voices)."""
    import soxr

    def say(text, voice):
        subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(tmp_path / "s.wav"), text],
                       check=True)  # fmt: skip
        audio, sr = sf.read(tmp_path / "s.wav", dtype="float32")
        return soxr.resample(audio, sr, 16000)

    target = say("she sells sea shells by the sea shore every summer", "en-us+m3")
    other = say("please call stella and ask her to bring these things", "en-us")
    noise = 0.9 * np.random.default_rng(0).standard_normal(160_000).astype(np.float32)
    asr = PocketSphinxAsr()
    (alone,) = asr.transcribe([target])
    for before in ([noise], [other, target] * 2, [0.05 * other] * 3):
        assert asr.transcribe([*before, target])[-1] == alone


def test_transformers_ctc_backend_loads_a_local_checkpoint(tmp_path):
    """The hub-id path for real users (HuBERT/wav2vec 2.0 CTC), on a tiny random HuBERT-CTC saved
    here."""
    from transformers import (
        HubertConfig,
        HubertForCTC,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2Processor,
    )

    vocab = {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate("abcdefgh")}}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    tok = Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), word_delimiter_token="|")
    fe = Wav2Vec2FeatureExtractor(sampling_rate=16000, return_attention_mask=True)
    Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok).save_pretrained(tmp_path / "m")
    cfg = HubertConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 4), num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2, vocab_size=len(vocab), pad_token_id=0,
    )  # fmt: skip
    HubertForCTC(cfg).save_pretrained(tmp_path / "m")
    asr = load_asr("transformers", str(tmp_path / "m"), "cpu")  # as `--asr transformers`
    assert asr.name == "transformers" and asr.model == str(tmp_path / "m") and not asr.is_whisper
    rng = np.random.default_rng(0)
    texts = asr.transcribe([rng.standard_normal(16000).astype(np.float32) * 0.1] * 3)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    # random weights: the text is noise, but it is spelt from the checkpoint's own vocabulary
    assert set("".join(texts).replace("<unk>", "")) <= set("abcdefgh ")


def test_backends_are_named_and_need_their_model():
    with pytest.raises(ValueError, match="needs asr.model"):
        TransformersAsr(None)
    with pytest.raises(ValueError, match="--asr_model"):
        load_asr("transformers", None)
    with pytest.raises(ValueError, match="must be one of"):
        load_asr("kaldi")


def test_transformers_backend_needs_a_model():
    with pytest.raises(ValueError, match="needs asr.model"):
        TransformersAsr(None)
