"""`echovox codec eval`: a codec judged words first. Whisper's WER and CER of the originals,
of Opus at the codec's bitrate (at least 6 kbit/s), and of the codec's resynthesis at each
codebook count, then PESQ-WB, STOI, mel distance and SI-SDR (echovox.codec.evaluate).

It lives in eval/, not codec/, because it needs a recogniser and the codec layer imports
none; the `echovox codec` group mounts it (MOUNTS in echovox.eval.cli).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

# numpy, the recogniser and the metrics load inside the calls: `echovox --help` imports this


def read_texts(audio_dir: Path, files: list[Path], texts: str | None) -> dict[Path, str]:
    """What each file says: from a JSONL manifest (`path` relative to its folder, or `audio`,
    and `text`, as `echovox recipe codec_corpus` writes eval.jsonl), else from a .txt beside
    each audio file. Files without a text get no WER."""
    out: dict[Path, str] = {}
    if texts:
        manifest = Path(texts)
        if not manifest.is_file():
            raise FileNotFoundError(f"no transcript manifest at {manifest}")
        for line in manifest.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                path = Path(row.get("path") or row["audio"])
                path = path if path.is_absolute() else manifest.parent / path
                out[path.resolve()] = row["text"]
    for f in files:
        side = f.with_suffix(".txt")
        if f.resolve() not in out and side.is_file():
            out[f.resolve()] = side.read_text().strip()
    return {f: out[f.resolve()] for f in files if f.resolve() in out}


class Listener:
    """The `listen` hook of codec.evaluate: transcribes every version of a file in one batch
    and keeps word and character errors per (system, n_q)."""

    def __init__(self, asr, sample_rate: int, files: list[Path], texts: dict[Path, str]):
        self.asr, self.sr, self.files, self.texts = asr, sample_rate, files, texts
        self.words: dict[tuple[str, int], list] = {}  # WordErrors per file
        self.chars: dict[tuple[str, int], list] = {}  # CharErrors per file
        self.heard: list[dict] = []

    def __call__(self, index: int, versions: dict) -> None:
        from echovox.audio import resample

        from .asr import ASR_SR
        from .metrics import char_errors, word_errors

        text = self.texts.get(self.files[index])
        if text is None:
            return
        keys = list(versions)
        hyps = self.asr.transcribe([resample(versions[k], self.sr, ASR_SR) for k in keys])
        row = {"file": str(self.files[index]), "text": text}
        for key, hyp in zip(keys, hyps):
            self.words.setdefault(key, []).append(word_errors(text, hyp))
            self.chars.setdefault(key, []).append(char_errors(text, hyp))
            row[f"{key[0]}@{key[1]}" if key[1] else key[0]] = hyp
        self.heard.append(row)

    def rates(self, key: tuple[str, int]) -> tuple[float | None, float | None]:
        from .metrics import corpus_rate

        if key not in self.words:
            return None, None
        return corpus_rate(self.words[key]), corpus_rate(self.chars[key])


def words_first_table(rows, listener: Listener | None) -> str:
    """One row per system: WER and CER (with the ratio to the originals'), then the signal
    metrics."""

    def fmt(v, spec):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)

    base_wer, base_cer = listener.rates(("original", 0)) if listener else (None, None)
    lines = [
        "| system | n_q | kbit/s | WER ↓ | × originals | CER ↓ | PESQ-WB ↑ | STOI ↑ | mel dist ↓ "
        "| SI-SDR dB ↑ |",
        "|" + "---|" * 10,
        f"| originals | | | {fmt(base_wer, '.3f')} | {'1.00' if base_wer else '-'} | "
        f"{fmt(base_cer, '.3f')} | | | | |",
    ]
    for r in rows:
        wer, cer = listener.rates((r.system, r.n_q)) if listener else (None, None)
        ratio = wer / base_wer if wer is not None and base_wer else None
        m = r.metrics
        lines.append(
            f"| {r.system} | {r.n_q} | {r.kbps:.2f} | {fmt(wer, '.3f')} | {fmt(ratio, '.2f')} | "
            f"{fmt(cer, '.3f')} | {fmt(m['pesq_wb'], '.2f')} | {fmt(m['stoi'], '.3f')} | "
            f"{fmt(m['mel_distance'], '.3f')} | {fmt(m['si_sdr'], '.2f')} |"
        )
    lines.append(
        "\nOpus cannot encode below 6 kbit/s: where the codec's bitrate is lower, Opus runs at "
        "6 kbit/s and gets more bits than the codec row beside it."
    )
    return "\n".join(lines) + "\n"


def codec_eval(
    model: str,
    audio_dir: str,
    out_dir: str = "exp/codec_eval",
    n_q: list[int] | None = None,
    texts: str | None = None,
    asr: str = "whisper",
    max_files: int | None = None,
    max_seconds: float | None = None,
) -> dict:
    """Judge a codec words first: Whisper WER/CER of the originals, of Opus at the codec's
    bitrate and of the codec's resynthesis, then PESQ-WB, STOI, mel distance and SI-SDR.
    Writes codec_eval.json (with every transcript) and codec_eval.md, and prints the table.

    Args:
        model: codec directory (or a model directory, or "facebook/encodec_24khz").
        audio_dir: folder of audio files (searched recursively).
        out_dir: where codec_eval.json and codec_eval.md go.
        n_q: codebook counts to test (default: all of them).
        texts: a JSONL manifest with path and text per file (e.g. the codec corpus's
            eval.jsonl); omitted: a .txt beside each audio file; files with neither get no WER.
        asr: whisper (the packaged whisper-base), none to skip the words, or a Whisper folder.
        max_files: use at most this many files.
        max_seconds: use at most this many seconds of each file (WER needs whole files).
    """
    from echovox.codec import Codec
    from echovox.codec.evaluate import evaluate
    from echovox.codec.metrics import opus_available
    from echovox.codec.training import list_audio

    from .asr import load_asr

    codec = Codec.from_pretrained(model)
    files = list_audio(audio_dir)[: max_files or None]
    if not files:
        raise FileNotFoundError(f"no audio files under {audio_dir}")
    known = read_texts(Path(audio_dir), files, texts) if asr != "none" and not max_seconds else {}
    listener = None
    if known:
        recogniser = load_asr("whisper", None if asr == "whisper" else asr)
        listener = Listener(recogniser, codec.sample_rate, files, known)
    rows = evaluate(codec, files, n_q, opus_available(), max_seconds, listen=listener)
    table = words_first_table(rows, listener)
    result = {
        "model": str(model),
        "audio_dir": str(audio_dir),
        "n_files": len(files),
        "n_with_text": len(known),
        "sample_rate": codec.sample_rate,
        "frame_rate": codec.frame_rate,
        "asr": None if listener is None else listener.asr.model,
        "originals": dict(zip(("wer", "cer"), listener.rates(("original", 0))))
        if listener
        else None,
        "rows": [
            {**asdict(r), **dict(zip(("wer", "cer"), listener.rates((r.system, r.n_q))))}
            if listener
            else asdict(r)
            for r in rows
        ],
        "transcripts": listener.heard if listener else [],
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "codec_eval.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    (out / "codec_eval.md").write_text(table)
    print(table)
    return result
