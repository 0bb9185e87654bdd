"""Text subcommands: `echovox phonemize`, `echovox bpe train|encode`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal


def phonemize(text: str, language: str = "en-us", format: Literal["text", "json"] = "text"):
    """Print the normalised words and phonemes of TEXT, sentence by sentence.

    Args:
        text: the text to read, e.g. "Dr. Smith paid $3.50 on Jan. 5th."
        language: an espeak-ng language code (en-us, en-gb, de, fr-fr, ...).
        format: "text" for people, "json" for programs.
    """
    from .frontend import TextFrontend

    frontend = TextFrontend(language)  # a bad language or text raises; main() reports it
    chunks = frontend.chunks(text)
    rows = []
    for chunk in chunks:
        words = chunk.normalized.split()
        per_word = frontend.phonemizer.phonemize_words([chunk.normalized])[0]
        rows.append(
            {
                "normalized": chunk.normalized,
                "phonemes": " ".join(chunk.tokens),
                "ids": chunk.ids,
                # espeak can merge or split words ("don't", numbers): align only when it did not
                "words": [[w, " ".join(p)] for w, p in zip(words, per_word)]
                if len(words) == len(per_word)
                else None,
            }
        )
    if format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        print(f"normalized: {row['normalized']}")
        print(f"phonemes:   {row['phonemes']}")
        if row["words"]:
            width = max(len(w) for w, _ in row["words"])
            for word, phones in row["words"]:
                print(f"  {word:<{width}}  {phones}")
        print()


def bpe_train(
    corpus: Path,
    output: Path,
    vocab_size: int = 512,
    from_text: bool = False,
    language: str = "en-us",
):
    """Train a sentencepiece BPE model over phoneme strings.

    Args:
        corpus: a text file, one utterance per line: space-separated phoneme tokens ("_" between
            words, as `echovox phonemize` prints them), or plain text with --from_text.
        output: the model prefix; writes OUTPUT.model.
        vocab_size: number of BPE pieces.
        from_text: phonemise plain-text lines first.
        language: espeak-ng language for --from_text.
    """
    from .bpe import train_bpe

    if not corpus.is_file():
        raise FileNotFoundError(f"corpus not found: {corpus}")
    lines = [line.strip() for line in corpus.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    if from_text:
        from .frontend import TextFrontend

        frontend = TextFrontend(language)
        tokens = [frontend.phonemes(line) for line in lines]
    else:
        tokens = [line.split() for line in lines]
    model = train_bpe(tokens, output, vocab_size=vocab_size)
    print(f"wrote {model.model_file} ({model.vocab_size} pieces from {len(tokens)} lines)")


def bpe_encode(model: Path, phonemes: str):
    """Print the BPE piece ids of a space-separated phoneme string.

    Args:
        model: a .model file written by `echovox bpe train`.
        phonemes: space-separated phoneme tokens.
    """
    from .bpe import PhonemeBPE

    print(" ".join(map(str, PhonemeBPE(model).encode(phonemes.split()))))


COMMANDS = {"phonemize": phonemize, "bpe": {"train": bpe_train, "encode": bpe_encode}}
