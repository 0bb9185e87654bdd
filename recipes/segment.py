"""Stage 2: cut chapter-long files into 2-20 s utterances at pauses.

The LibriLight JSON's `voice_activity` spans are merged across short pauses until an utterance
reaches `target_seconds` (then the next pause ends it), never past `max_seconds`, and always
ending at a pause longer than `max_pause`. A single span longer than `max_seconds` is cut at
its quietest frames. Audio is read only span by span (soundfile seeks), and the VAD fallbacks
stream the file in blocks, so an hour-long chapter is never held in memory at once.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .stage import ShardJob, ShardResult, StageReport, run_sharded, skip_reason

VAD_SR = 16000
BLOCK_SECONDS = 30.0
REQUIRED_JSON_FIELDS = ("speaker", "book_meta", "snr")


class BadJson(ValueError):
    pass


@dataclass
class SegmentParams:
    min_seconds: float = 2.0
    max_seconds: float = 20.0
    target_seconds: float = 10.0
    max_pause: float = 1.5
    pad: float = 0.1
    vad_fallback: str = "silero"
    libriheavy: str | None = None  # the split Libriheavy index (recipes.libriheavy), if used
    libriheavy_stamp: str = ""  # its manifests' version: part of every shard's fingerprint


def segments_features():
    from datasets import Features, Value

    return Features(
        {
            "id": Value("string"),
            "speaker": Value("string"),
            "book": Value("string"),
            "subset": Value("string"),
            "path": Value("string"),
            "start": Value("float64"),
            "end": Value("float64"),
            "snr": Value("float64"),
            "vad": Value("string"),
            "text": Value("string"),  # Libriheavy's text; "" where stage 3 must recognise it
        }
    )


# --------------------------------------------------------------------------- JSON


def read_meta(json_path: Path) -> dict:
    """The LibriLight JSON, validated. Raises BadJson with the reason."""
    try:
        meta = json.loads(json_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadJson(f"JSON does not parse: {type(err).__name__}") from err
    if not isinstance(meta, dict):
        raise BadJson("JSON is not an object")
    missing = [k for k in REQUIRED_JSON_FIELDS if k not in meta]
    if missing:
        raise BadJson(f"JSON lacks field(s) {missing}")
    vad = meta.get("voice_activity")
    if vad is not None:
        if not isinstance(vad, list):
            raise BadJson("voice_activity is not a list of [onset, offset]")
        # one bad span costs that span, not the file: the rest of the chapter is still good
        good = [s for s in vad if _good_span(s)]
        meta["voice_activity"] = good
        meta["_bad_spans"] = len(vad) - len(good)
    return meta


def _good_span(s) -> bool:
    return (
        isinstance(s, (list, tuple))
        and len(s) == 2
        and all(isinstance(x, (int, float)) and math.isfinite(x) for x in s)
        and s[0] < s[1]
    )


# --------------------------------------------------------------------------- planning


def merge_spans(
    spans: list[tuple[float, float]], duration: float, p: SegmentParams
) -> list[tuple[float, float]]:
    """Group speech spans (already no longer than max_seconds) into utterances.

    Pure function over times, so it is unit-tested without audio.
    """
    spans = sorted((max(0.0, a), min(duration, b)) for a, b in spans)
    spans = [(a, b) for a, b in spans if b > a]
    out: list[tuple[float, float]] = []
    cur: list[float] | None = None
    for on, off in spans:
        if cur is None:
            cur = [on, off]
            continue
        gap = on - cur[1]
        long_enough = cur[1] - cur[0] >= p.target_seconds
        if gap <= p.max_pause and off - cur[0] <= p.max_seconds and not long_enough:
            cur[1] = max(cur[1], off)
        else:
            out.append((cur[0], cur[1]))
            cur = [on, off]
    if cur is not None:
        out.append((cur[0], cur[1]))
    return out


def pad_segments(
    segs: list[tuple[float, float]], duration: float, pad: float
) -> list[tuple[float, float]]:
    """Widen each utterance by `pad`, never past the middle of the pause to its neighbour."""
    out = []
    for i, (a, b) in enumerate(segs):
        lo = 0.0 if i == 0 else (segs[i - 1][1] + a) / 2
        hi = duration if i == len(segs) - 1 else (b + segs[i + 1][0]) / 2
        out.append((round(max(lo, a - pad), 3), round(min(hi, b + pad), 3)))
    return out


def frame_energy_db(wav: np.ndarray, sr: int, hop: float = 0.02) -> np.ndarray:
    n = int(sr * hop)
    k = len(wav) // n
    if k == 0:
        return np.zeros(0, dtype=np.float32)
    frames = wav[: k * n].reshape(k, n)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)


def split_long_span(path: Path, on: float, off: float, max_seconds: float, sr: int):
    """Cut one span longer than max_seconds into pieces at its quietest 20 ms frames.

    Pieces are planned at <= 0.75 max_seconds and each cut may move by 10 % of a piece to find
    a quiet frame, so no piece exceeds max_seconds.
    """
    import soundfile as sf

    length = off - on
    n = math.ceil(length / (0.75 * max_seconds))
    piece = length / n
    wav, file_sr = sf.read(
        str(path), start=int(on * sr), stop=int(off * sr), dtype="float32", always_2d=True
    )
    energy = frame_energy_db(wav.mean(axis=1), file_sr)
    cuts = [on]
    for k in range(1, n):
        nominal = k * piece
        lo = max(0, int((nominal - 0.1 * piece) / 0.02))
        hi = max(lo + 1, min(len(energy), int((nominal + 0.1 * piece) / 0.02)))
        best = lo + int(np.argmin(energy[lo:hi])) if hi <= len(energy) else lo
        cuts.append(on + best * 0.02 + 0.01)
    cuts.append(off)
    return [(cuts[i], cuts[i + 1]) for i in range(n)]


# --------------------------------------------------------------------------- VAD fallbacks


def _mono_blocks(path: Path, target_sr: int):
    """Yield [S] float32 blocks of the file resampled to target_sr, streaming."""
    import soundfile as sf
    import soxr

    info = sf.info(str(path))
    resampler = None
    if info.samplerate != target_sr:
        resampler = soxr.ResampleStream(info.samplerate, target_sr, 1, dtype="float32")
    blocks = sf.blocks(
        str(path), blocksize=int(BLOCK_SECONDS * info.samplerate), dtype="float32", always_2d=True
    )
    for i, block in enumerate(blocks):
        mono = block.mean(axis=1)
        if resampler is not None:
            last = (i + 1) * int(BLOCK_SECONDS * info.samplerate) >= info.frames
            mono = resampler.resample_chunk(mono, last=last)
        yield mono


_SILERO = None


def silero_spans(path: Path) -> list[tuple[float, float]]:
    """Speech spans from silero-vad, fed 512-sample windows from a streamed file."""
    import torch
    from silero_vad import VADIterator, load_silero_vad

    global _SILERO
    if _SILERO is None:
        _SILERO = load_silero_vad()  # the model ships inside the pip package: no download
    vad = VADIterator(_SILERO, sampling_rate=VAD_SR, min_silence_duration_ms=250)
    vad.reset_states()
    spans, start, total = [], None, 0
    rest = np.zeros(0, dtype=np.float32)
    for block in _mono_blocks(path, VAD_SR):
        buf = np.concatenate([rest, block])
        n = len(buf) // 512
        for k in range(n):
            event = vad(torch.from_numpy(buf[k * 512 : (k + 1) * 512].copy()))
            if event and "start" in event:
                start = event["start"] / VAD_SR
            if event and "end" in event and start is not None:
                spans.append((start, event["end"] / VAD_SR))
                start = None
        rest = buf[n * 512 :]
        total += n * 512
    if start is not None:
        spans.append((start, total / VAD_SR))
    return spans


def energy_spans(path: Path, hop: float = 0.03, min_silence: float = 0.25):
    """Fallback VAD when silero is not wanted: frames louder than the file's noise floor.

    One streaming pass keeps only per-frame energies (120 k floats per hour), then the
    threshold is set from their distribution: 12 dB over the 10th percentile.
    """
    energies = []
    for block in _mono_blocks(path, VAD_SR):
        energies.append(frame_energy_db(block, VAD_SR, hop))
    if not energies:
        return []
    e = np.concatenate(energies)
    thresh = max(np.percentile(e, 10) + 12.0, e.max() - 60.0)
    voiced = e > thresh
    spans, start, silent = [], None, 0
    for i, v in enumerate(voiced):
        if v:
            if start is None:
                start = i
            silent = 0
        elif start is not None:
            silent += 1
            if silent * hop >= min_silence:
                spans.append((start * hop, (i - silent + 1) * hop))
                start, silent = None, 0
    if start is not None:
        spans.append((start * hop, len(voiced) * hop))
    return spans


# --------------------------------------------------------------------------- the stage


def segment_file(
    row: dict, p: SegmentParams, notes: list[str] | None = None
) -> tuple[list[dict], str | None]:
    """Utterance rows of one file, or ([], reason) when the file is skipped. notes: what was
    wrong but did not cost the file."""
    if p.libriheavy:
        return libriheavy_rows(row, p, notes)
    path = Path(row["path"])
    json_path = path.with_suffix(".json")
    snr = None
    spans = None
    vad = "json"
    if json_path.is_file():
        meta = read_meta(json_path)
        if notes is not None:
            notes.extend(["malformed voice_activity span dropped"] * meta.get("_bad_spans", 0))
        snr = float(meta["snr"]) if isinstance(meta.get("snr"), (int, float)) else None
        if meta.get("voice_activity"):
            spans = [(float(a), float(b)) for a, b in meta["voice_activity"]]
    if spans is None:
        vad = p.vad_fallback
        spans = silero_spans(path) if vad == "silero" else energy_spans(path)
    duration = row["duration"]
    sr = _samplerate(path)
    pieces = []
    for a, b in spans:
        if b - a > p.max_seconds:
            pieces.extend(split_long_span(path, a, min(b, duration), p.max_seconds, sr))
        else:
            pieces.append((a, b))
    segs = pad_segments(merge_spans(pieces, duration, p), duration, p.pad)
    rows, short = [], 0
    for k, (a, b) in enumerate(segs):
        if b - a < p.min_seconds:
            short += 1
            continue
        rows.append(
            {
                "id": f"{row['speaker']}_{row['book']}_{row['stem']}_{k:04d}",
                "speaker": row["speaker"],
                "book": row["book"],
                "subset": row["subset"],
                "path": row["path"],
                "start": a,
                "end": b,
                "snr": snr,
                "vad": vad,
                "text": "",
            }
        )
    if not rows:
        return [], f"no utterance of at least {p.min_seconds} s"
    return rows, None


def libriheavy_rows(row: dict, p: SegmentParams, notes: list[str] | None):
    """The file's utterances as Libriheavy cut them, with their text."""
    from .libriheavy import cuts_of

    json_path = Path(row["path"]).with_suffix(".json")
    meta = read_meta(json_path) if json_path.is_file() else {}
    snr = float(meta["snr"]) if isinstance(meta.get("snr"), (int, float)) else None
    rows = []
    for cut in cuts_of(p.libriheavy, row):
        if not p.min_seconds <= cut["end"] - cut["start"] <= p.max_seconds:
            if notes is not None:
                notes.append("Libriheavy cut outside segment.min/max_seconds dropped")
            continue
        out = {k: row[k] for k in ("speaker", "book", "subset", "path")}
        out.update(id=cut["id"].replace("/", "_"), start=cut["start"], end=cut["end"], snr=snr,
                   vad="libriheavy", text=cut["text"])  # fmt: skip
        rows.append(out)
    if not rows:
        return [], "no Libriheavy cut of this file (it has no text there)"
    return rows, None


