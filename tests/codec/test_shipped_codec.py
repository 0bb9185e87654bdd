"""The committed frame-rate codec (app/pretrained/echovox-codec-16k, the codec echovox-tiny v2
trains on) keeps the words of voices it never heard: two held-out mbrola families speak a
sentence of ours, and Whisper base hears the resynthesis about as well as the original."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from model_helpers import mbrola_speech
from safetensors.torch import load_file

from echovox.eval.metrics import word_errors

CODEC_DIR = Path(__file__).resolve().parents[2] / "app" / "pretrained" / "echovox-codec-16k"
SAID = "She left the green umbrella on the train this morning."


def test_shipped_codec_is_the_documented_one():
    from echovox.codec import Codec
    from echovox.codec.frame import FrameCodec

    codec = Codec.from_pretrained(CODEC_DIR, device="cpu")
    assert isinstance(codec, FrameCodec)
    assert (codec.sample_rate, codec.frame_rate) == (16_000, 40.0)
    assert (codec.n_codebooks, codec.codebook_size) == (8, 1024)
    # float16 storage, without the codebooks' EMA sums, keeps the tracked binaries under their
    # limit (tests/test_repo_size.py)
    stored = load_file(str(CODEC_DIR / "model.safetensors"))
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    assert not [k for k in stored if k.endswith("embed_sum")]


@pytest.mark.slow
@pytest.mark.parametrize("voice", ["mb-us3", "mb-en1"])  # held-out families (recipes.voices)
def test_shipped_codec_keeps_the_words_of_unseen_voices(voice, whisper):
    from echovox.codec import Codec

    codec = Codec.from_pretrained(CODEC_DIR, device="cpu")
    wav = mbrola_speech(SAID, voice)
    with torch.inference_mode():
        out = codec.decode_audio(codec.encode_audio(wav, 16_000, n_q=8))
    assert abs(len(out) - len(wav)) < codec.sample_rate / codec.frame_rate
    heard_original, heard = whisper.transcribe([wav, out])
    original, resynthesis = word_errors(SAID, heard_original), word_errors(SAID, heard)
    assert original.wer <= 0.2, heard_original
    assert resynthesis.wer <= original.wer + 0.2, (heard_original, heard)
