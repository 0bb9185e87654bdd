"""espeak-ng phonemes through phonemizer, with one reused backend per language.

Creating an espeak backend loads the voice and its dictionaries (tens of ms), so a
`Phonemizer` holds one and phonemizes lists in a single call, which is how phonemizer's espeak
wrapper is fast.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from .normalize import canonical_language
from .symbols import PUNCTUATION, STRESS, WORD_BOUNDARY

log = logging.getLogger(__name__)

# phonemizer re-inserts these marks after the phones of the word they followed
_PUNCT_MARKS = ';:,.!?¡¿—…"«»“”()-'
_WORD_SEP = " | "
_PHONE_SEP = " "
_PUNCT_SPLIT = re.compile("([" + re.escape("".join(PUNCTUATION)) + "])")


class EspeakNotFoundError(RuntimeError):
    pass


@lru_cache(maxsize=1)
def espeak_languages() -> dict[str, str]:
    """espeak-ng language code -> name, as the installed espeak-ng reports them."""
    try:
        from phonemizer.backend import EspeakBackend

        return dict(EspeakBackend.supported_languages())
    except RuntimeError as err:
        raise EspeakNotFoundError(
            "espeak-ng is not installed or not found: install it with "
            "`apt-get install espeak-ng` (make install does this)"
        ) from err


def _quiet_logger() -> logging.Logger:
    logger = logging.getLogger("echovox.phonemizer.backend")
    logger.setLevel(logging.ERROR)
    return logger


class Phonemizer:
    """Text -> phoneme tokens for one espeak-ng language.

    Tokens are espeak's phones (e.g. "aɪ", "tʃ"), stress marks "ˈ"/"ˌ" as tokens of their own
    before the phone they stress, "_" between words, and punctuation as tokens (prosody cues).
    Input should already be normalised (see `normalize`).
    """

    def __init__(self, language: str = "en-us"):
        langs = espeak_languages()
        lang = canonical_language(language)
        if lang not in langs:
            raise ValueError(
                f"espeak-ng does not support language {language!r}; supported: "
                + ", ".join(sorted(langs))
            )
        from phonemizer.backend import EspeakBackend
        from phonemizer.separator import Separator

        self.language = lang
        self._separator = Separator(phone=_PHONE_SEP, word=_WORD_SEP, syllable=None)
        self._backend = EspeakBackend(
            lang,
            preserve_punctuation=True,
            punctuation_marks=_PUNCT_MARKS,
            with_stress=True,
            # a word espeak reads in another language would come back wrapped in flags
            language_switch="remove-flags",
            words_mismatch="ignore",
            logger=_quiet_logger(),
        )

    def phonemize_strings(self, texts: list[str]) -> list[str]:
        """Raw espeak output: phones separated by spaces, words by " | ", no trailing space."""
        if isinstance(texts, str):
            raise TypeError("phonemize takes a list of strings; wrap a single text in a list")
        # phonemizer treats newlines as separate utterances; one text must stay one line
        lines = [" ".join(t.split()) for t in texts]
        # phonemizer drops empty lines from its output, which would misalign the batch
        keep = [i for i, line in enumerate(lines) if line]
        out = [""] * len(lines)
        if keep:
            done = self._backend.phonemize(
                [lines[i] for i in keep], separator=self._separator, strip=True, njobs=1
            )
            if len(done) != len(keep):
                raise RuntimeError(f"espeak returned {len(done)} lines for {len(keep)} inputs")
            for i, o in zip(keep, done):
                out[i] = o.strip()
        return out

    def phonemize_words(self, texts: list[str]) -> list[list[list[str]]]:
        """Per text, per word, the word's tokens (stress and trailing punctuation included)."""
        return [_parse(s) for s in self.phonemize_strings(texts)]

    def phonemize(self, texts: list[str]) -> list[list[str]]:
        """Per text, one flat token list with "_" between words."""
        result = []
        for words in self.phonemize_words(texts):
            flat: list[str] = []
            for i, word in enumerate(words):
                if i:
                    flat.append(WORD_BOUNDARY)
                flat.extend(word)
            result.append(flat)
        return result


def _parse(espeak_out: str) -> list[list[str]]:
    words = []
    for chunk in espeak_out.split("|"):
        tokens: list[str] = []
        for phone in chunk.split():
            # punctuation trails the phone ("d,"), stress marks lead it ("ˈoʊ")
            for piece in _PUNCT_SPLIT.split(phone):
                while piece and piece[0] in STRESS:
                    tokens.append(piece[0])
                    piece = piece[1:]
                if piece:
                    tokens.append(piece)
        if tokens:
            words.append(tokens)
    return words
