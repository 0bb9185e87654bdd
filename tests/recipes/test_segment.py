from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from recipe_helpers import tone_bursts

from echovox.recipes.segment import (
    BadJson,
    SegmentParams,
    energy_spans,
    merge_spans,
    pad_segments,
    read_meta,
    segment_file,
    silero_spans,
    split_long_span,
)

P = SegmentParams(min_seconds=2.0, max_seconds=20.0, target_seconds=10.0, max_pause=1.5)


def test_merge_joins_short_pauses_until_target():
    spans = [(0, 3), (3.5, 6), (6.3, 9), (9.5, 12), (12.2, 14)]
    assert merge_spans(spans, 20, P) == [(0, 12), (12.2, 14)]


def test_merge_breaks_at_long_pauses_and_max_length():
    assert merge_spans([(0, 3), (5, 7)], 10, P) == [(0, 3), (5, 7)]  # 2 s pause > max_pause
    p = SegmentParams(max_seconds=8.0, target_seconds=100.0, max_pause=1.5)
    assert merge_spans([(0, 5), (5.5, 9)], 10, p) == [(0, 5), (5.5, 9)]  # 9 s > max


def test_merge_clips_to_file_and_drops_empty():
    assert merge_spans([(-1, 2), (30, 40)], 10, P) == [(0, 2)]


def test_pad_never_crosses_pause_midpoint():
    out = pad_segments([(1.0, 3.0), (3.1, 5.0)], 5.05, 0.2)
    assert out == [(0.8, 3.05), (3.05, 5.05)]


def test_split_long_span_cuts_in_silence(tmp_path):
    # 30 s of "speech" with quiet gaps at 9.5-10 s and 19.5-20 s
    spans = [(0, 9.5), (10, 19.5), (20, 30)]
    path = tmp_path / "a.flac"
    sf.write(path, tone_bursts(spans, 30), 16000)
    pieces = split_long_span(path, 0.0, 30.0, max_seconds=15.0, sr=16000)
    assert all(b - a <= 15.0 for a, b in pieces)
    assert pieces[0][0] == 0 and pieces[-1][1] == 30
    cuts = [b for _, b in pieces[:-1]]
    assert all(any(g0 - 0.05 <= c <= g1 + 0.05 for g0, g1 in [(9.5, 10), (19.5, 20)]) for c in cuts)


def test_energy_vad_finds_bursts(tmp_path):
    spans = [(1, 3), (4, 6.5), (8, 9)]
    path = tmp_path / "a.wav"
    sf.write(path, tone_bursts(spans, 10), 16000)
    found = energy_spans(path)
    assert len(found) == 3
    for (a, b), (fa, fb) in zip(spans, found):
        assert abs(a - fa) < 0.1 and abs(b - fb) < 0.1


def test_silero_vad_streams_speech(tmp_path):
    """silero on real (synthetic) speech with a long pause; file at 22.05 kHz to exercise the
    streaming resampler."""
    import shutil
    import subprocess

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng missing")
    wav = tmp_path / "s.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(wav), "Hello there, this is a test. [[_::_::_::_::_::]] "
         "And this is a second sentence after a long pause."], check=True,
    )  # fmt: skip
    audio, sr = sf.read(wav, dtype="float32")
    gap = np.zeros(int(2.0 * sr), np.float32)
    sf.write(wav, np.concatenate([gap, audio, gap, audio, gap]), sr)
    spans = silero_spans(wav)
    assert len(spans) >= 2
    dur = len(audio) / sr
    assert spans[0][0] == pytest.approx(2.0, abs=0.3)
    assert spans[-1][1] == pytest.approx(4.0 + 2 * dur, abs=0.4)


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "does not parse"),
        ("[1, 2]", "not an object"),
        (json.dumps({"speaker": "1", "snr": 3}), "lacks field"),
        (json.dumps({"speaker": "1", "snr": 3, "book_meta": {}, "voice_activity": 5}), "a list"),
    ],
)
def test_bad_json_is_rejected_with_reason(tmp_path, content, match):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(BadJson, match=match):
        read_meta(path)


def test_segment_file_uses_json_and_falls_back_to_vad(tmp_path):
    spans = [(0.5, 3.0), (3.3, 6.0), (8.0, 11.0)]
    path = tmp_path / "c.flac"
    sf.write(path, tone_bursts(spans, 12), 16000)
    row = {"path": str(path), "speaker": "7", "book": "b", "stem": "c", "subset": "small",
           "duration": 12.0}  # fmt: skip
    meta = {"speaker": "7", "snr": 20.5, "book_meta": {}, "voice_activity": spans}
    path.with_suffix(".json").write_text(json.dumps(meta))
    p = SegmentParams(
        min_seconds=2, max_seconds=20, target_seconds=5, pad=0.1, vad_fallback="energy"
    )
    rows, reason = segment_file(row, p)
    assert reason is None
    assert [(r["start"], r["end"]) for r in rows] == [(0.4, 6.1), (7.9, 11.1)]
    assert rows[0]["snr"] == 20.5 and rows[0]["vad"] == "json"
    path.with_suffix(".json").unlink()
    rows, _ = segment_file(row, p)
    assert rows and rows[0]["vad"] == "energy" and rows[0]["snr"] is None
    assert len(rows) == 2


def test_one_malformed_span_costs_that_span_only(tmp_path):
    path = tmp_path / "x.json"
    spans = [[0.5, 2.0], [2, 1], ["a", 3], [3.0, 4.5]]
    meta = {"speaker": "1", "snr": 3, "book_meta": {}, "voice_activity": spans}
    path.write_text(json.dumps(meta))
    meta = read_meta(path)
    assert meta["voice_activity"] == [[0.5, 2.0], [3.0, 4.5]] and meta["_bad_spans"] == 2
