"""`echovox phonemize` (and the BPE helper)."""
from __future__ import annotations


def phonemize(text: str, language: str = "en-us") -> None:
    """Print the normalised words and phonemes of TEXT.

    Args:
        text: the text to read.
        language: an espeak-ng language code, e.g. en-us.
    """
    print(text, language)


COMMANDS = {"phonemize": phonemize}
