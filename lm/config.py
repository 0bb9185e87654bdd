"""Configs of the codec language models: one dataclass per model, with named presets.

Audio token ids for the AR model: 0..K-1 are codec codes, K is EOS, K+1 is BOS, K+2 is padding.
The special ids live above the codec range so that a code can never be mistaken for one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


class ConfigError(ValueError):
    """A config with inconsistent fields, or an unknown preset name."""


@dataclass
class _TransformerConfig:
    n_phonemes: int = 256  # text vocabulary size (len(SymbolTable))
    phoneme_pad_id: int = 0  # SymbolTable.pad_id
    n_codebooks: int = 8  # Q of the codec; checked against the codec at load time
    codebook_size: int = 1024  # K of the codec
    d_model: int = 384
    n_layers: int = 6
    n_heads: int = 6
    d_ffn: int = 1536
    dropout: float = 0.1
    max_phonemes: int = 1024  # rows of the text position table
    max_frames: int = 4096  # rows of the audio position table (prompt + generated)
    name: str = "custom"

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ConfigError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise ConfigError("the head dimension must be even")
        if not 0 <= self.phoneme_pad_id < self.n_phonemes:
            raise ConfigError(f"phoneme_pad_id {self.phoneme_pad_id} not in [0, {self.n_phonemes})")
        for f in ("n_codebooks", "codebook_size", "n_layers", "max_phonemes", "max_frames"):
            if getattr(self, f) < 1:
                raise ConfigError(f"{f} must be positive, got {getattr(self, f)}")

    @classmethod
    def from_name(cls, name: str, **overrides: Any):
        """A named preset (`tiny`, `small`, `valle`), with fields overridden by keyword."""
        if name not in cls.PRESETS:
            raise ConfigError(f"unknown {cls.__name__} preset {name!r}; have {sorted(cls.PRESETS)}")
        return cls(**{**cls.PRESETS[name], "name": name, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**d)


_PRESETS: dict[str, dict[str, Any]] = {
    # tests and smoke runs: trains to near-zero loss on toy data in seconds
    "tiny": dict(
        d_model=64, n_layers=2, n_heads=4, d_ffn=128, dropout=0.0, max_phonemes=256, max_frames=512
    ),
    # about 11.6M parameters at K=1024: the d=384, 6-layer size the speed targets are set for
    "small": dict(d_model=384, n_layers=6, n_heads=6, d_ffn=1536, dropout=0.1),
    # echovox-tiny's size: about 5M parameters. Measured here at 1 thread per model with a
    # codec job beside it, batches of 3000 frames: 810 frames/s against 450 for `small`, so
    # an hour of CPU buys it nearly twice the data (2.5 epochs of the 8-hour synthetic corpus)
    "compact": dict(d_model=256, n_layers=6, n_heads=4, d_ffn=1024, dropout=0.0),
    # VALL-E paper size: 12 layers, 16 heads, d=1024, FFN 4096
    "valle": dict(d_model=1024, n_layers=12, n_heads=16, d_ffn=4096, dropout=0.1),
}


@dataclass
class ARConfig(_TransformerConfig):
    """Decoder-only model over [phonemes ; BOS ; first-codebook tokens].

    align_layers, align_heads: in each listed layer (0-based), the first align_heads heads
    attend from audio positions to the text only (alignment heads: the cross-attention of an
    encoder-decoder, inside the decoder-only model); training can put an attention prior and a
    forward-sum loss on them (lm/alignment.py). phoneme_ctc: a linear head on the audio
    positions' final states that training asks to read the phonemes back (CTC); unused at
    synthesis."""

    align_layers: list[int] = dataclasses.field(default_factory=list)
    align_heads: int = 0
    phoneme_ctc: bool = False

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = _PRESETS

    def __post_init__(self) -> None:
        super().__post_init__()
        self.align_layers = sorted({int(i) for i in self.align_layers})
        if any(not 0 <= i < self.n_layers for i in self.align_layers):
            raise ConfigError(
                f"align_layers {self.align_layers} must lie in 0..{self.n_layers - 1}"
            )
        if not 0 <= self.align_heads <= self.n_heads:
            raise ConfigError(f"align_heads must be in 0..{self.n_heads}, got {self.align_heads}")
        if bool(self.align_layers) != bool(self.align_heads):
            raise ConfigError("align_layers and align_heads are set together (or neither)")

    @property
    def eos_id(self) -> int:
        return self.codebook_size

    @property
    def bos_id(self) -> int:
        return self.codebook_size + 1

    @property
    def audio_pad_id(self) -> int:
        return self.codebook_size + 2

    @property
    def n_audio_tokens(self) -> int:
        """Rows of the audio input embedding: codes, EOS, BOS, pad."""
        return self.codebook_size + 3

    @property
    def n_outputs(self) -> int:
        """Output classes: codes plus EOS."""
        return self.codebook_size + 1


@dataclass
class NARConfig(_TransformerConfig):
    """Bidirectional model that fills codebooks 2..Q, conditioned on the stage by adaptive LN."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = _PRESETS

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_codebooks < 2:
            raise ConfigError("the NAR needs at least 2 codebooks (it predicts codebooks 2..Q)")

    @property
    def audio_pad_id(self) -> int:
        """Per-codebook padding id (codes are 0..K-1)."""
        return self.codebook_size
