"""A stable phoneme vocabulary, saved as JSON with every model.

Ids must never move between releases, or a shipped model reads the wrong phonemes: the default
table is a fixed list, new symbols are only ever appended, and loading a model compares its saved
table with the one in use and fails loudly on any difference.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
WORD_BOUNDARY = "_"
STRESS = ("ˈ", "ˌ")
PUNCTUATION = tuple(".,;:!?¡¿—…\"«»“”-()'")

# espeak-ng's English phones (en-us and en-gb), as its phone separator splits them, counted
# over a 100k-word dictionary; most frequent first.
ENGLISH_PHONES = tuple(
    "ɪ s n t ɹ k l d ə z m p ɛ æ ɚ b eɪ ŋ ᵻ i f ɑː oʊ ʌ aɪ iː ɡ ɾ v uː ʃ əl w dʒ h ɐ ɜː j "
    "tʃ ɑːɹ aʊ ɔː θ iə ʊ oːɹ ɔːɹ ɔ ɔɪ oː ʊɹ ɛɹ ð ɪɹ ʒ aɪɚ aɪə ʔ n̩ r x nʲ o iːː e ɔ̃ ɬ ɑ̃ "
    "a ɒ əʊ eə ʊə".split()
)
# Single IPA characters, so that phones of other languages that are not in the list above
# decompose into known characters instead of becoming <unk>.
_IPA_CHARS = (
    "abcdefghijklmnopqrstuvwxyz"
    + "".join(chr(c) for c in range(0x0250, 0x02B0))  # IPA Extensions
    + "βθχçðøœæʁɣɸʋ"
    + "ːˑʰʲʷˠˤ̩̯̪̥̬̃ᵻᵿ"
)
DEFAULT_SYMBOLS: tuple[str, ...] = tuple(
    dict.fromkeys((*SPECIALS, WORD_BOUNDARY, *STRESS, *PUNCTUATION, *ENGLISH_PHONES, *_IPA_CHARS))
)


class SymbolTableMismatchError(ValueError):
    pass


class SymbolTable:
    """ids <-> symbols with pad/bos/eos/unk at fixed ids 0-3."""

    def __init__(self, symbols: Sequence[str]):
        symbols = tuple(symbols)
        if symbols[: len(SPECIALS)] != SPECIALS:
            raise ValueError(f"a symbol table must start with {SPECIALS}, got {symbols[:4]}")
        if len(set(symbols)) != len(symbols):
            dupes = sorted({s for s in symbols if symbols.count(s) > 1})
            raise ValueError(f"duplicate symbols in table: {dupes}")
        self.symbols = symbols
        self._ids = {s: i for i, s in enumerate(symbols)}

    @classmethod
    def default(cls) -> SymbolTable:
        return cls(DEFAULT_SYMBOLS)

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SymbolTable) and self.symbols == other.symbols

    def __hash__(self) -> int:
        return hash(self.symbols)

    def __repr__(self) -> str:
        return f"SymbolTable({len(self)} symbols)"

    def id(self, symbol: str) -> int:
        return self._ids.get(symbol, self.unk_id)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Phoneme tokens -> ids. A phone missing from the table is spelt with its characters
        when all of them are known (e.g. a diphthong of another language), else <unk>."""
        out: list[int] = []
        for tok in tokens:
            i = self._ids.get(tok)
            if i is not None:
                out.append(i)
            elif len(tok) > 1 and all(c in self._ids for c in tok):
                out.extend(self._ids[c] for c in tok)
            else:
                out.append(self.unk_id)
        return out

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.symbols[i] if 0 <= i < len(self.symbols) else UNK for i in ids]

    def extended(self, symbols: Iterable[str]) -> SymbolTable:
        """A new table with unseen symbols appended (existing ids never move)."""
        new = [s for s in dict.fromkeys(symbols) if s not in self._ids]
        return SymbolTable(self.symbols + tuple(new))

    def to_dict(self) -> dict:
        return {"format": "echovox-symbols-v1", "symbols": list(self.symbols)}

    def save(self, path: str | Path) -> Path:
        from echovox.checkpoint import write_json

        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> SymbolTable:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"symbol table not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(data["symbols"])
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{path} is not an echovox symbol table: {err}") from err

    def check_matches(self, other: SymbolTable, what: str = "model") -> None:
        """Raise when `other` (e.g. the table saved with a model) differs from this one."""
        if self == other:
            return
        first = next(
            (
                i
                for i, (a, b) in enumerate(zip(self.symbols, other.symbols, strict=False))
                if a != b
            ),
            min(len(self), len(other)),
        )
        raise SymbolTableMismatchError(
            f"the {what}'s symbol table does not match the one in use: {len(other)} vs "
            f"{len(self)} symbols, first difference at id {first}. Load the table saved with "
            f"the {what} (SymbolTable.load) instead of building a new one."
        )
