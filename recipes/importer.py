"""Stage 1 of the `folder` recipe: your own recordings with transcripts, no recipe code needed.

Two layouts (corpus.layout, or "auto" to detect):
  libritts  <root>/<speaker>/<chapter>/<id>.wav with <id>.normalized.txt beside it
  csv       <root>/metadata.csv with lines `path|text|speaker` (path relative to root;
            an optional header line `path|text|speaker`)
The result is the same `manifest` dataset stage 3 writes for LibriLight, so stages 4-8 follow.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .asr import manifest_features
from .stage import StageReport, rows_to_dataset, save_dataset_atomic, summarize_hours

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


class ImportError_(ValueError):
    """A folder that matches neither layout."""


def detect_layout(root: Path) -> str:
    if (root / "metadata.csv").is_file():
        return "csv"
    if any(root.glob("*/*/*.normalized.txt")):
        return "libritts"
    raise ImportError_(
        f"{root}: found neither metadata.csv (path|text|speaker) nor "
        "<speaker>/<chapter>/<id>.wav with <id>.normalized.txt"
    )


def list_libritts(root: Path, report: StageReport) -> list[tuple[Path, str, str, str]]:
    """(audio, text, speaker, chapter) for every utterance with a transcript."""
    items = []
    for audio in sorted(p for p in root.glob("*/*/*") if p.suffix.lower() in AUDIO_SUFFIXES):
        txt = audio.with_name(audio.stem + ".normalized.txt")
        rel = str(audio.relative_to(root))
        if not txt.is_file():
            report.skip(rel, "no <id>.normalized.txt transcript")
            continue
        try:
            text = txt.read_text().strip()
        except (OSError, UnicodeDecodeError) as err:
            report.skip(rel, f"transcript unreadable: {type(err).__name__}")
            continue
        items.append((audio, text, audio.parent.parent.name, audio.parent.name))
    return items


def list_csv(root: Path, report: StageReport) -> list[tuple[Path, str, str, str]]:
    items = []
    with open(root / "metadata.csv", newline="", encoding="utf-8", errors="replace") as f:
        for n, fields in enumerate(csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE), 1):
            if n == 1 and [x.strip().lower() for x in fields] == ["path", "text", "speaker"]:
                continue
            if not fields or not "".join(fields).strip():
                continue
            if len(fields) != 3:
                report.skip(f"metadata.csv:{n}", "line is not path|text|speaker")
                continue
            path, text, speaker = (x.strip() for x in fields)
            if not speaker:
                report.skip(f"metadata.csv:{n}", "no speaker")
                continue
            items.append((root / path, text, speaker, ""))
    return items


def check_audio(path: Path, min_seconds: float, max_seconds: float) -> float:
    """Duration in seconds, or ValueError with the reason. Reads the file: utterance files are
    short, and a NaN sample should be caught here rather than in the codec."""
    import soundfile as sf

    if not path.is_file():
        raise ValueError("audio file not found")
    try:
        wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises several types for corrupt files
        raise ValueError(f"unreadable audio: {type(err).__name__}") from err
    if wav.size == 0:
        raise ValueError("zero-length audio")
    if not np.isfinite(wav).all():
        raise ValueError("audio contains NaN or infinite samples")
    duration = wav.shape[0] / sr
    if duration < min_seconds:
        raise ValueError(f"shorter than segment.min_seconds ({min_seconds} s)")
    if duration > max_seconds:
        raise ValueError(f"longer than segment.max_seconds ({max_seconds} s); split it first")
    return duration


def stage_import(cfg, force: bool = False) -> StageReport:
    from tqdm.auto import tqdm

    report = StageReport(1, "import folder")
    root = Path(cfg.corpus.root)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus.root {root} does not exist")
    layout = detect_layout(root) if cfg.corpus.layout == "auto" else cfg.corpus.layout
    if layout not in ("libritts", "csv"):
        raise ImportError_(f"corpus.layout must be auto, libritts or csv, got {layout!r}")
    items = list_libritts(root, report) if layout == "libritts" else list_csv(root, report)
    rows, seen = [], set()
    for audio, text, speaker, chapter in tqdm(items, desc="import", unit="file"):
        rel = str(audio.relative_to(root)) if audio.is_relative_to(root) else str(audio)
        if not text:
            report.skip(rel, "empty transcript")
            continue
        try:
            duration = check_audio(audio, cfg.segment.min_seconds, cfg.segment.max_seconds)
        except ValueError as err:
            report.skip(rel, str(err))
            continue
        uid = f"{speaker}_{Path(rel).with_suffix('').as_posix().replace('/', '_')}"
        if uid in seen:
            report.skip(rel, "listed twice")
            continue
        seen.add(uid)
        rows.append(
            {
                "id": uid,
                "speaker": speaker,
                "book": chapter,
                "subset": layout,
                "path": str(audio.resolve()),
                "start": 0.0,
                "end": duration,
                "snr": None,
                "text": " ".join(text.split()),
                "asr_backend": "given",
                "asr_model": "",
                "asr_confidence": None,
            }
        )
    ds = rows_to_dataset(rows, manifest_features())
    save_dataset_atomic(ds, cfg.exp / "manifest")
    report.counts["utterances"] = len(rows)
    report.counts["speakers"] = len({r["speaker"] for r in rows})
    report.hours.update(summarize_hours(ds, by="subset"))
    report.notes.append(f"layout {layout}")
    return report
