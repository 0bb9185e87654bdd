"""Stage 3: transcribe utterances with a pluggable ASR backend.

Backends:
  whisper, transformers, pocketsphinx   the recognisers of echovox.eval.asr (`load_asr`):
                 batched; with GPUs, one worker process per GPU (work.num_proc: auto); on CPU,
                 faster-whisper's int8. Whisper's confidence (exp of the mean token
                 log-probability) is kept per utterance for stage 4's filter.
  reference      the synthetic corpus's true transcripts (no recognition at all), so the
                 embedded model trains on exactly what was spoken.
Every transcript records the backend and model that made it. Utterances the recogniser flags
(silent, too short, NaN) are skipped with the flag as the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echovox.audio import AudioError, load_audio
from echovox.eval.asr import ASR_SR

from .stage import ShardJob, ShardResult, StageReport, run_sharded, worker_index

BACKENDS = ("whisper", "transformers", "pocketsphinx", "reference", "libriheavy")


def manifest_features():
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
            "text": Value("string"),
            "asr_backend": Value("string"),
            "asr_model": Value("string"),
            "asr_confidence": Value("float64"),  # None: the backend gives none
        }
    )


def pick_device(device: str) -> str:
    """'auto' -> this worker's GPU when there are GPUs, else CPU. Local workers spread over the
    GPUs; a launcher's LOCAL_RANK (torchrun, or set it from SLURM_LOCALID) offsets them, so one
    invocation per GPU with --rank/--world_size lands each on its own card."""
    import os

    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        return f"cuda:{(local + worker_index()) % torch.cuda.device_count()}"
    return "cpu"


class BookText:
    """Libriheavy's text, which stage 2 put beside each of its utterances: nothing to hear."""

    name = "libriheavy"
    model = "book text"

    def recognise_rows(self, rows: list[dict]) -> list[tuple[str, None, None]]:
        return [(r.get("text") or "", None, None) for r in rows]


class ReferenceAsr:
    """Looks up the true sentences the synthetic generator spoke inside each utterance."""

    name = "reference"

    def __init__(self, corpus_root: str):
        self.root = Path(corpus_root).resolve()
        self.model = "synthetic-truth"
        self._cache: dict[str, list[dict]] = {}

    def sentences(self, path: str) -> list[dict]:
        if path not in self._cache:
            rel = Path(path).resolve().relative_to(self.root)
            truth = self.root / "transcripts" / rel.with_suffix(".json")
            if not truth.is_file():
                raise FileNotFoundError("no reference transcript for this file")
            self._cache = {path: json.loads(truth.read_text())["sentences"]}
        return self._cache[path]

    def lookup(self, path: str, start: float, end: float) -> str:
        words = []
        for s in self.sentences(path):
            overlap = min(end, s["end"]) - max(start, s["start"])
            frac = overlap / max(1e-6, s["end"] - s["start"])
            if frac >= 0.9:
                words.append(s["text"])
            elif frac > 0.1:
                # the cut went through a sentence: no honest transcript exists for this piece
                return ""
        return " ".join(words)


@dataclass
class AsrParams:
    backend: str
    model: str | None
    device: str
    batch_size: int
    corpus_root: str
    language: str = "en"
    threads: int | None = None


class SharedAsr:
    """echovox.eval.asr's recogniser for one worker: its device, and its detailed output
    (text, confidence, flag) when it has one."""

    def __init__(self, p: AsrParams):
        from echovox.eval import asr

        self.name = p.backend
        self.model = p.model or "default"
        device = pick_device(p.device)  # this worker's GPU, or cpu (Whisper then runs int8)
        self.asr = asr.load_asr(
            p.backend, p.model, device, p.threads, batch_size=p.batch_size, language=p.language
        )

    def recognise(self, wavs: list[np.ndarray]) -> list[tuple[str, float | None, str | None]]:
        if hasattr(self.asr, "transcribe_detailed"):
            out = self.asr.transcribe_detailed(wavs)
            return [(t.text, t.confidence, t.flag) for t in out]
        return [(t, None, None) for t in self.asr.transcribe(wavs)]


_BACKEND = None


