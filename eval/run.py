"""`echovox eval run`: synthesise a test list and score it against its ground truth.

Every metric (echovox.eval.metrics, echovox.eval.speaker) is computed on the outputs and, under
the same backends, on the ground-truth reference recordings, so an output number is always read
against what real speech scores:

- WER and CER: the ASR's transcript of the audio against the text it should say.
- SIM-o: cosine similarity of speaker embeddings of the output and of the prompt file; for the
  ground truth, of the reference recording and the prompt file.
- Speaker-ID accuracy against the centroids of every prompt and reference in the list.
- Duration ratio: output seconds / reference seconds; RTF: synthesis wall time / output seconds.

With a model, two more parts come from each reference itself, so that each stage's loss shows:
the reference through the codec alone (the codec's ceiling) and, for cross-sentence items, the
reference's own first codebook completed by the NAR (the clone a perfect AR would give).
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echovox.audio import AudioError, load_audio, resample, save_audio

from .metrics import (
    EditErrors,
    SpeakerCentroids,
    SpeakerIdResult,
    char_errors,
    normalizer_name,
    word_errors,
)
from .report import aggregate, format_markdown, words_rows
from .testlist import LIST_SR, MODES, EvalItem, load_test_list, safe_name

# one rate for the test list's audio, the ASR and the speaker encoders, so a file loaded for
# the ASR also feeds the embedder
ASR_SR = LIST_SR


@dataclass
class RunOptions:
    """model: a model directory (None: the embedded model); ground_truth_only: score the
    reference recordings only, no synthesis (and no model); asr / asr_model: whisper (None:
    the packaged offline whisper-base), transformers or pocketsphinx, and its model;
    speaker_encoder / speaker_model: resemblyzer, or wavlm with a WavLMForXVector path;
    seed: the sampling seed (batch b gets seed + b);
    batch_size: items per clone_many call; limit: only the first N items; codec_resynthesis:
    also score each reference passed through the model's codec alone (the ceiling the codec
    sets on any clone); teacher_forced: also score each cross-sentence reference's own first
    codebook completed by the NAR (Synthesizer.complete_first_codebook: the clone a perfect
    AR would give), so a gap to the output is the AR's and a gap to the codec resynthesis is
    the NAR's; outputs: synthesise the list (False: load the model but score only the
    reference-derived columns, codec resynthesis and true q1 + NAR, to screen a codec or a
    NAR in a fraction of a full run's time); half_weights: the AR decodes with float16 copies
    of its projection weights (the Synthesizer's option of that name; None: its default), to
    measure what that speed-up costs in quality; bf16: the same for the NAR and codec
    decoder's bfloat16 autocast on a CPU."""

    model: str | None = None
    ground_truth_only: bool = False
    outputs: bool = True
    asr: str = "whisper"
    asr_model: str | None = None
    speaker_encoder: str = "resemblyzer"
    speaker_model: str | None = None
    seed: int = 0
    batch_size: int = 8
    device: str = "auto"
    language: str = "en-us"
    limit: int | None = None
    codec_resynthesis: bool = True
    teacher_forced: bool = True
    half_weights: bool | None = None
    bf16: bool | None = None


@dataclass
class SynthesisOutcome:
    """audio: the written file, None when synthesis failed (error says why).
    synthesis_seconds: this item's share of its batch's wall time, by output duration."""

    audio: Path | None
    seconds: float = 0.0
    synthesis_seconds: float = 0.0
    stop_reasons: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class SynthesisReport:
    """outcomes: by item id; warnings: the distinct warnings synthesis raised (e.g. a long
    prompt's transcript shortened in proportion)."""

    outcomes: dict[str, SynthesisOutcome]
    warnings: list[str]


@dataclass
class EvalRun:
    """What `run_evaluation` returns: results.json's content and where it was written."""

    results: dict[str, Any]
    markdown: str
    json_path: Path
    markdown_path: Path


# --------------------------------------------------------------------------- synthesis


def synthesize_items(
    tts, items: Sequence[EvalItem], out_dir: Path, seed: int, batch_size: int, progress=None
) -> SynthesisReport:
    """Synthesise every item into out_dir/ID.wav through clone_many, batch_size at a time.
    A batch that raises is retried item by item, so one bad item fails alone; its error is
    recorded and the run goes on."""
    report = SynthesisReport({}, [])
    for b0 in range(0, len(items), max(1, batch_size)):
        batch = items[b0 : b0 + batch_size]
        try:
            _synthesize_batch(tts, batch, seed + b0, batch_size, out_dir, report)
        except Exception as err:  # any failure of one item must not end a long run
            if len(batch) == 1:
                report.outcomes[batch[0].id] = SynthesisOutcome(None, error=_describe(err))
            else:
                for k, it in enumerate(batch):
                    try:
                        _synthesize_batch(tts, [it], seed + b0 + k, batch_size, out_dir, report)
                    except Exception as item_err:
                        report.outcomes[it.id] = SynthesisOutcome(None, error=_describe(item_err))
        if progress is not None:
            progress(len(batch))
    return report


def _synthesize_batch(tts, batch, seed, batch_size, out_dir, report: SynthesisReport) -> None:
    """One clone_many call; each item's share of the wall time goes by its output's length."""
    from echovox.app.synthesizer import CloneRequest

    reqs = [
        CloneRequest(text=it.target_text, prompt=str(it.prompt_audio), prompt_text=it.prompt_text)
        for it in batch
    ]
    settings = tts.default_settings(seed=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        audios = tts.clone_many(reqs, settings=settings, batch_size=batch_size)
        wall = time.perf_counter() - t0
    for w in caught:
        if str(w.message) not in report.warnings:
            report.warnings.append(str(w.message))
    total = sum(a.duration for a in audios) or 1.0
    for it, a in zip(batch, audios):
        report.outcomes[it.id] = SynthesisOutcome(
            audio=a.save(out_dir / f"{safe_name(it.id)}.wav"),
            seconds=a.duration,
            synthesis_seconds=wall * a.duration / total,
            stop_reasons=list(a.stop_reasons),
        )


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


# --------------------------------------------------------------------------- scoring


class Scorer:
    """Scores audio with one recogniser and one speaker encoder, the same way for every part
    (output, reference-derived audio, ground truth). Each file is embedded once."""

    def __init__(self, asr, encoder, language: str = "en-us") -> None:
        self.asr, self.encoder, self.language = asr, encoder, language
        self.embeddings: dict[str, np.ndarray] = {}

    def embed(self, path: Path, wav: np.ndarray | None = None) -> np.ndarray:
        """Cached per file; `wav`: the file already loaded at LIST_SR, so it is not read twice."""
        key = str(path)
        if key not in self.embeddings:
            audio = load_audio(path, LIST_SR) if wav is None else wav
            self.embeddings[key] = self.encoder.embed(audio, LIST_SR)
        return self.embeddings[key]

    def transcribe(self, wav: np.ndarray) -> str:
        return " ".join(self.asr.transcribe([wav])[0].split())

    def words(self, it: EvalItem, hypothesis: str) -> dict[str, Any]:
        """The transcript and its word and character errors against the item's text."""
        return {
            "hypothesis": hypothesis,
            "wer": word_errors(it.scored_text, hypothesis, self.language),
            "cer": char_errors(it.scored_text, hypothesis, self.language),
        }

    def speech(self, it: EvalItem, path, wav, scored_wav, prompt_emb) -> dict[str, Any]:
        """WER and CER of scored_wav against the item's text, SIM-o of wav (the file at path)
        to the prompt: how an output and a reference-derived waveform are both scored."""
        part: dict[str, Any] = {**self.words(it, self.transcribe(scored_wav)), "sim_o": None}
        try:
            emb = self.embed(path, wav)
            if prompt_emb is not None:
                part["sim_o"] = float(np.dot(emb, prompt_emb))
        except AudioError as err:  # e.g. a model that output silence
            part["embedding_error"] = str(err)
        return part

    def ground_truth(self, it: EvalItem, prompt_emb) -> tuple[dict[str, Any], np.ndarray | None]:
        """The reference recording scored against its own text and prompt, and its audio."""
        gt: dict[str, Any] = {}
        try:
            ref = load_audio(it.reference_audio, ASR_SR)
        except AudioError as err:
            gt["error"] = str(err)
            return gt, None
        gt["seconds"] = round(len(ref) / ASR_SR, 3)
        gt.update(self.words(it, self.transcribe(ref)))
        gt["sim"] = None
        try:
            ref_emb = self.embed(it.reference_audio, ref)
            if prompt_emb is not None:
                gt["sim"] = float(np.dot(ref_emb, prompt_emb))
        except AudioError as err:
            gt["embedding_error"] = str(err)
        return gt, ref


@dataclass
class _ItemScoring:
    """What scoring one item needs besides the item: the scorer, the model (None for the
    ground truth alone), the run's options, its synthesis outcomes and its output folder."""

    scorer: Scorer
    tts: Any
    opts: RunOptions
    outcomes: dict[str, SynthesisOutcome]
    out: Path
    synthesised: bool


def score_item(it: EvalItem, ctx: _ItemScoring) -> dict[str, Any]:
    """One item's record: its ground truth, the reference-derived parts and the output."""
    rec: dict[str, Any] = {
        "id": it.id,
        "speaker": it.speaker,
        "mode": it.mode,
        "line": it.line,
        "prompt_audio": str(it.prompt_audio),
        "reference_audio": None if it.reference_audio is None else str(it.reference_audio),
        "prompt_text": it.prompt_text,
        "target_text": it.target_text,
        "scored_text": it.scored_text,
        "status": "ok" if ctx.synthesised else "not_run",
        "error": None,
        "output": None,
        "ground_truth": None,
        "resynthesis": None,
        "teacher_forced": None,
    }
    prompt_wav = prompt_emb = None
    try:
        prompt_wav = load_audio(it.prompt_audio, ASR_SR)
        prompt_emb = ctx.scorer.embed(it.prompt_audio, prompt_wav)
    except AudioError as err:  # SIM against this prompt is then undefined, WER is not
        rec["prompt_error"] = str(err)
    ref_seconds = None
    if it.reference_audio is not None:
        rec["ground_truth"], ref = ctx.scorer.ground_truth(it, prompt_emb)
        if ref is not None:
            ref_seconds = len(ref) / ASR_SR
            rec.update(_reference_derived(it, ref, prompt_emb, ctx))
    o = ctx.outcomes.get(it.id)
    if o is not None and o.audio is None:
        rec["status"], rec["error"] = "failed", o.error
    elif o is not None:
        rec["output"] = _score_output(it, o, prompt_wav, prompt_emb, ref_seconds, ctx.scorer)
    return rec


def _reference_derived(it: EvalItem, ref, prompt_emb, ctx: _ItemScoring) -> dict[str, Any]:
    """The reference through the codec alone and, for cross-sentence items (continuation
    references start with the prompt itself), its own first codebook completed by the NAR."""
    parts: dict[str, Any] = {}
    if ctx.tts is None:
        return parts
    if ctx.opts.codec_resynthesis:
        parts["resynthesis"] = _score_derived(
            "resynthesis", it, ref, prompt_emb, ctx, ctx.tts.resynthesize
        )
    if ctx.opts.teacher_forced and it.mode == "cross":
        parts["teacher_forced"] = _score_derived(
            "teacher_forced",
            it,
            ref,
            prompt_emb,
            ctx,
            ctx.tts.complete_first_codebook,
            it.target_text,
            str(it.prompt_audio),
            it.prompt_text,
        )
    return parts


def _score_derived(
    kind: str, it: EvalItem, ref, prompt_emb, ctx: _ItemScoring, make: Callable, *args
) -> dict[str, Any]:
    """A waveform made from the reference (`make(ref, ASR_SR, *args)`, at the model's rate),
    cut to the reference's length, written to kind/ID.wav and scored like an output (WER,
    SIM-o). Bad input for the model (AudioError, TextError) is recorded, not raised."""
    path = ctx.out / kind / f"{safe_name(it.id)}.wav"
    try:
        wav = resample(make(ref, ASR_SR, *args), ctx.tts.sample_rate, ASR_SR)[: len(ref)]
    except (AudioError, ValueError) as err:  # TextError is a ValueError
        return {"error": f"{type(err).__name__}: {err}"}
    save_audio(path, wav, ASR_SR)
    return {"audio": str(path), **ctx.scorer.speech(it, path, wav, wav, prompt_emb)}


def _score_output(it: EvalItem, o: SynthesisOutcome, prompt_wav, prompt_emb, ref_seconds, scorer):
    res: dict[str, Any] = {
        "audio": str(o.audio),
        "seconds": round(o.seconds, 3),
        "synthesis_seconds": round(o.synthesis_seconds, 3),
        "rtf": o.synthesis_seconds / o.seconds if o.seconds > 0 else None,
        "stop_reasons": o.stop_reasons,
    }
    wav = load_audio(o.audio, ASR_SR)
    scored_wav = wav
    spoken = len(wav) / ASR_SR
    if it.mode == "continuation" and prompt_wav is not None:
        scored_wav = np.concatenate([prompt_wav, wav])
        spoken += len(prompt_wav) / ASR_SR
    res["duration_ratio"] = spoken / ref_seconds if ref_seconds else None
    res.update(scorer.speech(it, o.audio, wav, scored_wav, prompt_emb))
    return res


def identify_speakers(items: Sequence[EvalItem], records, embeddings) -> None:
    """Speaker identification of every scored part against the centroids of every prompt and
    reference in the list (a reference left out of its own); the records' word and character
    errors become JSON on the way."""
    enrol: dict[str, dict[str, np.ndarray]] = {}
    for it in items:
        for p in (it.prompt_audio, it.reference_audio):
            if p is not None and str(p) in embeddings:
                enrol.setdefault(it.speaker, {})[str(p)] = embeddings[str(p)]
    centroids = SpeakerCentroids({s: list(v.values()) for s, v in enrol.items()})
    for it, rec in zip(items, records):
        gt = rec["ground_truth"]
        if gt is not None and str(it.reference_audio) in embeddings:
            e = embeddings[str(it.reference_audio)]
            gt["speaker_id"] = _sid_json(centroids.identify(e, it.speaker, leave_out=e))
        for part in (rec["output"], rec["resynthesis"], rec["teacher_forced"]):
            if part is not None and "audio" in part:
                e = embeddings.get(part["audio"])
                sid = None if e is None else centroids.identify(e, it.speaker)
                part["speaker_id"] = _sid_json(sid)
        for part in (rec["output"], gt, rec["resynthesis"], rec["teacher_forced"]):
            for key in ("wer", "cer"):
                if part is not None and isinstance(part.get(key), EditErrors):
                    part[key] = part[key].to_json()


def _sid_json(r: SpeakerIdResult | None) -> dict[str, Any] | None:
    return None if r is None else asdict(r)


# --------------------------------------------------------------------------- the run


def run_evaluation(
    test_list: str | Path,
    output: str | Path,
    options: RunOptions | None = None,
    *,
    synthesizer=None,
    show_progress: bool = True,
) -> EvalRun:
    """Synthesise (unless ground_truth_only) and score a test list; write output/results.json,
    output/results.md and the outputs as output/audio/ID.wav. `synthesizer` reuses a loaded
    Synthesizer instead of loading options.model."""
    from tqdm import tqdm

    from .asr import load_asr
    from .speaker import load_speaker_encoder

    opts = options or RunOptions()
    if not (
        opts.ground_truth_only or opts.outputs or opts.codec_resynthesis or opts.teacher_forced
    ):
        raise ValueError(
            "outputs, codec_resynthesis and teacher_forced are all off: nothing the model makes "
            "would be scored (to score the references alone, set ground_truth_only)"
        )
    items = load_test_list(test_list)
    if opts.limit:
        items = items[: opts.limit]
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    device = _device(opts.device)
    # the scorers load before synthesis, so a missing backend fails in seconds, not hours
    scorer = Scorer(
        load_asr(opts.asr, opts.asr_model, device),
        load_speaker_encoder(opts.speaker_encoder, opts.speaker_model, device),
        opts.language,
    )
    tts, model_dir = _load_model(opts, synthesizer)
    synthesised = tts is not None and opts.outputs
    report = SynthesisReport({}, [])
    if synthesised:
        with tqdm(
            total=len(items), desc="synthesize", unit="item", file=sys.stderr,
            disable=not show_progress,
        ) as bar:  # fmt: skip
            report = synthesize_items(
                tts, items, out / "audio", opts.seed, opts.batch_size, progress=bar.update
            )
    ctx = _ItemScoring(scorer, tts, opts, report.outcomes, out, synthesised)
    scoring = tqdm(items, desc="score", unit="item", file=sys.stderr, disable=not show_progress)
    records = [score_item(it, ctx) for it in scoring]
    identify_speakers(items, records, scorer.embeddings)
    groups = {"all": records}
    modes = [m for m in MODES if any(r["mode"] == m for r in records)]
    if len(modes) > 1:
        groups.update({m: [r for r in records if r["mode"] == m] for m in modes})
    results = {
        "format": "echovox-eval-v1",
        # words first (DESIGN.md, convention 13): WER and CER of every path, before the rest
        "words": words_rows(records),
        "test_list": str(Path(test_list)),
        "output_dir": str(out),
        "ground_truth_only": opts.ground_truth_only,
        "outputs": synthesised,
        "model_dir": model_dir,
        "seed": opts.seed,
        "batch_size": opts.batch_size,
        "half_weights": None if tts is None else bool(tts.half_weights),
        "bf16": None if tts is None else bool(tts.bf16),
        "device": device,
        "language": opts.language,
        "text_normalizer": normalizer_name(opts.language),
        "asr": {"backend": scorer.asr.name, "model": scorer.asr.model},
        "speaker_encoder": {"backend": scorer.encoder.name, "model": scorer.encoder.model},
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "warnings": report.warnings,
        "aggregate": {name: aggregate(recs) for name, recs in groups.items()},
        "items": records,
    }
    return _write_results(_finite(results), out)


def _load_model(opts: RunOptions, synthesizer):
    """(Synthesizer or None, what results.json records as the model)."""
    if opts.ground_truth_only:
        return None, None
    from echovox.app.synthesizer import Synthesizer

    tts = synthesizer or Synthesizer.from_pretrained(
        opts.model, device=opts.device, half_weights=opts.half_weights, bf16=opts.bf16
    )
    return tts, opts.model or ("(embedded)" if synthesizer is None else "(a given Synthesizer)")


def _write_results(results: dict[str, Any], out: Path) -> EvalRun:
    markdown = format_markdown(results)
    json_path = out / "results.json"
    json_path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    md_path = out / "results.md"
    md_path.write_text(markdown)
    return EvalRun(results, markdown, json_path, md_path)


def _device(device: str) -> str:
    from echovox.app.synthesizer import resolve_device

    return resolve_device(device)


def _finite(obj: Any) -> Any:
    """JSON has no NaN or inf: such numbers become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for pkg in (
        "echovox",
        "torch",
        "transformers",
        "faster-whisper",
        "ctranslate2",
        "jiwer",
        "resemblyzer",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out
