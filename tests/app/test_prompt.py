import numpy as np
import pytest
from model_helpers import SR, voice

from echovox.app.prompt import (
    condition_prompt,
    frame_db,
    read_prompt,
    shorten_transcript,
    trim_silent_edges,
)
from echovox.audio import AudioError
from echovox.model_dir import PromptConfig

CFG = PromptConfig()


def test_read_prompt_resamples_and_mixes_stereo_file(prompt_wav):
    wav = read_prompt(prompt_wav, SR)
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert len(wav) == pytest.approx(2.5 * SR, abs=2)


@pytest.mark.parametrize("order", ["array_rate", "rate_array", "kwarg"])
def test_read_prompt_accepts_arrays_in_every_form(order):
    x = voice(1.5, sr=16_000)
    if order == "array_rate":
        wav = read_prompt((x, 16_000), SR)
    elif order == "rate_array":
        wav = read_prompt((16_000, x), SR)
    else:
        wav = read_prompt(x, SR, sample_rate=16_000)
    assert len(wav) == pytest.approx(1.5 * SR, abs=2)


def test_read_prompt_scales_int16_and_channels_first():
    x = voice(1.2)
    pcm = (x * 32767).astype(np.int16)
    np.testing.assert_allclose(read_prompt((pcm, SR), SR), x, atol=1e-4)
    both = np.stack([x, x])  # [C, S] as torch would lay it out
    np.testing.assert_allclose(read_prompt((both, SR), SR), x, atol=1e-6)


@pytest.mark.parametrize(
    "prompt, match",
    [
        (None, "no voice prompt"),
        ("/nonexistent/prompt.wav", "not found"),
        (np.zeros(8000, np.float32), "sample rate"),
        ((np.full(8000, np.nan, np.float32), SR), "NaN"),
        ((np.array(["a", "b"]), SR), "numbers"),
    ],
)
def test_read_prompt_errors(prompt, match):
    with pytest.raises(AudioError, match=match):
        read_prompt(prompt, SR)


def test_unreadable_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....not really a wav")
    with pytest.raises(AudioError, match="cannot read"):
        read_prompt(bad, SR)


def test_short_prompt_rejected():
    with pytest.raises(AudioError, match="at least 1 s"):
        condition_prompt(voice(0.8), SR, CFG)


def test_prompt_short_after_trimming_silence_rejected():
    wav = np.concatenate([np.zeros(SR, np.float32), voice(0.6), np.zeros(SR, np.float32)])
    with pytest.raises(AudioError, match="once silence is trimmed"):
        condition_prompt(wav, SR, CFG)


def test_silent_prompt_rejected():
    with pytest.raises(AudioError, match="silent"):
        condition_prompt(np.full(2 * SR, 1e-5, np.float32), SR, CFG)


def test_loudness_is_normalised_without_clipping():
    quiet = condition_prompt(0.01 * voice(2.0), SR, CFG).waveform
    loud = condition_prompt(0.9 * voice(2.0), SR, CFG).waveform
    for wav in (quiet, loud):
        assert np.abs(wav).max() <= 0.99 + 1e-6
    # both end up at the same level regardless of input gain
    assert np.sqrt(np.mean(quiet**2)) == pytest.approx(np.sqrt(np.mean(loud**2)), rel=0.05)
    speech_db = np.percentile(frame_db(loud, SR), 90)
    assert -26 < speech_db < -10


def test_silent_edges_are_trimmed():
    wav = np.concatenate([np.zeros(SR, np.float32), voice(1.5), np.zeros(SR, np.float32)])
    out = condition_prompt(wav, SR, CFG)
    assert out.seconds < 1.7 and not out.trimmed


def test_trim_silent_edges_keeps_the_margin_and_leaves_silence_whole():
    sound = voice(1.0)
    wav = np.concatenate([np.zeros(SR, np.float32), sound, np.zeros(2 * SR, np.float32)])
    out = trim_silent_edges(wav, SR, 40.0, 0.1)
    assert 1.1 <= len(out) / SR <= 1.25  # the sound, 0.1 s each side, frame rounding
    silent = np.zeros(SR, np.float32)
    assert len(trim_silent_edges(silent, SR, 40.0, 0.1)) == SR
    assert len(trim_silent_edges(silent[:0], SR, 40.0, 0.1)) == 0


def test_long_prompt_is_cut_at_a_quiet_point_near_the_limit():
    wav = voice(6.0)
    out = condition_prompt(wav, SR, CFG)
    assert out.trimmed and out.source_seconds == pytest.approx(6.0, abs=0.2)
    assert CFG.seconds - 0.8 <= out.seconds <= CFG.seconds
    # the same conditioning without the length cut: the cut prompt is its prefix, and the
    # frame the cut went through is much quieter than a typical frame
    whole = condition_prompt(wav, SR, PromptConfig(seconds=10.0)).waveform
    n = len(out.waveform)
    np.testing.assert_allclose(out.waveform[: n - 100], whole[: n - 100], atol=1e-6)
    db = frame_db(whole, SR)
    assert db[min(len(db) - 1, n // int(0.02 * SR))] < np.median(db) - 10


def test_prompt_length_is_configurable():
    out = condition_prompt(voice(6.0), SR, PromptConfig(seconds=2.0))
    assert out.seconds <= 2.0


def test_prompt_config_validates():
    with pytest.raises(ValueError):
        PromptConfig(seconds=0.5, min_seconds=1.0)


def test_shorten_transcript():
    assert shorten_transcript("one two three four", 0.5) == "one two"
    assert shorten_transcript("one two three four", 0.01) == "one"
    assert shorten_transcript("one two", 1.0) == "one two"
