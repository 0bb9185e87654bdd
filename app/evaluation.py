"""Evaluation harness: `echovox eval make_list` builds a test list, `echovox eval run` scores it.

Test list: JSONL, one item per line,

    {"id": "cross_1110_...", "speaker": "1110", "mode": "cross" | "continuation",
     "prompt_audio": "prompts/x_3s.wav", "prompt_text": "...", "target_text": "...",
     "reference_audio": "audio/y.wav" | null}

relative paths resolve against the JSONL's folder; other keys are kept but not needed.

Metrics (every one computed on the outputs and, under the same backends, on the ground-truth
reference recordings, so an output number is always read against what real speech scores):

- WER: ASR (pocketsphinx offline, or a transformers Whisper/CTC model) of the output against
  the text it should say; both sides normalised alike (echovox.text.normalize for numbers and
  abbreviations, lower case, punctuation stripped). Corpus-level: all errors / all words.
- SIM-o: cosine similarity of speaker embeddings (app/speaker.py) of the output and of the
  prompt file; for ground truth, of the reference recording and the prompt file.
- Speaker-ID accuracy: the output's embedding is closer to its own speaker's centroid (mean of
  the speaker's prompt and reference embeddings in the list) than to every other centroid;
  a tie counts as wrong. A reference recording is left out of its own centroid.
- Duration ratio: output seconds / reference seconds; RTF: synthesis wall time / output seconds.

Modes, as in VALL-E:
- cross: the prompt is another utterance of the speaker cut to 3 s; prompt_text is the whole
  transcript of that utterance (what VALL-E's cross-sentence setting feeds), so the builder
  prefers prompt utterances of at most ~4 s, where the transcript says little the audio lacks.
- continuation: the prompt is the first 3 s of the reference itself. Where those 3 s end in the
  text is unknown without an aligner, so the builder splits the transcript in proportion to
  the time kept: prompt_text + " " + target_text is the whole reference text. The output is
  scored for WER as prompt audio + output against that whole text (the uncertain split point
  then cannot count as an error), and so is the reference recording.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
import sys
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echovox.audio import AudioError, load_audio, resample, save_audio

MODES = ("cross", "continuation")
ASR_BACKENDS = ("pocketsphinx", "transformers")
LIST_SR = 16_000  # test-list audio is written at 16 kHz, what both ASR and embedders take
ASR_SR = LIST_SR  # one rate, so a file loaded for the ASR also feeds the embedder
LIST_NAME = "test.jsonl"
FIELDS = ("id", "speaker", "prompt_audio", "prompt_text", "target_text", "reference_audio", "mode")


class EvalListError(ValueError):
    """A test list that cannot be used: unreadable, malformed, or naming missing audio."""


# --------------------------------------------------------------------------- the test list


@dataclass
class EvalItem:
    """One line of a test list; `line` is its 1-based line number, for error messages."""

    id: str
    speaker: str
    prompt_audio: Path
    prompt_text: str
    target_text: str
    reference_audio: Path | None
    mode: str
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def scored_text(self) -> str:
        """What the scored audio should say (see the module docstring for continuation)."""
        if self.mode == "continuation":
            return f"{self.prompt_text} {self.target_text}"
        return self.target_text

    def to_json(self, base: Path) -> dict[str, Any]:
        def rel(p: Path | None) -> str | None:
            if p is None:
                return None
            try:
                return Path(p).resolve().relative_to(base.resolve()).as_posix()
            except ValueError:
                return str(p)

        out = {
            "id": self.id,
            "speaker": self.speaker,
            "prompt_audio": rel(self.prompt_audio),
            "prompt_text": self.prompt_text,
            "target_text": self.target_text,
            "reference_audio": rel(self.reference_audio),
            "mode": self.mode,
        }
        out.update(self.extra)
        return out


def write_test_list(path: str | Path, items: Sequence[EvalItem]) -> Path:
    """JSONL with paths relative to the list's folder, so the folder can be moved whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(it.to_json(path.parent), ensure_ascii=False) for it in items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_test_list(path: str | Path, check_audio: bool = True) -> list[EvalItem]:
    """Read and validate a test list. Raises EvalListError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise EvalListError(f"test list not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise EvalListError(f"cannot read test list {path}: {err}") from err
    base = path.parent
    items: list[EvalItem] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        where = f"{path}:{n}"
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            raise EvalListError(f"{where}: not a JSON object ({err.msg})") from err
        if not isinstance(obj, dict):
            raise EvalListError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        missing = [k for k in FIELDS if k not in obj]
        if missing:
            raise EvalListError(f"{where}: missing {', '.join(missing)}")
        item_id = obj["id"]
        if not isinstance(item_id, str) or not item_id.strip():
            raise EvalListError(f"{where}: id must be a non-empty string")
        where = f"{where} (item {item_id})"
        if item_id in seen:
            raise EvalListError(f"{where}: id repeats line {seen[item_id]}")
        seen[item_id] = n
        if obj["mode"] not in MODES:
            raise EvalListError(f"{where}: mode must be one of {MODES}, got {obj['mode']!r}")
        for key in ("prompt_text", "target_text"):
            if not isinstance(obj[key], str) or not obj[key].strip():
                raise EvalListError(f"{where}: {key} is empty")
            if not re.search(r"[^\W_]", obj[key]):
                raise EvalListError(f"{where}: {key} has no words: {obj[key]!r}")
        if obj["reference_audio"] is not None and not isinstance(obj["reference_audio"], str):
            raise EvalListError(f"{where}: reference_audio must be a path or null")
        paths = {}
        for key in ("prompt_audio", "reference_audio"):
            value = obj[key]
            if value is None and key == "reference_audio":
                paths[key] = None
                continue
            if not isinstance(value, str) or not value.strip():
                raise EvalListError(f"{where}: {key} must be a path")
            p = Path(value)
            p = p if p.is_absolute() else base / p
            if check_audio and not p.is_file():
                raise EvalListError(f"{where}: {key} not found: {p}")
            paths[key] = p
        items.append(
            EvalItem(
                id=item_id,
                speaker=str(obj["speaker"]),
                prompt_audio=paths["prompt_audio"],
                prompt_text=obj["prompt_text"].strip(),
                target_text=obj["target_text"].strip(),
                reference_audio=paths["reference_audio"],
                mode=obj["mode"],
                line=n,
                extra={k: v for k, v in obj.items() if k not in FIELDS},
            )
        )
    if not items:
        raise EvalListError(f"{path}: the test list has no items")
    return items


# --------------------------------------------------------------------------- WER

_NOT_WORD = re.compile(r"[^\w\s']|_")
_EDGE_QUOTE = re.compile(r"(?<!\w)'|'(?!\w)")


def normalize_for_wer(text: str, language: str = "en-us") -> str:
    """Lower-case words with numbers and abbreviations spelt out and punctuation removed;
    apostrophes inside words stay ("don't"), as the recognisers spell them."""
    from echovox.text import normalize

    # nothing speakable after normalisation: score whatever words (if any) are there
    with contextlib.suppress(ValueError):
        text = normalize(text, language)
    text = _EDGE_QUOTE.sub(" ", _NOT_WORD.sub(" ", text.lower()))
    return " ".join(text.split())


@dataclass
class WordErrors:
    """Edit operations of a hypothesis against a reference of n_ref words."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    n_ref: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float | None:
        return self.errors / self.n_ref if self.n_ref else None

    def __add__(self, other: WordErrors) -> WordErrors:
        return WordErrors(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.n_ref + other.n_ref,
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "wer": self.wer}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> WordErrors:
        """The counts of a to_json() dict (its derived "wer" is recomputed, not read)."""
        return cls(d["substitutions"], d["deletions"], d["insertions"], d["n_ref"])