def get_backend(p: AsrParams):
    """One backend per process, built on first use and kept for every later shard."""
    global _BACKEND
    if _BACKEND is None or _BACKEND[0] != p:
        if p.backend == "reference":
            b = ReferenceAsr(p.corpus_root)
        elif p.backend == "libriheavy":
            b = BookText()
        elif p.backend in BACKENDS:
            b = SharedAsr(p)
        else:
            raise ValueError(f"asr.backend must be one of {BACKENDS}, got {p.backend!r}")
        _BACKEND = (p, b)
    return _BACKEND[1]


def transcribe_shard(rows: list[dict], p: AsrParams) -> ShardResult:
    result = ShardResult()
    backend = get_backend(p)
    batch: list[tuple[dict, np.ndarray | None]] = []

    def flush():
        if not batch:
            return
        for (row, _), (text, conf, flag) in zip(batch, _recognise(backend, batch, result)):
            if text is None:
                continue
            if flag:
                result.skipped.append((row["id"], f"ASR flag: {flag}"))
                continue
            text = " ".join(text.split())
            if not text:
                reason = (
                    "segment cuts through a sentence (no reference transcript)"
                    if isinstance(backend, ReferenceAsr)
                    else "ASR returned no words"
                )
                result.skipped.append((row["id"], reason))
                continue
            out = {k: row[k] for k in ("id", "speaker", "book", "subset", "path", "start", "end")}
            out.update(snr=row["snr"], text=text, asr_backend=backend.name, asr_model=backend.model,
                       asr_confidence=conf)  # fmt: skip
            result.rows.append(out)
        batch.clear()

    for row in rows:
        try:
            # read even for the reference backend: NaN, silent or unreadable audio is
            # caught here, before any later stage spends time on it
            wav = load_audio(
                row["path"], ASR_SR, start=row["start"], end=row["end"], allow_silent=False
            )
        except AudioError as err:
            result.skipped.append((row["id"], str(err).replace(row["path"], "<file>")))
            continue
        batch.append((row, wav))
        if len(batch) >= p.batch_size:
            flush()
    flush()
    return result


def _recognise(backend, batch, result: ShardResult):
    """(text, confidence, flag) per (row, wav) of the batch; text None: skipped here."""
    if isinstance(backend, BookText):
        return backend.recognise_rows([r for r, _ in batch])
    if not isinstance(backend, ReferenceAsr):
        return backend.recognise([w for _, w in batch])
    out = []
    for r, _ in batch:
        try:
            out.append((backend.lookup(r["path"], r["start"], r["end"]), None, None))
        except FileNotFoundError as err:  # audio added to the tree by hand
            out.append((None, None, None))
            result.skipped.append((r["id"], str(err)))
    return out


def stage_transcribe(cfg, force: bool = False) -> StageReport:
    from .stage import reset_work, summarize_hours

    report = StageReport(3, "transcribe")
    work = cfg.exp / "shards" / "transcribe"
    if force:
        reset_work(work)
    a = cfg.asr
    language = cfg.text.language.split("-")[0]
    params = AsrParams(a.backend, a.model, a.device, a.batch_size, str(cfg.corpus.root),
                       language, a.threads)  # fmt: skip
    if a.backend not in BACKENDS:
        raise ValueError(f"asr.backend must be one of {BACKENDS}, got {a.backend!r}")
    if a.backend == "libriheavy" and not cfg.corpus.libriheavy:
        raise ValueError("asr.backend libriheavy takes the text stage 2 read from Libriheavy: "
                         "set corpus.libriheavy to the folder of its cut manifests")  # fmt: skip
    job = ShardJob(
        fn_path="echovox.recipes.asr:transcribe_shard",
        params=params,
        work=work,
        out=cfg.exp / "manifest",
        features=manifest_features(),
        shard_size=cfg.work.shard_size,
        desc=f"transcribe ({a.backend})",
        # what decides a transcript; not the device, batch size or threads
        stamp={"backend": a.backend, "model": a.model, "language": language},
    )
    ds = run_sharded(job, cfg.exp / "segments", cfg.work, report)
    if ds is not None:
        report.counts["utterances"] = len(ds)
        report.hours.update(summarize_hours(ds, by="subset"))
        report.notes.append(f"backend {a.backend}, model {a.model or 'default'}")
    return report
