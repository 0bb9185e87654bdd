"""Test lists for `echovox eval`: reading, writing and building them.

A test list is JSONL, one item per line,

    {"id": "cross_1110_...", "speaker": "1110", "mode": "cross" | "continuation",
     "prompt_audio": "prompts/x_3s.wav", "prompt_text": "...", "target_text": "...",
     "reference_audio": "audio/y.wav" | null}

relative paths resolve against the JSONL's folder; other keys are kept but not needed.

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

import json
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echovox.audio import AudioError, load_audio, save_audio

MODES = ("cross", "continuation")
LIST_SR = 16_000  # test-list audio is written at 16 kHz, what both ASR and embedders take
LIST_NAME = "test.jsonl"
FIELDS = ("id", "speaker", "prompt_audio", "prompt_text", "target_text", "reference_audio", "mode")


class EvalListError(ValueError):
    """A test list that cannot be used: unreadable, malformed, or naming missing audio."""


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
    from echovox.dataview import open_dataset

    try:
        ds = open_dataset(manifest)
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


class _ListAudio:
    """Cuts references and prompts out of their recordings into a list's folder: audio/ for
    references (written once, both modes share a target's), prompts/ for prompts conditioned
    as the Synthesizer conditions them."""

    def __init__(self, out: Path, spec: ListSpec) -> None:
        from echovox.model_dir import PromptConfig

        self.out = out
        self.prompt_cfg = PromptConfig(
            seconds=spec.prompt_seconds, min_seconds=min(1.0, spec.prompt_seconds)
        )
        self._cache: dict[str, np.ndarray] = {}
        self._written: set[str] = set()

    def read(self, u: Utterance) -> np.ndarray:
        if u.id not in self._cache:
            self._cache.clear()  # one at a time: chapters are long, and each is read in order
            self._cache[u.id] = load_audio(u.path, LIST_SR, start=u.start, end=u.end)
        return self._cache[u.id]

    def reference(self, u: Utterance) -> Path:
        p = self.out / "audio" / f"{safe_name(u.id)}.wav"
        if u.id not in self._written:
            save_audio(p, self.read(u), LIST_SR)
            self._written.add(u.id)
        return p

    def prompt(self, u: Utterance, suffix: str):
        """(path, PreparedPrompt) of u's prompt, cut to the spec's length at a quiet point."""
        from echovox.app.prompt import condition_prompt

        prepared = condition_prompt(self.read(u), LIST_SR, self.prompt_cfg)
        p = self.out / "prompts" / f"{safe_name(u.id)}_{suffix}.wav"
        save_audio(p, prepared.waveform, LIST_SR)
        return p, prepared


def _cross_item(audio: _ListAudio, utts, target: Utterance, spec: ListSpec):
    """(item, why it was skipped): the target with another utterance of its speaker as the
    prompt, that utterance's whole transcript as prompt_text."""
    prompt_u = _pick_prompt(utts, target, spec)
    if prompt_u is None:
        return None, "no other utterance of the speaker"
    p_path, _ = audio.prompt(prompt_u, f"{spec.prompt_seconds:g}s")
    extra = {
        "prompt_utterance": prompt_u.id,
        "prompt_utterance_seconds": round(prompt_u.duration, 3),
    }
    return _item("cross", target, p_path, prompt_u.text, target.text, audio, extra), None


def _continuation_item(audio: _ListAudio, utts, target: Utterance, spec: ListSpec):
    """(item, why it was skipped): the target's own first seconds as the prompt, its
    transcript split in proportion to the time kept."""
    from echovox.app.prompt import shorten_transcript

    p_path, prepared = audio.prompt(target, f"first{spec.prompt_seconds:g}s")
    prompt_text = shorten_transcript(target.text, prepared.kept_seconds / prepared.source_seconds)
    target_text = " ".join(target.text.split()[len(prompt_text.split()) :])
    if not target_text:
        return None, "nothing left to say after the prompt"
    extra = {"prompt_word_split": "proportional to time"}
    return _item("continuation", target, p_path, prompt_text, target_text, audio, extra), None


def _item(mode, target, prompt_path, prompt_text, target_text, audio: _ListAudio, extra):
    return EvalItem(
        id=f"{mode}_{target.id}",
        speaker=target.speaker,
        prompt_audio=prompt_path,
        prompt_text=prompt_text,
        target_text=target_text,
        reference_audio=audio.reference(target),
        mode=mode,
        extra=extra,
    )


_MAKE_ITEM = {"cross": _cross_item, "continuation": _continuation_item}


def _draw_targets(speaker: str, utts, spec: ListSpec, notes: list[str]) -> list[Utterance]:
    """per_speaker utterances of min..max seconds and two words or more, seeded per speaker."""
    targets = [
        u
        for u in utts
        if spec.min_seconds <= u.duration <= spec.max_seconds and len(u.text.split()) >= 2
    ]
    rng = random.Random(f"{spec.seed}:targets:{speaker}")
    if spec.per_speaker and len(targets) > spec.per_speaker:
        return sorted(rng.sample(targets, spec.per_speaker), key=lambda u: u.id)
    if spec.per_speaker and len(targets) < spec.per_speaker:
        notes.append(
            f"speaker {speaker}: only {len(targets)} utterances of {spec.min_seconds:g}-"
            f"{spec.max_seconds:g} s"
        )
    return targets


def build_test_list(
    utterances: Sequence[Utterance], output: str | Path, spec: ListSpec, source: str = ""
) -> BuiltList:
    """Draw targets and prompts per speaker, cut them into 16 kHz wav files under `output`
    (audio/ for references, prompts/ for prompts) and write output/test.jsonl and
    output/list_info.json."""
    out = Path(output)
    audio = _ListAudio(out, spec)
    notes: list[str] = []
    by_speaker: dict[str, list[Utterance]] = {}
    for u in sorted(utterances, key=lambda u: (u.speaker, u.id)):
        by_speaker.setdefault(u.speaker, []).append(u)
    items: list[EvalItem] = []
    skipped: dict[str, int] = {}
    for speaker, utts in by_speaker.items():
        for t in _draw_targets(speaker, utts, spec, notes):
            for mode in spec.modes:
                try:
                    item, reason = _MAKE_ITEM[mode](audio, utts, t, spec)
                except AudioError as err:
                    item, reason = None, f"unusable audio ({err})"
                if item is None:
                    skipped[reason] = skipped.get(reason, 0) + 1
                else:
                    items.append(item)
    if not items:
        raise EvalListError(
            f"no test items: no speaker has an utterance of {spec.min_seconds:g}-"
            f"{spec.max_seconds:g} s (with another utterance for a cross prompt)"
        )
    items.sort(key=lambda it: (MODES.index(it.mode), it.speaker, it.id))
    long_prompts = sum(
        it.extra.get("prompt_utterance_seconds", 0) > spec.max_prompt_seconds for it in items
    )
    if long_prompts:
        notes.append(
            f"{long_prompts} cross prompts come from utterances over {spec.max_prompt_seconds:g} s"
            " (no shorter one): their transcript says more than the cut prompt audio"
        )
    notes += [f"skipped {n} x {reason}" for reason, n in sorted(skipped.items())]
    return _write_list(out, items, spec, source, notes)


def _write_list(out: Path, items, spec: ListSpec, source: str, notes: list[str]) -> BuiltList:
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


def safe_name(name: str) -> str:
    """An id as a file name: anything but word characters, dots and dashes becomes _."""
    return re.sub(r"[^\w.-]", "_", name)