def word_errors(reference: str, hypothesis: str, language: str = "en-us") -> WordErrors:
    """WordErrors of `hypothesis` against `reference`, both normalised by normalize_for_wer.
    An empty hypothesis is all deletions; an empty reference is a ValueError (no WER exists)."""
    ref = normalize_for_wer(reference, language)
    hyp = normalize_for_wer(hypothesis or "", language) if hypothesis else ""
    if not ref:
        raise ValueError(f"reference {reference!r} has no words to score against")
    if not hyp:
        return WordErrors(deletions=len(ref.split()), n_ref=len(ref.split()))
    try:
        import jiwer
    except ImportError as err:
        raise ImportError("WER needs jiwer: pip install 'echovox[eval]'") from err
    out = jiwer.process_words(ref, hyp)
    return WordErrors(
        substitutions=out.substitutions,
        deletions=out.deletions,
        insertions=out.insertions,
        n_ref=out.hits + out.substitutions + out.deletions,
    )


def corpus_wer(errors: Iterable[WordErrors]) -> float | None:
    """All errors over all reference words (long utterances weigh more, as in the papers)."""
    total = sum(errors, WordErrors())
    return total.wer


# --------------------------------------------------------------------------- speaker ID


@dataclass
class SpeakerIdResult:
    """predicted: the speaker of the closest centroid, None when the top score is tied.
    own: cosine to the true speaker's centroid; best_other: to the closest other one."""

    predicted: str | None
    correct: bool
    own: float
    best_other: float


class SpeakerCentroids:
    """Per-speaker mean of unit embeddings, with leave-one-out for an enrolled embedding."""

    def __init__(self, embeddings: Mapping[str, Sequence[np.ndarray]]) -> None:
        self._sum: dict[str, np.ndarray] = {}
        self._n: dict[str, int] = {}
        for spk, vecs in embeddings.items():
            vecs = [_unit(v) for v in vecs]
            if vecs:
                self._sum[spk] = np.sum(vecs, axis=0)
                self._n[spk] = len(vecs)

    @property
    def speakers(self) -> list[str]:
        return sorted(self._sum)

    def centroid(self, speaker: str, leave_out: np.ndarray | None = None) -> np.ndarray | None:
        total, n = self._sum.get(speaker), self._n.get(speaker, 0)
        if total is None:
            return None
        if leave_out is not None:
            total, n = total - _unit(leave_out), n - 1
        if n <= 0:
            return None
        return _unit(total / n)

    def identify(
        self, embedding: np.ndarray, speaker: str, leave_out: np.ndarray | None = None
    ) -> SpeakerIdResult | None:
        """None when there is nothing to tell apart (fewer than two speakers, or the true
        speaker has no centroid once `leave_out` is removed)."""
        if len(self._sum) < 2:
            return None
        e = _unit(embedding)
        own_c = self.centroid(speaker, leave_out)
        if own_c is None:
            return None
        own = float(np.dot(e, own_c))
        others = {s: float(np.dot(e, self.centroid(s))) for s in self._sum if s != speaker}
        best_spk = max(others, key=lambda s: (others[s], s))
        best_other = others[best_spk]
        if own > best_other:
            predicted = speaker
        elif best_other > own and list(others.values()).count(best_other) == 1:
            predicted = best_spk
        else:
            predicted = None  # a tie for the top: no single answer
        return SpeakerIdResult(predicted, predicted == speaker, own, best_other)


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


