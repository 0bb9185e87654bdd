"""Metrics of `echovox eval`, each computed the same way on outputs and on the ground truth.

- WER: ASR of the audio against the text it should say, both sides normalised alike
  (echovox.text.normalize for numbers and abbreviations, lower case, punctuation stripped).
  Corpus-level: all errors / all words.
- Speaker-ID accuracy: an embedding is closer to its own speaker's centroid (mean of the
  speaker's prompt and reference embeddings in the list) than to every other centroid; a tie
  counts as wrong. A reference recording is left out of its own centroid.

SIM-o (the cosine of speaker embeddings) comes from echovox.eval.speaker.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

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
