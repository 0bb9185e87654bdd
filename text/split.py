"""Sentence splitting for long text, so synthesis can go chunk by chunk.

Run it on normalised text: normalisation has already expanded the abbreviations ("Dr.",
"etc.") whose periods would otherwise end a sentence too early.
"""

from __future__ import annotations

import re

# a sentence ends at . ! ? (plus closing quotes/brackets) before whitespace; an ellipsis only
# ends one when a capital follows, since "and then... nothing" is one sentence
_SENTENCE_END = re.compile(r"(?:(?<!\.\.)[.!?]|(?:\.\.\.|…)(?=[\"')\]]*\s+[A-Z]))[\"')\]]*(?=\s)")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")


def _split_long(sentence: str, max_chars: int) -> list[str]:
    """Split at clause punctuation, then at spaces, then anywhere, to pieces <= max_chars."""
    if len(sentence) <= max_chars:
        return [sentence]
    pieces: list[str] = []
    for clause in _CLAUSE_END.split(sentence):
        if len(clause) <= max_chars:
            pieces.append(clause)
            continue
        current = ""
        for word in clause.split(" "):
            while len(word) > max_chars:  # a "word" longer than a chunk: cut it
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(word[:max_chars])
                word = word[max_chars:]
            if current and len(current) + 1 + len(word) > max_chars:
                pieces.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        if current:
            pieces.append(current)
    return _merge(pieces, max_chars, sep=" ")


def _merge(pieces: list[str], max_chars: int, sep: str = " ") -> list[str]:
    """Greedily join neighbours while they fit, so chunks are not needlessly tiny."""
    out: list[str] = []
    for piece in pieces:
        if out and len(out[-1]) + len(sep) + len(piece) <= max_chars:
            out[-1] = out[-1] + sep + piece
        else:
            out.append(piece)
    return out


def split_sentences(text: str, max_chars: int = 250, min_chars: int = 0) -> list[str]:
    """Split text into sentences of at most `max_chars` characters.

    Args:
        text: normalised text.
        max_chars: longer sentences are split at clause punctuation, then between words.
        min_chars: sentences shorter than this are joined to their neighbour (0: never join).

    Returns:
        Non-empty chunks, in order; joining them with spaces gives back the words of `text`.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    text = " ".join(text.split())
    if not text:
        return []
    chunks: list[str] = []
    sentences, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        sentences.append(text[start : m.end()])
        start = m.end()
    sentences.append(text[start:])
    for sentence in sentences:
        sentence = sentence.strip()
        if sentence:
            chunks.extend(_split_long(sentence, max_chars))
    if min_chars > 0:
        merged: list[str] = []
        for chunk in chunks:
            short = merged and (len(merged[-1]) < min_chars or len(chunk) < min_chars)
            if short and len(merged[-1]) + 1 + len(chunk) <= max_chars:
                merged[-1] = f"{merged[-1]} {chunk}"
                continue
            merged.append(chunk)
        chunks = merged
    return chunks