# --------------------------------------------------------------------------- list builders


@dataclass
class Utterance:
    """A span [start, end) of an audio file (the whole file when start/end are None)."""

    id: str
    speaker: str
    path: Path
    text: str
    duration: float
    start: float | None = None
    end: float | None = None


@dataclass
class ListSpec:
    """How test items are drawn: per_speaker targets (None or 0: all) of min..max seconds,
    prompts cut to prompt_seconds, cross prompts preferably from utterances of at most
    max_prompt_seconds. Every draw is seeded by (seed, speaker) or (seed, target)."""

    per_speaker: int | None = 10
    seed: int = 0
    modes: tuple[str, ...] = ("cross",)
    min_seconds: float = 4.0
    max_seconds: float = 10.0
    prompt_seconds: float = 3.0
    max_prompt_seconds: float = 4.0

    def __post_init__(self) -> None:
        self.modes = tuple(self.modes)
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ValueError(f"modes must be some of {MODES}, got {self.modes}")
        if not 0 < self.min_seconds <= self.max_seconds:
            raise ValueError("need 0 < min_seconds <= max_seconds")
        if self.prompt_seconds <= 0:
            raise ValueError("prompt_seconds must be positive")


@dataclass
class BuiltList:
    path: Path
    items: list[EvalItem]
    n_speakers: int
    notes: list[str]


