"""Pretrained EnCodec (transformers' `EncodecModel`) behind the `Codec` interface.

This is the codec VALL-E used. transformers is the maintained implementation that loads the
published `facebook/encodec_24khz` weights; the `encodec` pip package is not used (it needs a
CUDA-only torchaudio that fails to import beside the CPU torch).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from echovox.checkpoint import CheckpointError

from .base import Codec


class EncodecCodec(Codec):
    """Wraps a transformers `EncodecModel` (mono, unnormalised models such as 24 kHz).

    Any 1 <= n_q <= 32 is allowed: the RVQ stages are run directly instead of going through
    `EncodecModel.encode`, which only accepts the bandwidths listed in the config."""

    def __init__(self, model) -> None:  # model: transformers.EncodecModel
        super().__init__()
        cfg = model.config
        if cfg.audio_channels != 1:
            raise CheckpointError(
                f"only mono EnCodec models are supported, got {cfg.audio_channels} channels"
            )
        if cfg.normalize or cfg.chunk_length_s is not None:
            # the 48 kHz model rescales each 1 s chunk and overlap-adds them; its codes are not
            # a plain [B, Q, T] stream, so it does not fit this interface
            raise CheckpointError(
                "EnCodec models with normalize/chunking (48 kHz) are not supported"
            )
        self.model = model.eval()
        self.sample_rate = int(cfg.sampling_rate)
        self.frame_rate = float(cfg.sampling_rate / math.prod(cfg.upsampling_ratios))
        self.codebook_size = int(cfg.codebook_size)
        self.n_codebooks = len(model.quantizer.layers)

    @property
    def hop_length(self) -> int:
        return math.prod(self.model.config.upsampling_ratios)

    @classmethod
    def load(cls, path_or_id: str) -> EncodecCodec:
        from transformers import EncodecModel

        try:
            model = EncodecModel.from_pretrained(path_or_id)
        except OSError as err:
            raise CheckpointError(
                f"cannot load EnCodec from {path_or_id!r}: {err}. Without network access, pass a "
                "local directory saved with EncodecModel.save_pretrained()."
            ) from err
        return cls(model)

    def _encode_frames(self, wav: Tensor, n_q: int) -> Tensor:
        emb = self.model.encoder(wav)  # [B, D, T]
        residual = emb
        codes = []
        for layer in self.model.quantizer.layers[:n_q]:
            idx = layer.encode(residual)  # [B, T]
            residual = residual - layer.decode(idx)
            codes.append(idx)
        return torch.stack(codes, dim=1)

    @torch.inference_mode()
    def decode(self, codes: Tensor) -> Tensor:
        home = codes.device
        codes = self.check_codes(codes).to(self.device)
        emb = self.model.quantizer.decode(codes.transpose(0, 1))  # expects [Q, B, T]
        return self.model.decoder(emb).float().to(home)

    def codebook_vectors(self) -> list[Tensor]:
        return [layer.codebook.embed for layer in self.model.quantizer.layers]

    def decode_latent(self, latent: Tensor) -> Tensor:
        return self.model.decoder(latent.to(self.device)).float()

    def save_pretrained(self, directory: str | Path) -> Path:
        directory = Path(directory)
        self.model.save_pretrained(str(directory))
        return directory
