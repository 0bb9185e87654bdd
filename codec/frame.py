"""The frame-rate codec: log-mel ConvNeXt encoder, residual VQ, ConvNeXt decoder with an
inverse-STFT head (Vocos, Siuzdak 2024, as the decoder of a codec).

Every layer runs at the frame rate (or twice it in the encoder), so a second of audio costs
a few hundred million multiply-adds instead of the billions a SEANet decoder spends at the
sample rate. The latent the decoder renders is the sum of one vector per codebook, as in
`RVQCodec`, so expected decoding (`Codec.decode_expected`) works unchanged.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
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
from .config import FrameCodecConfig
from .model import CodecOutput
from .nn.convnext import ConvNeXtStack
from .nn.spectral import ISTFTHead, LogMel
from .quantizer import ResidualVectorQuantizer

WEIGHTS_NAME = "model.safetensors"
CODEC_TYPE = "frame"


class FrameEncoder(nn.Module):
    """wav [B, 1, T * hop] -> latent [B, dim, T]."""

    def __init__(self, c: FrameCodecConfig) -> None:
        super().__init__()
        self.hop = c.hop_length
        r = c.encoder_rate
        # the mel frames come at r times the frame rate, so the encoder sees timing finer than
        # a frame; a strided convolution then takes them down to the frame rate, where the
        # ConvNeXt blocks run
        self.mel = LogMel(c.sample_rate, c.mel_n_fft, c.hop_length // r, c.n_mels)
        self.stem = nn.Conv1d(c.n_mels, c.encoder_dim, 7, padding=3)
        self.down = (
            nn.Conv1d(c.encoder_dim, c.encoder_dim, 2 * r, stride=r, padding=r // 2)
            if r > 1
            else nn.Identity()
        )
        self.backbone = ConvNeXtStack(c.encoder_dim, c.encoder_depth, mlp_ratio=c.mlp_ratio)
        self.proj = nn.Conv1d(c.encoder_dim, c.dim, 1)

    def forward(self, wav: Tensor) -> Tensor:
        frames = wav.shape[-1] // self.hop
        x = self.down(self.stem(self.mel(wav)))[..., :frames]
        return self.proj(self.backbone(x))


class FrameDecoder(nn.Module):
    """latent [B, dim, T] -> wav [B, 1, T * hop]."""

    def __init__(self, c: FrameCodecConfig) -> None:
        super().__init__()
        self.backbone = ConvNeXtStack(c.decoder_dim, c.decoder_depth, c.dim, c.mlp_ratio)
        self.head = ISTFTHead(c.decoder_dim, c.n_fft, c.hop_length)

    def forward(self, latent: Tensor) -> Tensor:
        return self.head(self.backbone(latent))


class FrameCodec(Codec):
    def __init__(self, config: FrameCodecConfig) -> None:
        super().__init__()
        self.config = config
        self.sample_rate = config.sample_rate
        self.frame_rate = config.frame_rate
        self.n_codebooks = config.n_codebooks
        self.codebook_size = config.codebook_size
        self.chunk_seconds = config.chunk_seconds
        self.chunk_context_seconds = config.chunk_context_seconds
        self.encoder = FrameEncoder(config)
        self.quantizer = ResidualVectorQuantizer(
            dim=config.dim,
            n_codebooks=config.n_codebooks,
            codebook_size=config.codebook_size,
            decay=config.ema_decay,
            kmeans_iters=config.kmeans_iters,
            dead_code_ratio=config.dead_code_ratio,
            quantizer_dropout=config.quantizer_dropout,
        )
        self.decoder = FrameDecoder(config)

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    def _pad(self, wav: Tensor) -> Tensor:
        frames = math.ceil(wav.shape[-1] / self.hop_length)
        return F.pad(wav, (0, frames * self.hop_length - wav.shape[-1]))

    def forward(self, wav: Tensor, n_q: int | None = None) -> CodecOutput:
        """Training/analysis pass. wav [B, 1, S] -> CodecOutput (audio [B, 1, S])."""
        latent = self.encoder(self._pad(wav))
        q = self.quantizer(latent, n_q=n_q)
        audio = self.decoder(q.quantized)[..., : wav.shape[-1]]
        return CodecOutput(audio=audio, codes=q.codes, commitment_loss=q.commitment_loss, n_q=q.n_q)

    def _encode_frames(self, wav: Tensor, n_q: int) -> Tensor:
        return self.quantizer.encode(self.encoder(self._pad(wav)), n_q)

    @torch.inference_mode()
    def decode(self, codes: Tensor) -> Tensor:
        home = codes.device
        codes = self.check_codes(codes).to(self.device)
        return self.decoder(self.quantizer.decode(codes)).float().to(home)

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
                "codec_type": CODEC_TYPE,
                "echovox_version": package_version(),
                "config": self.config.to_dict(),
            },
        )
        return directory

    @classmethod
    def load_directory(cls, directory: str | Path) -> FrameCodec:
        """A codec directory (`save_pretrained`), or the codec of a whole model directory."""
        directory = Path(directory)
        meta = read_json(directory / "config.json")
        weights, config_dict = directory / WEIGHTS_NAME, meta.get("config")
        if meta.get("format") == FORMAT:
            weights, config_dict = directory / CODEC_WEIGHTS, meta.get("codec")
        if meta.get("codec_type") != CODEC_TYPE or not isinstance(config_dict, dict):
            raise CheckpointError(f"{directory} is not an echovox frame codec checkpoint")
        try:
            config = FrameCodecConfig.from_dict(config_dict)
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{directory}/config.json: {err}") from err
        model = cls(config)
        try:
            load_weights(model, weights)
        except RuntimeError as err:
            raise CheckpointError(f"{directory}: weights do not match the model: {err}") from err
        return model.eval()
