"""Metrics of `echovox eval`, each computed the same way on outputs and on the ground truth.

- WER and CER: ASR of the audio against the text it should say, both sides normalised alike by
  normalize_for_wer (English: Whisper's EnglishTextNormalizer, the normalisation Whisper-based
  TTS papers report WER under). WER counts word edits over reference words; CER character
  edits over the reference's characters, spaces included: the normalised text has one space
  between words, so a word split or merged costs one character, as in jiwer's CER.
  Corpus-level: all errors / all reference words (characters), with corpus_stderr's standard
  error over items.
- Speaker-ID accuracy: an embedding is closer to its own speaker's centroid (mean of the
  speaker's prompt and reference embeddings in the list) than to every other centroid; a tie
  counts as wrong. A reference recording is left out of its own centroid.

SIM-o (the cosine of speaker embeddings) comes from echovox.eval.speaker.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

_NOT_WORD = re.compile(r"[^\w\s']|_")
_EDGE_QUOTE = re.compile(r"(?<!\w)'|'(?!\w)")


def is_english(language: str) -> bool:
    """en, en-us, en-gb, en_GB ...: the languages Whisper's English normaliser is for."""
    return re.split(r"[-_]", language.lower())[0] == "en"


def normalizer_name(language: str) -> str:
    """What normalize_for_wer does for `language`, recorded with every run: WERs under two
    normalisers cannot be compared."""
    if is_english(language):
        return "whisper EnglishTextNormalizer (transformers), no spelling map"
    return "echovox.text.normalize + punctuation stripped"


@functools.lru_cache(maxsize=1)
def _whisper_english():
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    # Whisper's British-to-American spelling map ships in a model repository's normalizer.json,
    # which cannot be downloaded here: without it "colour" and "color" stay apart, on both
    # sides alike.
    return EnglishTextNormalizer({})


def normalize_for_wer(text: str, language: str = "en-us") -> str:
    """The words of `text` as they are scored, the same for a reference and a transcript.

    English: Whisper's EnglishTextNormalizer: lower case, punctuation and fillers ("uh", "hmm")
    removed, contractions expanded ("don't" -> "do not"), numbers as digits ("twenty one" and
    "21" -> "21"), titles spelt out ("Mr." -> "mister"). Other languages (Whisper has no
    normaliser for them but the basic one, which leaves numbers alone): echovox.text.normalize
    spells numbers and abbreviations out, then punctuation goes; apostrophes inside words
    stay."""
    if is_english(language):
        words = _whisper_english()(text).split()
        # it leaves the "." of an ellipsis standing alone: a token with no letter or digit
        # is no word
        return " ".join(w for w in words if any(c.isalnum() for c in w))
    from echovox.text import normalize

    # nothing speakable after normalisation: score whatever words (if any) are there
    with contextlib.suppress(ValueError):
        text = normalize(text, language)
    text = _EDGE_QUOTE.sub(" ", _NOT_WORD.sub(" ", text.lower()))
    return " ".join(text.split())


@dataclass
class EditErrors:
    """Edit operations of a hypothesis against a reference of n_ref units (words, characters).
    Subclasses name the rate in JSON ("wer", "cer")."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    n_ref: int = 0
    rate_key: ClassVar[str] = "rate"

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float | None:
        return self.errors / self.n_ref if self.n_ref else None

    def __add__(self, other: EditErrors) -> EditErrors:
        return type(self)(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.n_ref + other.n_ref,
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), self.rate_key: self.rate}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> EditErrors:
        """The counts of a to_json() dict (its derived rate is recomputed, not read)."""
        return cls(d["substitutions"], d["deletions"], d["insertions"], d["n_ref"])


class WordErrors(EditErrors):
    """Word edits; n_ref reference words."""

    rate_key = "wer"

    @property
    def wer(self) -> float | None:
        return self.rate


class CharErrors(EditErrors):
    """Character edits over normalised text, spaces between words included; n_ref reference
    characters."""

    rate_key = "cer"

    @property
    def cer(self) -> float | None:
        return self.rate


def _normalized_pair(reference: str, hypothesis: str, language: str) -> tuple[str, str]:
    ref = normalize_for_wer(reference, language)
    hyp = normalize_for_wer(hypothesis, language) if hypothesis else ""
    if not ref:
        raise ValueError(f"reference {reference!r} has no words to score against")
    return ref, hyp


def _jiwer():
    try:
        import jiwer
    except ImportError as err:
        raise ImportError("WER needs jiwer: pip install 'echovox[eval]'") from err
    return jiwer


def _counts(out) -> dict[str, int]:
    """A jiwer alignment's edit counts."""
    return {
        "substitutions": out.substitutions,
        "deletions": out.deletions,
        "insertions": out.insertions,
        "n_ref": out.hits + out.substitutions + out.deletions,
    }


def word_errors(reference: str, hypothesis: str, language: str = "en-us") -> WordErrors:
    """WordErrors of `hypothesis` against `reference`, both normalised by normalize_for_wer.
    An empty hypothesis is all deletions; an empty reference is a ValueError (no WER exists)."""
    ref, hyp = _normalized_pair(reference, hypothesis, language)
    if not hyp:
        return WordErrors(deletions=len(ref.split()), n_ref=len(ref.split()))
    return WordErrors(**_counts(_jiwer().process_words(ref, hyp)))


def char_errors(reference: str, hypothesis: str, language: str = "en-us") -> CharErrors:
    """CharErrors of `hypothesis` against `reference`, both normalised by normalize_for_wer,
    single spaces between words counted as characters (see the module's docstring)."""
    ref, hyp = _normalized_pair(reference, hypothesis, language)
    if not hyp:
        return CharErrors(deletions=len(ref), n_ref=len(ref))
    return CharErrors(**_counts(_jiwer().process_characters(ref, hyp)))


def corpus_rate(errors: Iterable[EditErrors]) -> float | None:
    """All errors over all reference units (long utterances weigh more, as in the papers)."""
    return sum(errors, EditErrors()).rate


def corpus_stderr(errors: Iterable[EditErrors]) -> float | None:
    """Standard error of corpus_rate over items, the items being the sample: the corpus rate is
    a ratio estimator R = sum e_i / sum n_i, whose standard error (delta method) is
    sqrt(sum (e_i - R n_i)^2 / (k (k - 1))) / mean(n_i) over the k items with a reference.
    With equal lengths it is the per-item rates' standard error of the mean. None under two
    items. Closed form rather than a bootstrap: exact to compute, nothing random to seed."""
    errs = [e for e in errors if e.n_ref > 0]
    k = len(errs)
    if k < 2:
        return None
    e = np.array([x.errors for x in errs], dtype=np.float64)
    n = np.array([x.n_ref for x in errs], dtype=np.float64)
    r = e.sum() / n.sum()
    return float(math.sqrt(((e - r * n) ** 2).sum() / (k * (k - 1))) / n.mean())


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