def synthetic_utterances(
    manifest: str | Path, speakers: str | Path | None = None, split: str = "test"
) -> list[Utterance]:
    """Held-out utterances of a recipe manifest (a datasets folder such as exp/synthetic/
    phonemes). With `speakers` (the synthetic corpus's speakers.json) the speakers flagged
    "heldout" are taken; without it, the rows whose `split` column equals `split` (stage 4 puts
    the held-out voices, and only them, in "test")."""
    from datasets import load_from_disk

    try:
        ds = load_from_disk(str(manifest))
    except (FileNotFoundError, ValueError) as err:
        raise EvalListError(f"cannot load the manifest dataset {manifest}: {err}") from err
    need = ["id", "speaker", "path", "start", "end", "text"]
    missing = [c for c in need if c not in ds.column_names]
    if missing:
        raise EvalListError(f"manifest {manifest} lacks columns {missing}")
    if speakers is not None:
        try:
            table = json.loads(Path(speakers).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise EvalListError(f"cannot read speakers file {speakers}: {err}") from err
        keep = {str(s["id"]) for s in table if s.get("heldout")}
        if not keep:
            raise EvalListError(f"{speakers} flags no speaker as heldout")
        rows = ds.select_columns(need).to_dict()
        mask = [s in keep for s in rows["speaker"]]
    else:
        if "split" not in ds.column_names:
            raise EvalListError(
                f"manifest {manifest} has no split column: pass --speakers speakers.json"
            )
        rows = ds.select_columns([*need, "split"]).to_dict()
        mask = [s == split for s in rows["split"]]
    out = []
    for i, ok in enumerate(mask):
        if not ok or not str(rows["text"][i]).strip():
            continue
        start, end = float(rows["start"][i]), float(rows["end"][i])
        out.append(
            Utterance(
                id=str(rows["id"][i]),
                speaker=str(rows["speaker"][i]),
                path=Path(rows["path"][i]),
                text=" ".join(str(rows["text"][i]).split()),
                duration=end - start,
                start=start,
                end=end,
            )
        )
    if not out:
        raise EvalListError(f"no held-out utterances in {manifest}")
    return out


def librispeech_utterances(root: str | Path) -> list[Utterance]:
    """Every utterance of a LibriSpeech-style tree SPEAKER/CHAPTER/{ID.flac, S-C.trans.txt}.
    Transcripts are upper case without punctuation; they are sentence-cased so the phonemiser
    reads words, not letters."""
    import soundfile as sf

    root = Path(root)
    transcripts = sorted(root.rglob("*.trans.txt"))
    if not transcripts:
        raise EvalListError(f"no *.trans.txt transcripts under {root}")
    out = []
    for trans in transcripts:
        for raw in trans.read_text(encoding="utf-8").splitlines():
            uid, _, text = raw.strip().partition(" ")
            if not uid or not text.strip():
                continue
            audio = next(
                (
                    trans.parent / f"{uid}{ext}"
                    for ext in (".flac", ".wav")
                    if (trans.parent / f"{uid}{ext}").is_file()
                ),
                None,
            )
            if audio is None:
                continue
            text = " ".join(text.split()).lower()
            out.append(
                Utterance(
                    id=uid,
                    speaker=uid.split("-")[0],
                    path=audio,
                    text=text[:1].upper() + text[1:],
                    duration=float(sf.info(str(audio)).duration),
                )
            )
    if not out:
        raise EvalListError(f"no audio files beside the transcripts under {root}")
    return out


def build_test_list(
    utterances: Sequence[Utterance], output: str | Path, spec: ListSpec, source: str = ""
) -> BuiltList:
    """Draw targets and prompts per speaker, cut them into 16 kHz wav files under `output`
    (audio/ for references, prompts/ for prompts) and write output/test.jsonl and
    output/list_info.json."""
    from echovox.model_dir import PromptConfig

    from .prompt import condition_prompt, shorten_transcript

    out = Path(output)
    notes: list[str] = []
    prompt_cfg = PromptConfig(
        seconds=spec.prompt_seconds, min_seconds=min(1.0, spec.prompt_seconds)
    )
    by_speaker: dict[str, list[Utterance]] = {}
    for u in sorted(utterances, key=lambda u: (u.speaker, u.id)):
        by_speaker.setdefault(u.speaker, []).append(u)

    cache: dict[str, np.ndarray] = {}

    def read(u: Utterance) -> np.ndarray:
        if u.id not in cache:
            cache.clear()  # one at a time: chapters are long, and each is read in order
            cache[u.id] = load_audio(u.path, LIST_SR, start=u.start, end=u.end)
        return cache[u.id]

    written: set[str] = set()

    def reference(u: Utterance) -> Path:
        p = out / "audio" / f"{_safe(u.id)}.wav"
        if u.id not in written:  # both modes share a target's reference
            save_audio(p, read(u), LIST_SR)
            written.add(u.id)
        return p

    def cut_prompt(u: Utterance, suffix: str):
        prepared = condition_prompt(read(u), LIST_SR, prompt_cfg)
        p = out / "prompts" / f"{_safe(u.id)}_{suffix}.wav"
        save_audio(p, prepared.waveform, LIST_SR)
        return p, prepared

    items: list[EvalItem] = []
    long_prompts = 0
    skipped: dict[str, int] = {}
    for speaker, utts in by_speaker.items():
        targets = [
            u
            for u in utts
            if spec.min_seconds <= u.duration <= spec.max_seconds and len(u.text.split()) >= 2
        ]
        rng = random.Random(f"{spec.seed}:targets:{speaker}")
        if spec.per_speaker and len(targets) > spec.per_speaker:
            targets = sorted(rng.sample(targets, spec.per_speaker), key=lambda u: u.id)
        elif spec.per_speaker and len(targets) < spec.per_speaker:
            notes.append(
                f"speaker {speaker}: only {len(targets)} utterances of {spec.min_seconds:g}-"
                f"{spec.max_seconds:g} s"
            )
        for t in targets:
            for mode in spec.modes:
                try:
                    if mode == "cross":
                        prompt_u = _pick_prompt(utts, t, spec)
                        if prompt_u is None:
                            skipped["no other utterance of the speaker"] = (
                                skipped.get("no other utterance of the speaker", 0) + 1
                            )
                            continue
                        long_prompts += prompt_u.duration > spec.max_prompt_seconds
                        p_path, _ = cut_prompt(prompt_u, f"{spec.prompt_seconds:g}s")
                        prompt_text, target_text = prompt_u.text, t.text
                        extra = {
                            "prompt_utterance": prompt_u.id,
                            "prompt_utterance_seconds": round(prompt_u.duration, 3),
                        }
                    else:
                        p_path, prepared = cut_prompt(t, f"first{spec.prompt_seconds:g}s")
                        frac = prepared.kept_seconds / prepared.source_seconds
                        prompt_text = shorten_transcript(t.text, frac)
                        words = t.text.split()
                        target_text = " ".join(words[len(prompt_text.split()) :])
                        if not target_text:
                            skipped["nothing left to say after the prompt"] = (
                                skipped.get("nothing left to say after the prompt", 0) + 1
                            )
                            continue
                        extra = {"prompt_word_split": "proportional to time"}
                    ref_path = reference(t)
                except AudioError as err:
                    reason = f"unusable audio ({err})"
                    skipped[reason] = skipped.get(reason, 0) + 1
                    continue
                items.append(
                    EvalItem(
                        id=f"{mode}_{t.id}",
                        speaker=speaker,
                        prompt_audio=p_path,
                        prompt_text=prompt_text,
                        target_text=target_text,
                        reference_audio=ref_path,
                        mode=mode,
                        extra=extra,
                    )
                )
    if not items:
        raise EvalListError(
            f"no test items: no speaker has an utterance of {spec.min_seconds:g}-"
            f"{spec.max_seconds:g} s (with another utterance for a cross prompt)"
        )
    items.sort(key=lambda it: (MODES.index(it.mode), it.speaker, it.id))
    if long_prompts:
        notes.append(
            f"{long_prompts} cross prompts come from utterances over {spec.max_prompt_seconds:g} s"
            " (no shorter one): their transcript says more than the cut prompt audio"
        )
    notes += [f"skipped {n} x {reason}" for reason, n in sorted(skipped.items())]
    path = write_test_list(out / LIST_NAME, items)
    info = {
        "source": source,
        "spec": asdict(spec),
        "items": len(items),
        "speakers": len({it.speaker for it in items}),
        "by_mode": {m: sum(it.mode == m for it in items) for m in spec.modes},
        "notes": notes,
    }
    (out / "list_info.json").write_text(json.dumps(info, indent=1) + "\n")
    return BuiltList(path, items, info["speakers"], notes)


def _pick_prompt(utts: Sequence[Utterance], target: Utterance, spec: ListSpec) -> Utterance | None:
    """Another utterance of the speaker: at least prompt_seconds and at most
    max_prompt_seconds when one exists (then the whole transcript nearly matches the cut
    audio), else any short one, else one of the three shortest."""
    others = [u for u in utts if u.id != target.id and u.duration >= 1.0]
    if not others:
        return None
    pool = [u for u in others if spec.prompt_seconds <= u.duration <= spec.max_prompt_seconds]
    pool = pool or [u for u in others if u.duration <= spec.max_prompt_seconds]
    pool = pool or sorted(others, key=lambda u: (u.duration, u.id))[:3]
    return random.Random(f"{spec.seed}:prompt:{target.id}").choice(pool)


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name)


