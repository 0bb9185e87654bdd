"""ConvNeXt blocks over a frame sequence, the backbone of the frame-rate codec.

One block (Liu et al. 2022, in the 1-D form Vocos uses): a depthwise convolution mixes
neighbouring frames, then a LayerNorm and a pointwise MLP (GELU) mix channels, scaled by a
learned per-channel factor (layer scale) and added to the input. Everything runs at the frame
rate, which is what makes the decoder cheap: a SEANet decoder spends its compute at the sample
rate.

Written here rather than taken from a library: transformers' ConvNext is the 2-D image model,
and `vocos` (0.1.0, 2023) is unmaintained and pulls in torchaudio, which this project cannot
install beside its CPU torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ConvNeXtBlock(nn.Module):
    """[B, C, T] -> [B, C, T]."""

    def __init__(self, dim: int, mlp_ratio: int = 3, kernel_size: int = 7, scale: float = 0.1):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, dim * mlp_ratio)
        self.pw2 = nn.Linear(dim * mlp_ratio, dim)
        # layer scale: each block starts close to the identity, so a deep stack trains stably
        self.gamma = nn.Parameter(torch.full((dim,), float(scale)))

    def forward(self, x: Tensor) -> Tensor:
        h = self.dwconv(x).transpose(1, 2)  # [B, T, C]
        h = self.pw2(F.gelu(self.pw1(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of a [B, C, T] sequence."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class ConvNeXtStack(nn.Module):
    """Input projection (a k=7 convolution, left out when in_channels is None), LayerNorm,
    `depth` ConvNeXt blocks, LayerNorm. [B, C_in, T] -> [B, dim, T]."""

    def __init__(self, dim: int, depth: int, in_channels: int | None = None, mlp_ratio: int = 3):
        super().__init__()
        self.proj = nn.Conv1d(in_channels, dim, 7, padding=3) if in_channels else nn.Identity()
        self.norm_in = ChannelNorm(dim)
        # layer scale 1/depth, as Vocos initialises it
        self.blocks = nn.Sequential(
            *(ConvNeXtBlock(dim, mlp_ratio, scale=1.0 / depth) for _ in range(depth))
        )
        self.norm_out = ChannelNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm_out(self.blocks(self.norm_in(self.proj(x))))
