"""`echovox codec eval`: Whisper's words on the originals, Opus and the codec, beside the signal
metrics, on mbrola speech made here."""

from __future__ import annotations

import json

import pytest
from model_helpers import mbrola_speech

from echovox.audio import save_audio
from echovox.codec.metrics import opus_available

SAID = {
    "a": "Please open the window in the kitchen.",
    "b": "My brother bought a new red bicycle.",
}


@pytest.mark.slow
@pytest.mark.skipif(not opus_available(), reason="opus-tools not installed")
def test_codec_eval_reads_words_first(tmp_path, capsys):
    from echovox.app.cli import main
    from echovox.codec.config import FrameCodecConfig
    from echovox.codec.frame import FrameCodec

    audio = tmp_path / "audio"
    for name, text in SAID.items():
        save_audio(audio / f"{name}.wav", mbrola_speech(text, "mb-en1"), 16_000)
    (audio / "a.txt").write_text(SAID["a"])  # a sidecar transcript for a, the manifest for b
    (tmp_path / "texts.jsonl").write_text(json.dumps({"path": "audio/b.wav", "text": SAID["b"]}))
    codec = FrameCodec(FrameCodecConfig.from_name("tiny")).eval()  # untrained: no words
    codec.save_pretrained(tmp_path / "codec")
    out = tmp_path / "ev"
    main(["codec", "eval", str(tmp_path / "codec"), str(audio), "--out_dir", str(out),
          "--n_q", "[2]", "--texts", str(tmp_path / "texts.jsonl")])  # fmt: skip
    res = json.loads((out / "codec_eval.json").read_text())
    assert res["n_files"] == res["n_with_text"] == 2 and res["asr"] == "whisper-base (packaged)"
    rows = {(r["system"], r["n_q"]): r for r in res["rows"]}
    assert set(rows) == {("codec", 2), ("opus", 2)}
    assert res["originals"]["wer"] <= 0.3  # Whisper hears the mbrola originals
    assert rows["opus", 2]["wer"] <= 0.5 and rows["opus", 2]["kbps"] == 6.0
    assert rows["codec", 2]["wer"] >= 0.8  # an untrained codec keeps no words
    assert set(rows["codec", 2]["metrics"]) == {"mel_distance", "si_sdr", "stoi", "pesq_wb"}
    assert len(res["transcripts"]) == 2 and {"original", "codec@2", "opus@2"} <= set(
        res["transcripts"][0]
    )
    table = capsys.readouterr().out
    assert table.index("| originals |") < table.index("| codec | 2 |")
    assert "| opus | 2 | 6.00 |" in table