# --------------------------------------------------------------------------- running


@dataclass
class RunOptions:
    """model: a model directory (None: the embedded model); ground_truth_only: score the
    reference recordings only, no synthesis (and no model); asr / asr_model: pocketsphinx, or
    transformers with a Whisper/CTC model path; speaker_encoder / speaker_model: resemblyzer,
    or wavlm with a WavLMForXVector path; seed: the sampling seed (batch b gets seed + b);
    batch_size: items per clone_many call; limit: only the first N items; codec_resynthesis:
    also score each reference passed through the model's codec alone (the ceiling the codec
    sets on any clone); teacher_forced: also score each cross-sentence reference's own first
    codebook completed by the NAR (Synthesizer.complete_first_codebook: the clone a perfect
    AR would give), so a gap to the output is the AR's and a gap to the codec resynthesis is
    the NAR's; outputs: synthesise the list (False: load the model but score only the
    reference-derived columns, codec resynthesis and true q1 + NAR: for screening a codec or
    NAR, 6.5 min on the 100-item held-out list where the full run takes about 25);
    half_weights: the AR decodes with float16 copies of its projection weights (the
    Synthesizer's option of that name; None: its default), to measure what that speed-up
    costs in quality; bf16: the same for the NAR and codec decoder's bfloat16 autocast on a
    CPU."""

    model: str | None = None
    ground_truth_only: bool = False
    outputs: bool = True
    asr: str = "pocketsphinx"
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
class EvalRun:
    """What `run_evaluation` returns: results.json's content and where it was written."""

    results: dict[str, Any]
    markdown: str
    json_path: Path
    markdown_path: Path


def load_asr(backend: str, model: str | None = None, device: str = "cpu"):
    """A recogniser with .name, .model and .transcribe(list of 16 kHz [S]) -> list[str]."""
    from echovox.recipes.asr import PocketSphinxAsr, TransformersAsr

    from .asr import AsrUnavailableError

    if backend == "pocketsphinx":
        try:
            return PocketSphinxAsr(model)
        except ImportError as err:
            raise AsrUnavailableError(
                "the pocketsphinx backend needs: pip install pocketsphinx"
            ) from err
    if backend == "transformers":
        if not model:
            raise ValueError("--asr transformers needs --asr_model (a Whisper or CTC folder)")
        return TransformersAsr(model, device=device, batch_size=8)
    raise ValueError(f"asr must be one of {ASR_BACKENDS}, got {backend!r}")


@dataclass
class SynthesisReport:
    """outcomes: by item id; warnings: the distinct warnings synthesis raised (e.g. a long
    prompt's transcript shortened in proportion)."""

    outcomes: dict[str, SynthesisOutcome]
    warnings: list[str]


