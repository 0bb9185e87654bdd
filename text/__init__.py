"""Text front end: normalisation, espeak-ng phonemes, the symbol table, sentence splitting, BPE."""

from .frontend import TextChunk, TextFrontend
from .normalize import SUPPORTED_LANGUAGES, UnsupportedLanguageError, normalize
from .phonemize import Phonemizer, espeak_languages
from .split import split_sentences
from .symbols import SymbolTable, SymbolTableMismatchError

__all__ = [
    "SUPPORTED_LANGUAGES",
    "Phonemizer",
    "SymbolTable",
    "SymbolTableMismatchError",
    "TextChunk",
    "TextFrontend",
    "UnsupportedLanguageError",
    "espeak_languages",
    "normalize",
    "split_sentences",
]
