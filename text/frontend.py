"""Text front end: normalise -> split into sentences -> phonemise -> ids."""

from __future__ import annotations

from dataclasses import dataclass

from .normalize import check_language, check_text, normalize
from .phonemize import Phonemizer
from .split import split_sentences
from .symbols import SymbolTable


@dataclass
class TextChunk:
    """One sentence-sized piece of the input, ready for the model."""

    normalized: str
    tokens: list[str]
    ids: list[int]


class TextFrontend:
    """Holds one espeak backend and one symbol table for a language.

    Args:
        language: an espeak-ng language code supported by `normalize`.
        symbols: the model's symbol table (default: the built-in stable table).
    """

    def __init__(self, language: str = "en-us", symbols: SymbolTable | None = None):
        self.language = check_language(language)
        self.phonemizer = Phonemizer(self.language)
        self.symbols = symbols or SymbolTable.default()

    def chunks(self, text: str, max_chars: int = 250, pack: bool = False) -> list[TextChunk]:
        """Normalise, split into sentences of <= max_chars, phonemise them in one batch.
        pack: join consecutive sentences into chunks of up to max_chars, their phonemes
        separated by a word boundary exactly as `phonemes()` joins them (and as the recipe
        phonemises multi-sentence training utterances)."""
        check_text(text)
        sentences = split_sentences(normalize(text, self.language), max_chars=max_chars)
        tokens = self.phonemizer.phonemize(sentences)
        out = [
            TextChunk(normalized=s, tokens=t, ids=self.symbols.encode(t))
            for s, t in zip(sentences, tokens)
            if t
        ]
        if not out:
            raise ValueError(f"nothing speakable in {text[:60]!r}")
        return self._pack(out, max_chars) if pack else out

    def _pack(self, chunks: list[TextChunk], max_chars: int) -> list[TextChunk]:
        packed: list[TextChunk] = []
        for c in chunks:
            if packed and len(packed[-1].normalized) + 1 + len(c.normalized) <= max_chars:
                last = packed[-1]
                packed[-1] = TextChunk(
                    normalized=f"{last.normalized} {c.normalized}",
                    tokens=[*last.tokens, "_", *c.tokens],
                    ids=[*last.ids, *self.symbols.encode(["_"]), *c.ids],
                )
            else:
                packed.append(c)
        return packed

    def phonemes(self, text: str) -> list[str]:
        """All tokens of `text`, sentences joined by a word boundary."""
        tokens: list[str] = []
        for chunk in self.chunks(text):
            if tokens:
                tokens.append("_")
            tokens.extend(chunk.tokens)
        return tokens

    def ids(self, text: str) -> list[int]:
        return self.symbols.encode(self.phonemes(text))