def synthesize_items(
    tts, items: Sequence[EvalItem], out_dir: Path, seed: int, batch_size: int, progress=None
) -> SynthesisReport:
    """Synthesise every item into out_dir/ID.wav through clone_many, batch_size at a time.
    A batch that raises is retried item by item, so one bad item fails alone; its error is
    recorded and the run goes on."""
    from .synthesizer import CloneRequest

    outcomes: dict[str, SynthesisOutcome] = {}
    seen_warnings: list[str] = []

    def attempt(batch: Sequence[EvalItem], batch_seed: int) -> None:
        reqs = [
            CloneRequest(
                text=it.target_text, prompt=str(it.prompt_audio), prompt_text=it.prompt_text
            )
            for it in batch
        ]
        settings = tts.default_settings(seed=batch_seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            audios = tts.clone_many(reqs, settings=settings, batch_size=batch_size)
            wall = time.perf_counter() - t0
        for w in caught:
            if str(w.message) not in seen_warnings:
                seen_warnings.append(str(w.message))
        total = sum(a.duration for a in audios) or 1.0
        for it, a in zip(batch, audios):
            path = a.save(out_dir / f"{_safe(it.id)}.wav")
            outcomes[it.id] = SynthesisOutcome(
                audio=path,
                seconds=a.duration,
                synthesis_seconds=wall * a.duration / total,
                stop_reasons=list(a.stop_reasons),
            )

    for b0 in range(0, len(items), max(1, batch_size)):
        batch = items[b0 : b0 + batch_size]
        try:
            attempt(batch, seed + b0)
        except Exception as err:  # any failure of one item must not end a long run
            if len(batch) == 1:
                outcomes[batch[0].id] = SynthesisOutcome(None, error=_describe(err))
            else:
                for k, it in enumerate(batch):
                    try:
                        attempt([it], seed + b0 + k)
                    except Exception as item_err:
                        outcomes[it.id] = SynthesisOutcome(None, error=_describe(item_err))
        if progress is not None:
            progress(len(batch))
    return SynthesisReport(outcomes, seen_warnings)


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


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
    asr = load_asr(opts.asr, opts.asr_model, device)
    encoder = load_speaker_encoder(opts.speaker_encoder, opts.speaker_model, device)

    tts = None
    outcomes: dict[str, SynthesisOutcome] = {}
    synth_warnings: list[str] = []
    model_dir = None
    if not opts.ground_truth_only:
        from .synthesizer import Synthesizer

        tts = synthesizer or Synthesizer.from_pretrained(
            opts.model, device=opts.device, half_weights=opts.half_weights, bf16=opts.bf16
        )
        model_dir = opts.model or ("(embedded)" if synthesizer is None else "(a given Synthesizer)")
    synthesised = tts is not None and opts.outputs
    if synthesised:
        bar = tqdm(
            total=len(items),
            desc="synthesize",
            unit="item",
            file=sys.stderr,
            disable=not show_progress,
        )
        report = synthesize_items(
            tts, items, out / "audio", opts.seed, opts.batch_size, progress=bar.update
        )
        outcomes, synth_warnings = report.outcomes, report.warnings
        bar.close()

    # ------------------------------------------------------------------ scoring
    embeddings: dict[str, np.ndarray] = {}

    def embed(path: Path, wav: np.ndarray | None = None) -> np.ndarray:
        """Cached per file; `wav`: the file already loaded at LIST_SR, so it is not read twice."""
        key = str(path)
        if key not in embeddings:
            audio = load_audio(path, LIST_SR) if wav is None else wav
            embeddings[key] = encoder.embed(audio, LIST_SR)
        return embeddings[key]

    def transcribe(wav: np.ndarray) -> str:
        return " ".join(asr.transcribe([wav])[0].split())

    def score_speech(
        it: EvalItem,
        path: Path,
        wav: np.ndarray,
        scored_wav: np.ndarray,
        prompt_emb: np.ndarray | None,
    ) -> dict[str, Any]:
        """WER of scored_wav against the item's text, SIM-o of wav (the file at path) to the
        prompt: how an output and a codec resynthesis are both scored."""
        hyp = transcribe(scored_wav)
        part: dict[str, Any] = {"hypothesis": hyp, "sim_o": None}
        part["wer"] = word_errors(it.scored_text, hyp, opts.language)
        try:
            emb = embed(path, wav)
            if prompt_emb is not None:
                part["sim_o"] = float(np.dot(emb, prompt_emb))
        except AudioError as err:  # e.g. a model that output silence
            part["embedding_error"] = str(err)
        return part

    def score_derived(
        kind: str, it: EvalItem, ref: np.ndarray, prompt_emb: np.ndarray | None, make, *args
    ) -> dict[str, Any]:
        """A waveform made from the reference (`make(ref, ASR_SR, *args)`, at the model's
        rate), cut to the reference's length, written to kind/ID.wav and scored like an output
        (WER, SIM-o). Bad input for the model (AudioError, TextError) is recorded, not raised."""
        path = out / kind / f"{_safe(it.id)}.wav"
        try:
            wav = resample(make(ref, ASR_SR, *args), tts.sample_rate, ASR_SR)[: len(ref)]
        except (AudioError, ValueError) as err:  # TextError is a ValueError
            return {"error": f"{type(err).__name__}: {err}"}
        save_audio(path, wav, ASR_SR)
        return {"audio": str(path), **score_speech(it, path, wav, wav, prompt_emb)}

    records: list[dict[str, Any]] = []
    bar = tqdm(
        total=len(items), desc="score", unit="item", file=sys.stderr, disable=not show_progress
    )
    for it in items:
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
            "status": "ok" if synthesised else "not_run",
            "error": None,
            "output": None,
            "ground_truth": None,
            "resynthesis": None,
            "teacher_forced": None,
        }
        prompt_wav = prompt_emb = None
        try:
            prompt_wav = load_audio(it.prompt_audio, ASR_SR)
            prompt_emb = embed(it.prompt_audio, prompt_wav)
        except AudioError as err:  # SIM against this prompt is then undefined, WER is not
            rec["prompt_error"] = str(err)
        ref_seconds = None
        if it.reference_audio is not None:
            gt: dict[str, Any] = {}
            try:
                ref = load_audio(it.reference_audio, ASR_SR)
            except AudioError as err:
                gt["error"] = str(err)
            else:
                ref_seconds = len(ref) / ASR_SR
                gt["seconds"] = round(ref_seconds, 3)
                gt["hypothesis"] = transcribe(ref)
                gt["wer"] = word_errors(it.scored_text, gt["hypothesis"], opts.language)
                gt["sim"] = None
                try:
                    ref_emb = embed(it.reference_audio, ref)
                    if prompt_emb is not None:
                        gt["sim"] = float(np.dot(ref_emb, prompt_emb))
                except AudioError as err:
                    gt["embedding_error"] = str(err)
            rec["ground_truth"] = gt
            if tts is not None and opts.codec_resynthesis and "seconds" in gt:
                # the reference through the codec alone
                rec["resynthesis"] = score_derived(
                    "resynthesis", it, ref, prompt_emb, tts.resynthesize
                )
            # the reference's first codebook completed by the NAR; continuation references
            # start with the prompt itself, so cross-sentence only
            if tts is not None and opts.teacher_forced and "seconds" in gt and it.mode == "cross":
                rec["teacher_forced"] = score_derived(
                    "teacher_forced",
                    it,
                    ref,
                    prompt_emb,
                    tts.complete_first_codebook,
                    it.target_text,
                    str(it.prompt_audio),
                    it.prompt_text,
                )
        o = outcomes.get(it.id)
        if o is not None and o.audio is None:
            rec["status"], rec["error"] = "failed", o.error
        elif o is not None:
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
            res.update(score_speech(it, o.audio, wav, scored_wav, prompt_emb))
            rec["output"] = res
        records.append(rec)
        bar.update(1)
    bar.close()

    # speaker identification against centroids of every prompt and reference in the list
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
            if part is not None and isinstance(part.get("wer"), WordErrors):
                part["wer"] = part["wer"].to_json()

    groups = {"all": records}
    modes = [m for m in MODES if any(r["mode"] == m for r in records)]
    if len(modes) > 1:
        groups.update({m: [r for r in records if r["mode"] == m] for m in modes})
    results = {
        "format": "echovox-eval-v1",
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
        "asr": {"backend": asr.name, "model": asr.model},
        "speaker_encoder": {"backend": encoder.name, "model": encoder.model},
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "warnings": synth_warnings,
        "aggregate": {name: aggregate(recs) for name, recs in groups.items()},
        "items": records,
    }
    results = _finite(results)
    markdown = format_markdown(results)
    json_path = out / "results.json"
    json_path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    md_path = out / "results.md"
    md_path.write_text(markdown)
    return EvalRun(results, markdown, json_path, md_path)


