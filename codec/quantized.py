"""What our two trainable codecs share: an encoder, a residual vector quantiser and a decoder
around it, and the directory format they are stored in. `RVQCodec` (SEANet, codec_type "rvq")
and `FrameCodec` (codec_type "frame") differ only in their encoder and decoder."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from echovox.checkpoint import (
    CODEC_WEIGHTS,
    FORMAT,
    CheckpointError,
    load_weights,
    read_json,
    save_weights,
    storage_dtype,
    write_json,
)

from .base import Codec
from .quantizer import ResidualVectorQuantizer

WEIGHTS_NAME = "model.safetensors"


@dataclass
class CodecOutput:
    audio: Tensor  # [B, 1, S] reconstruction, trimmed to the input length
    codes: Tensor  # [B, Q, T]
    commitment_loss: Tensor  # scalar
    n_q: Tensor  # [B] codebooks used per item (random under quantizer dropout)


class QuantizedCodec(Codec):
    """encoder -> ResidualVectorQuantizer -> decoder. Subclasses name their `codec_type`, their
    `config_class` and, for error messages, `kind` ("RVQ codec"), and build the two halves."""

    codec_type: str
    config_class: type
    kind: str

    def __init__(self, config, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.sample_rate = config.sample_rate
        self.frame_rate = config.frame_rate
        self.n_codebooks = config.n_codebooks
        self.codebook_size = config.codebook_size
        self.chunk_seconds = config.chunk_seconds
        self.chunk_context_seconds = config.chunk_context_seconds
        self.encoder = encoder
        self.quantizer = ResidualVectorQuantizer(
            dim=config.dim,
            n_codebooks=config.n_codebooks,
            codebook_size=config.codebook_size,
            decay=config.ema_decay,
            kmeans_iters=config.kmeans_iters,
            dead_code_ratio=config.dead_code_ratio,
            quantizer_dropout=config.quantizer_dropout,
        )
        self.decoder = decoder

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    def _pad(self, wav: Tensor) -> Tensor:
        """What the encoder is given (the frame codec pads to whole frames)."""
        return wav

    def forward(self, wav: Tensor, n_q: int | None = None) -> CodecOutput:
        """Training/analysis pass. wav [B, 1, S] -> CodecOutput (audio [B, 1, S])."""
        latent = self.encoder(self._pad(wav))  # [B, D, T]
        q = self.quantizer(latent, n_q=n_q)
        audio = self.decoder(q.quantized)[..., : wav.shape[-1]]
        return CodecOutput(audio=audio, codes=q.codes, commitment_loss=q.commitment_loss, n_q=q.n_q)

    def _encode_frames(self, wav: Tensor, n_q: int) -> Tensor:
        # no parametrize.cached() for SEANet's weight norm: measured slower on CPU
        # (benchmarks/codec_speed.py)
        return self.quantizer.encode(self.encoder(self._pad(wav)), n_q)

    @torch.inference_mode()
    def decode(self, codes: Tensor) -> Tensor:
        home = codes.device
        codes = self.check_codes(codes).to(self.device)
        return self.decoder(self.quantizer.decode(codes)).float().to(home)

    def keep_codebooks(self, n: int) -> None:
        """Keep the residual quantiser's first n stages (in place). A residual stage codes
        what the stages before it left, so codes and decodes at n_q <= n do not change."""
        if not 1 <= n <= self.n_codebooks:
            raise ValueError(f"can keep 1..{self.n_codebooks} codebooks, not {n}")
        self.quantizer.codebooks = self.quantizer.codebooks[:n]
        self.quantizer.n_codebooks = self.n_codebooks = n
        self.config = dataclasses.replace(self.config, n_codebooks=n)

    def codebook_vectors(self) -> list[Tensor]:
        return [book.embed for book in self.quantizer.codebooks]

    def decode_latent(self, latent: Tensor) -> Tensor:
        return self.decoder(latent.to(self.device)).float()

    # persistence ---------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, weights_dtype: str = "float32") -> Path:
        """weights_dtype "float16" halves the file; loading casts back to float32."""
        from echovox.version import package_version

        dtype = storage_dtype(weights_dtype)  # a bad name fails before anything is written
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_weights(self, directory / WEIGHTS_NAME, dtype=dtype)
        write_json(
            directory / "config.json",
            {
                "codec_type": self.codec_type,
                "echovox_version": package_version(),
                "config": self.config.to_dict(),
            },
        )
        return directory

    @classmethod
    def load_directory(cls, directory: str | Path) -> QuantizedCodec:
        """A codec checkpoint directory (`save_pretrained`), or the codec of a whole echovox
        model directory (`echovox.model_dir`: config.json's "codec" and codec.safetensors,
        float16 ones loaded as float32). The latter lets a fine-tune start from, or a recipe
        tokenize with, the codec of a shipped model such as app/pretrained/echovox-tiny."""
        directory = Path(directory)
        meta = read_json(directory / "config.json")
        weights, config_dict = directory / WEIGHTS_NAME, meta.get("config")
        if meta.get("format") == FORMAT:
            weights, config_dict = directory / CODEC_WEIGHTS, meta.get("codec")
        if meta.get("codec_type") != cls.codec_type or not isinstance(config_dict, dict):
            raise CheckpointError(f"{directory} is not an echovox {cls.kind} checkpoint")
        try:
            config = cls.config_class.from_dict(config_dict)
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{directory}/config.json: {err}") from err
        model = cls(config)
        try:
            load_weights(model, weights)
        except RuntimeError as err:  # load_state_dict raises RuntimeError on shape mismatches
            raise CheckpointError(f"{directory}: weights do not match the model: {err}") from err
        return model.eval()