def _samplerate(path: Path) -> int:
    import soundfile as sf

    return sf.info(str(path)).samplerate


def segment_shard(rows: list[dict], p: SegmentParams) -> ShardResult:
    result = ShardResult()
    for row in rows:
        rel = f"{row['speaker']}/{row['book']}/{row['stem']}"
        notes: list[str] = []
        try:
            out, reason = segment_file(row, p, notes)
        except BadJson as err:
            result.skipped.append((rel, str(err)))
            continue
        except (OSError, RuntimeError, ValueError) as err:  # unreadable audio, mostly
            result.skipped.append((rel, skip_reason(err)))
            continue
        if reason:
            result.skipped.append((rel, reason))
        # counted like a skip, but the file's other spans are kept
        result.skipped.extend((rel, f"{n} (file kept)") for n in notes)
        result.rows.extend(out)
    return result


def stage_segment(cfg, force: bool = False) -> StageReport:
    from .stage import reset_work, summarize_hours

    report = StageReport(2, "segment")
    work = cfg.exp / "shards" / "segment"
    if force:
        reset_work(work)
    s = cfg.segment
    params = SegmentParams(
        min_seconds=s.min_seconds,
        max_seconds=s.max_seconds,
        target_seconds=s.target_seconds,
        max_pause=s.max_pause,
        pad=s.pad,
        vad_fallback=s.vad_fallback,
    )
    if cfg.corpus.libriheavy:
        from .libriheavy import build_index

        index = cfg.exp / "libriheavy"
        params.libriheavy_stamp = build_index(cfg.corpus.libriheavy, cfg.corpus.subsets, index)
        params.libriheavy = str(index.resolve())
        report.notes.append(f"utterances and text from Libriheavy ({cfg.corpus.libriheavy})")
    job = ShardJob(
        fn_path="echovox.recipes.segment:segment_shard",
        params=params,
        work=work,
        out=cfg.exp / "segments",
        features=segments_features(),
        shard_size=max(1, cfg.work.shard_size // 8),  # a file is many utterances
        desc="segment",
    )
    ds = run_sharded(job, cfg.exp / "files", cfg.work, report)
    if ds is not None:
        report.counts["utterances"] = len(ds)
        report.counts["speakers"] = len(set(ds["speaker"]))
        report.hours.update(summarize_hours(ds, by="subset"))
        vads = {}
        for v in ds["vad"]:
            vads[v] = vads.get(v, 0) + 1
        report.notes.append(f"utterances by VAD source: {vads}")
    return report
