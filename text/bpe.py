"""Optional sentencepiece BPE over phoneme strings.

sentencepiece works on characters, and our phones are multi-character ("aɪ", "tʃ"), so each
symbol-table id is mapped to one private-use character before training; the word boundary "_"
becomes a space so that merges never cross words. Decoding maps back exactly.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

from .symbols import WORD_BOUNDARY, SymbolTable

_BASE = 0xE000  # Unicode private-use area: never occurs in real text
_SPACE_ID = -1


class PhonemeBPE:
    def __init__(self, model_file: str | Path, table: SymbolTable | None = None):
        import sentencepiece as spm

        model_file = Path(model_file)
        if not model_file.is_file():
            raise FileNotFoundError(f"BPE model not found: {model_file}")
        self.table = table or SymbolTable.default()
        self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        self.model_file = model_file

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def _to_chars(self, tokens: Iterable[str]) -> str:
        chars = []
        for tok in tokens:
            if tok == WORD_BOUNDARY:
                chars.append(" ")
            else:
                chars.extend(chr(_BASE + i) for i in self.table.encode([tok]))
        return "".join(chars)

    def _from_chars(self, s: str) -> list[str]:
        return [WORD_BOUNDARY if c == " " else self.table.decode([ord(c) - _BASE])[0] for c in s]

    def encode(self, tokens: list[str]) -> list[int]:
        """Phoneme tokens -> BPE piece ids."""
        return list(self.sp.encode(self._to_chars(tokens)))

    def decode(self, ids: list[int]) -> list[str]:
        """BPE piece ids -> phoneme tokens."""
        return self._from_chars(self.sp.decode(list(ids)))


def train_bpe(
    corpus: Iterable[list[str]],
    model_prefix: str | Path,
    vocab_size: int = 512,
    table: SymbolTable | None = None,
) -> PhonemeBPE:
    """Train a BPE model on phoneme token lists; writes `<model_prefix>.model` and `.vocab`.

    `vocab_size` counts the pieces, including the base symbols that occur in the corpus.
    """
    import sentencepiece as spm

    table = table or SymbolTable.default()
    helper = PhonemeBPE.__new__(PhonemeBPE)
    helper.table = table
    lines = [helper._to_chars(tokens) for tokens in corpus]
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise ValueError("the BPE corpus is empty")
    model_prefix = Path(model_prefix)
    model_prefix.parent.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        character_coverage=1.0,
        # exact round trips: no NFKC, no whitespace folding, no dummy prefix
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=False,
        split_by_unicode_script=False,
        hard_vocab_limit=False,
        bos_id=-1,
        eos_id=-1,
        unk_id=0,
        minloglevel=2,
    )
    path = model_prefix.with_suffix(".model")
    path.write_bytes(model.getvalue())
    return PhonemeBPE(path, table)
