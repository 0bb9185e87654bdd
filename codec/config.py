"""Config dataclasses of our codecs, each with named presets.

`FrameCodecConfig` is the trainable frame-rate codec (`FrameCodec`); `CodecConfig` the SEANet
codec (`RVQCodec`) that the first echovox-tiny release speaks. `X.from_name("tiny")` is what
tests and smoke runs use; every saved checkpoint carries its config (`to_dict`), so a model is
rebuilt without the recipe that trained it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any


class _ConfigDict:
    """from_dict and differences for a codec config dataclass; `kind` names it in errors."""

    kind = "codec"

    def differences(self, other) -> dict[str, tuple[Any, Any]]:
        """The fields where the two configs differ: {name: (self's value, other's value)}."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown {cls.kind} config keys: {sorted(unknown)}")
        return cls(**d)


@dataclass
class CodecConfig(_ConfigDict):
    """SEANet-style encoder/decoder around a residual vector quantiser.

    `strides` are the encoder's downsampling factors in encoder order; the decoder uses them
    reversed. hop = prod(strides), frame_rate = sample_rate / hop.
    """

    sample_rate: int = 16_000
    channels: int = 32  # filters after the first conv; doubled at every downsampling
    dim: int = 128  # latent (and codebook) dimension
    strides: tuple[int, ...] = (2, 4, 5, 8)
    n_residual_layers: int = 1
    kernel_size: int = 7
    last_kernel_size: int = 7
    residual_kernel_size: int = 3
    dilation_base: int = 2
    compress: int = 2  # residual units squeeze channels by this factor
    lstm_layers: int = 2  # 0 disables the LSTM
    causal: bool = False
    pad_mode: str = "reflect"
    # residual vector quantiser
    n_codebooks: int = 8
    codebook_size: int = 1024
    ema_decay: float = 0.99
    kmeans_iters: int = 10  # k-means iterations for the codebook initialisation (0: random batch)
    # A code is dead when its EMA usage falls below this fraction of its uniform share of the
    # batch (n_vectors / codebook_size): an absolute count means something different at every
    # batch size, which is how dead-code thresholds silently stop working when batches change.
    dead_code_ratio: float = 0.1
    commitment_weight: float = 1.0
    quantizer_dropout: float = 1.0  # probability that an item trains with a random n_q <= N
    # inference
    chunk_seconds: float = 30.0  # `encode` processes longer audio in chunks of this length
    chunk_context_seconds: float = 1.0  # audio seen on each side of a chunk, then discarded

    @property
    def hop_length(self) -> int:
        return math.prod(self.strides)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    def bitrate(self, n_q: int | None = None) -> float:
        """Bits per second at `n_q` codebooks (all of them by default)."""
        n_q = self.n_codebooks if n_q is None else n_q
        return n_q * self.frame_rate * math.log2(self.codebook_size)

    def __post_init__(self) -> None:
        self.strides = tuple(int(s) for s in self.strides)
        if not self.strides or min(self.strides) < 1:
            raise ValueError(f"strides must be positive integers, got {self.strides}")
        if self.n_codebooks < 1 or self.codebook_size < 2:
            raise ValueError("need at least one codebook of at least two entries")
        if self.pad_mode not in ("reflect", "constant", "replicate"):
            raise ValueError(f"unknown pad_mode {self.pad_mode!r}")

    # presets -----------------------------------------------------------------------------
    @classmethod
    def from_name(cls, name: str, **overrides: Any) -> CodecConfig:
        if name not in PRESETS:
            raise ValueError(f"unknown codec preset {name!r}; choose from {sorted(PRESETS)}")
        return dataclasses.replace(PRESETS[name], **overrides)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["strides"] = list(self.strides)
        return d


PRESETS: dict[str, CodecConfig] = {
    # For tests: 8 kHz, hop 32 (250 Hz), a few thousand parameters per layer.
    "tiny": CodecConfig(
        sample_rate=8_000,
        channels=4,
        dim=16,
        strides=(2, 4, 4),
        lstm_layers=0,
        n_codebooks=4,
        codebook_size=32,
        kmeans_iters=2,
        chunk_seconds=1.0,
        chunk_context_seconds=0.25,
    ),
    # The embedded default model, trained on 2 CPU cores. Hop 400 gives 40 frames/s: the AR
    # transformer pays per frame, so 40 Hz instead of EnCodec-style 50 Hz cuts its sequence
    # length by a fifth, and 25 Hz (hop 640) would need deeper, slower strides for a codec
    # that must train on a CPU. 8 x 1024 codebooks: 400 bit/s per codebook, 3.2 kbit/s at 8;
    # 1024 entries keeps the LM's per-codebook vocabulary the same size as EnCodec's.
    # 24 base filters and one LSTM layer keep a training step affordable on a CPU.
    "speech_16k": CodecConfig(
        sample_rate=16_000,
        channels=24,
        dim=128,
        strides=(2, 4, 5, 10),
        lstm_layers=1,
        n_codebooks=8,
        codebook_size=1024,
    ),
    # The EnCodec architecture (Défossez et al. 2022): 24 kHz, hop 320 (75 Hz), causal SEANet
    # with a 2-layer LSTM, up to 32 x 1024 codebooks (24 kbit/s); 8 codebooks = 6 kbit/s.
    "encodec_24khz": CodecConfig(
        sample_rate=24_000,
        channels=32,
        dim=128,
        strides=(2, 4, 5, 8),
        lstm_layers=2,
        causal=True,
        n_codebooks=32,
        codebook_size=1024,
    ),
}

