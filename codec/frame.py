"""The frame-rate codec: log-mel ConvNeXt encoder, residual VQ, ConvNeXt decoder with an
inverse-STFT head (Vocos, Siuzdak 2024, as the decoder of a codec).

Every layer runs at the frame rate (or twice it in the encoder), so a second of audio costs
a few hundred million multiply-adds instead of the billions a SEANet decoder spends at the
sample rate. The latent the decoder renders is the sum of one vector per codebook, as in
`RVQCodec`, so expected decoding (`Codec.decode_expected`) works unchanged.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from .config import FrameCodecConfig
from .nn.convnext import ConvNeXtStack
from .nn.spectral import ISTFTHead, LogMel
from .quantized import QuantizedCodec

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


class FrameCodec(QuantizedCodec):
    codec_type = CODEC_TYPE
    config_class = FrameCodecConfig
    kind = "frame codec"

    def __init__(self, config: FrameCodecConfig) -> None:
        super().__init__(config, FrameEncoder(config), FrameDecoder(config))

    def _pad(self, wav: Tensor) -> Tensor:
        frames = math.ceil(wav.shape[-1] / self.hop_length)
        return F.pad(wav, (0, frames * self.hop_length - wav.shape[-1]))