def _sid_json(r: SpeakerIdResult | None) -> dict[str, Any] | None:
    return None if r is None else asdict(r)


def _device(device: str) -> str:
    from .synthesizer import resolve_device

    return resolve_device(device)


def aggregate(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Aggregates of item records: corpus WER, means of SIM and duration ratio, speaker-ID
    accuracy, total RTF; `wer_ratio` and `sim_ratio` over the items scored on both sides."""
    outs = [r for r in records if r.get("output")]
    gts = [r for r in records if r.get("ground_truth") and "wer" in r["ground_truth"]]

    def errs(part: Mapping[str, Any]) -> WordErrors:
        return WordErrors.from_json(part["wer"])

    def mean(values) -> float | None:
        vals = [v for v in values if v is not None]
        return float(np.mean(vals)) if vals else None

    def accuracy(parts) -> float | None:
        ids = [p.get("speaker_id") for p in parts]
        ids = [s for s in ids if s is not None]
        return sum(s["correct"] for s in ids) / len(ids) if ids else None

    synth_s = sum(r["output"]["synthesis_seconds"] for r in outs)
    out_s = sum(r["output"]["seconds"] for r in outs)
    output = {
        "n": len(outs),
        "wer": corpus_wer(errs(r["output"]) for r in outs),
        "sim_o": mean(r["output"]["sim_o"] for r in outs),
        "speaker_id_accuracy": accuracy(r["output"] for r in outs),
        "duration_ratio": mean(r["output"]["duration_ratio"] for r in outs),
        "rtf": synth_s / out_s if out_s > 0 else None,
        "output_seconds": round(out_s, 3),
    }
    truth = {
        "n": len(gts),
        "wer": corpus_wer(errs(r["ground_truth"]) for r in gts),
        "sim": mean(r["ground_truth"].get("sim") for r in gts),
        "speaker_id_accuracy": accuracy(r["ground_truth"] for r in gts),
    }

    def scored(key: str) -> dict[str, Any]:
        """WER, SIM-o and speaker-ID of the items' `key` part (resynthesis, teacher_forced)."""
        parts = [r[key] for r in records if r.get(key) and "wer" in r[key]]
        return {
            "n": len(parts),
            "wer": corpus_wer(errs(p) for p in parts),
            "sim_o": mean(p["sim_o"] for p in parts),
            "speaker_id_accuracy": accuracy(parts),
        }

    gt_ids = {r["id"] for r in gts}
    paired = [r for r in outs if r["id"] in gt_ids]
    wer_o = corpus_wer(errs(r["output"]) for r in paired)
    wer_g = corpus_wer(errs(r["ground_truth"]) for r in paired)
    sim_o = mean(r["output"]["sim_o"] for r in paired)
    sim_g = mean(r["ground_truth"].get("sim") for r in paired)
    return {
        "n_items": len(records),
        "n_failed": sum(r["status"] == "failed" for r in records),
        "output": output,
        "resynthesis": scored("resynthesis"),
        "teacher_forced": scored("teacher_forced"),
        "ground_truth": truth,
        "n_paired": len(paired),
        "wer_ratio": wer_o / wer_g if wer_o is not None and wer_g else None,
        "sim_ratio": sim_o / sim_g if sim_o is not None and sim_g else None,
    }


# The project's targets for a zero-shot model on held-out voices (cross-sentence): WER at most
# 1.5x the ground truth's under the same ASR, SIM-o at least 0.80 (resemblyzer), speaker-ID at
# least 80 %, end-to-end RTF at most 0.3 on a 2-core CPU.
TARGETS = {"wer_ratio": 1.5, "sim_o": 0.80, "speaker_id": 0.80, "rtf": 0.3}


def format_markdown(results: Mapping[str, Any]) -> str:
    """results.md: a header and, per group (all, then each mode when there are two), a table
    metric | output | [true q1 + NAR] | [codec resynthesis] | ground truth | ratio / target,
    the bracketed columns where the run scored them. Left to right each column removes one
    stage's error: the AR's, then the NAR's, then the codec's."""
    asr = results["asr"]["backend"]
    enc = results["speaker_encoder"]["backend"]
    model = results["model_dir"] or "(ground truth only)"
    if results["model_dir"] and results.get("outputs") is False:
        model += " (outputs not synthesised: reference-derived columns only)"
    lines = [
        f"# echovox eval: {results['test_list']}",
        "",
        f"model: {model}; ASR: {asr} "
        f"({results['asr']['model']}); speaker encoder: {enc}; seed {results['seed']}; "
        f"device {results['device']}"
        + ("; AR decoded with float16 weight copies" if results.get("half_weights") else "")
        + ("; NAR and codec decoder in bfloat16" if results.get("bf16") else ""),
    ]
    for name, agg in results["aggregate"].items():
        o, g = agg["output"], agg["ground_truth"]
        # true q1 + NAR: the reference's first codebook completed by the NAR (a perfect AR);
        # codec resynthesis: the references through the codec alone, the ceiling on a clone
        extra = [
            (title, agg[key])
            for key, title in (
                ("teacher_forced", "true q1 + NAR"),
                ("resynthesis", "codec resynthesis"),
            )
            if (agg.get(key) or {"n": 0})["n"] > 0
        ]

        def line(cells: list[str]) -> str:
            return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"

        def row(metric: str, out: str, each, truth: str, target: str, extra=extra) -> str:
            """each: the extra columns' cell from their aggregate (a function), or one text."""
            cells = (each(e) if callable(each) else each for _, e in extra)
            return line([metric, out, *cells, truth, target])

        lines += [
            "",
            f"## {name}: {agg['n_items']} items, {agg['n_failed']} failed",
            "",
            line(["metric", "output", *(t for t, _ in extra), "ground truth", "ratio / target"]),
            line(["---"] * (4 + len(extra))).replace(" ", ""),
            row(
                f"WER % ({asr})",
                _pct(o["wer"]),
                lambda e: _pct(e.get("wer")),
                _pct(g["wer"]),
                f"{_num(agg['wer_ratio'], 2, 'x')} (target <= {TARGETS['wer_ratio']:.1f}x)",
            ),
            row(
                f"SIM-o ({enc})",
                _num(o["sim_o"], 3),
                lambda e: _num(e.get("sim_o"), 3),
                _num(g["sim"], 3),
                f"{_num(agg['sim_ratio'], 2, 'x')} (target SIM-o >= {TARGETS['sim_o']:.2f})",
            ),
            row(
                "speaker-ID accuracy %",
                _pct(o["speaker_id_accuracy"]),
                lambda e: _pct(e.get("speaker_id_accuracy")),
                _pct(g["speaker_id_accuracy"]),
                f"target >= {100 * TARGETS['speaker_id']:.0f}",
            ),
            row(
                "duration ratio (output / reference)",
                _num(o["duration_ratio"], 2),
                "",
                "1.00",
                "target 1.00",
            ),
            row(
                "RTF (synthesis time / output time)",
                _num(o["rtf"], 2),
                "",
                "",
                f"target <= {TARGETS['rtf']:.1f}",
            ),
            row("items scored", str(o["n"]), lambda e: str(e["n"]), str(g["n"]), ""),
            row("items failed", str(agg["n_failed"]), "", "", "0"),
        ]
    failed = [r for r in results["items"] if r["status"] == "failed"]
    if failed:
        lines += ["", "Failed items:", ""]
        lines += [f"- {r['id']} (line {r['line']}): {r['error']}" for r in failed[:20]]
        if len(failed) > 20:
            lines.append(f"- ... and {len(failed) - 20} more (results.json lists all)")
    return "\n".join(lines) + "\n"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _num(v: float | None, digits: int, suffix: str = "") -> str:
    return "-" if v is None else f"{v:.{digits}f}{suffix}"


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
    for pkg in ("echovox", "torch", "transformers", "jiwer", "resemblyzer", "pocketsphinx"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


__all__ = [
    "EvalItem",
    "EvalListError",
    "EvalRun",
    "ListSpec",
    "RunOptions",
    "SpeakerCentroids",
    "SpeakerIdResult",
    "Utterance",
    "WordErrors",
    "aggregate",
    "build_test_list",
    "corpus_wer",
    "format_markdown",
    "librispeech_utterances",
    "load_test_list",
    "normalize_for_wer",
    "run_evaluation",
    "synthetic_utterances",
    "word_errors",
    "write_test_list",
]