PRESET_NAMES = tuple(PRESETS)


@dataclass
class FrameCodecConfig(_ConfigDict):
    """The frame-rate codec: log-mel ConvNeXt encoder, residual VQ, ConvNeXt decoder with an
    inverse-STFT head. `hop_length` samples make one frame; every layer runs at the frame rate
    except the encoder's first convolutions, which see `encoder_rate` mel frames per frame."""

    kind = "frame codec"  # not a field: it names the config in errors

    sample_rate: int = 16_000
    hop_length: int = 400
    # encoder: log-mel frames at encoder_rate times the frame rate (finer timing than a frame
    # for onsets and bursts), a strided convolution down to the frame rate, then ConvNeXt blocks
    encoder_rate: int = 2
    n_mels: int = 80
    mel_n_fft: int = 640
    encoder_dim: int = 192
    encoder_depth: int = 4
    # decoder: ConvNeXt blocks, then a linear layer to each frame's log magnitude and phase,
    # overlap-added by an inverse STFT of head_n_fft points (0: four hops, as Vocos uses)
    decoder_dim: int = 256
    decoder_depth: int = 8
    head_n_fft: int = 0
    mlp_ratio: int = 3  # ConvNeXt MLP width over the block width (Vocos: 3)
    # residual vector quantiser: as CodecConfig's fields of the same names
    dim: int = 128
    n_codebooks: int = 12
    codebook_size: int = 1024
    ema_decay: float = 0.99
    kmeans_iters: int = 10
    dead_code_ratio: float = 0.1
    commitment_weight: float = 1.0
    quantizer_dropout: float = 0.5
    chunk_seconds: float = 30.0
    chunk_context_seconds: float = 1.0

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def n_fft(self) -> int:
        """The inverse STFT's size."""
        return self.head_n_fft or 4 * self.hop_length

    def bitrate(self, n_q: int | None = None) -> float:
        n_q = self.n_codebooks if n_q is None else n_q
        return n_q * self.frame_rate * math.log2(self.codebook_size)

    def __post_init__(self) -> None:
        if self.encoder_rate < 1 or self.hop_length % self.encoder_rate:
            raise ValueError(
                f"hop_length {self.hop_length} must be a multiple of encoder_rate "
                f"{self.encoder_rate}"
            )
        if self.mel_n_fft < self.hop_length // self.encoder_rate:
            raise ValueError("mel_n_fft must be at least the mel hop (hop_length / encoder_rate)")
        if self.n_fft < self.hop_length:
            raise ValueError(f"head_n_fft {self.n_fft} is shorter than the hop {self.hop_length}")
        if self.n_codebooks < 1 or self.codebook_size < 2:
            raise ValueError("need at least one codebook of at least two entries")

    @classmethod
    def from_name(cls, name: str, **overrides: Any) -> FrameCodecConfig:
        if name not in FRAME_PRESETS:
            raise ValueError(
                f"unknown frame codec preset {name!r}; choose from {sorted(FRAME_PRESETS)}"
            )
        return dataclasses.replace(FRAME_PRESETS[name], **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FRAME_PRESETS: dict[str, FrameCodecConfig] = {
    # For tests and smoke runs: 16 kHz at 100 frames/s, small enough to overfit one sentence
    # on a CPU in seconds.
    "tiny": FrameCodecConfig(
        hop_length=160,
        encoder_rate=1,
        n_mels=40,
        mel_n_fft=400,
        encoder_dim=32,
        encoder_depth=1,
        decoder_dim=64,
        decoder_depth=2,
        dim=16,
        n_codebooks=4,
        codebook_size=64,
        kmeans_iters=2,
        chunk_seconds=1.0,
        chunk_context_seconds=0.25,
    ),
    # The default 16 kHz speech codec. 40 frames/s: the AR transformer pays per frame, and a
    # pilot at 40 Hz kept Whisper's WER within noise of the originals' on held-out voices. 12
    # codebooks of 1024 codes: 4.8 kbit/s, under Opus's 6; quantizer dropout trains every
    # prefix, so fewer codebooks (n_q) can be used downstream. The widths are what fits the
    # speed target (encode + decode at 100x real time on one thread of a 2-core CPU).
    "speech_16k": FrameCodecConfig(),
}

__all__ = ["CodecConfig", "FRAME_PRESETS", "FrameCodecConfig", "PRESETS", "PRESET_NAMES"]
