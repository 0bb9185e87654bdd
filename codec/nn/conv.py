"""Padded 1-D convolutions for the codec: causal or centred, always producing whole frames.

The padding rule (pad so the last window is complete, trim transposed convs by k - s) follows
the SEANet/EnCodec design so that an input of S samples gives ceil(S / hop) frames and the
decoder gives back frames * hop samples. Lengths are plain Python ints here, which keeps the
per-layer bookkeeping off the tensor graph.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm


def _pad1d(x: Tensor, left: int, right: int, mode: str) -> Tensor:
    """F.pad that also reflects inputs shorter than the pad (zero-extends them first)."""
    if mode != "reflect":
        return F.pad(x, (left, right), mode=mode)
    length = x.shape[-1]
    extra = max(0, max(left, right) - length + 1)
    if extra:
        x = F.pad(x, (0, extra))
    x = F.pad(x, (left, right), mode="reflect")
    return x[..., : x.shape[-1] - extra]


class PaddedConv1d(nn.Module):
    """Weight-normalised Conv1d. [B, C_in, S] -> [B, C_out, ceil(S / stride)]."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        causal: bool = False,
        pad_mode: str = "reflect",
    ) -> None:
        super().__init__()
        self.conv = weight_norm(
            nn.Conv1d(in_channels, out_channels, kernel_size, stride, dilation=dilation)
        )
        self.stride = stride
        self.effective_kernel = (kernel_size - 1) * dilation + 1
        self.padding_total = self.effective_kernel - stride
        self.causal = causal
        self.pad_mode = pad_mode

    def forward(self, x: Tensor) -> Tensor:
        length = x.shape[-1]
        k, s, p = self.effective_kernel, self.stride, self.padding_total
        n_frames = math.ceil((length - k + p) / s) + 1
        extra = (n_frames - 1) * s + k - p - length
        if self.causal:
            left, right = p, extra
        else:
            right = p // 2
            left, right = p - right, right + extra
        return self.conv(_pad1d(x, left, right, self.pad_mode))


class PaddedConvTranspose1d(nn.Module):
    """Weight-normalised ConvTranspose1d. [B, C_in, T] -> [B, C_out, T * stride]."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int, causal: bool
    ) -> None:
        super().__init__()
        self.conv = weight_norm(nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride))
        self.padding_total = kernel_size - stride
        self.causal = causal

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        p = self.padding_total
        right = p if self.causal else p // 2
        left = p - right
        return y[..., left : y.shape[-1] - right]


class LSTMBlock(nn.Module):
    """Residual LSTM over time. [B, C, T] -> [B, C, T]."""

    def __init__(self, dim: int, num_layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, num_layers)

    def forward(self, x: Tensor) -> Tensor:
        y = x.permute(2, 0, 1)  # [T, B, C]
        y = self.lstm(y)[0] + y
        return y.permute(1, 2, 0)


class ResidualUnit(nn.Module):
    """ELU -> conv(k, dilation) -> ELU -> conv(1) with a 1x1 conv shortcut. [B, C, T]."""

    def __init__(
        self, dim: int, kernel_size: int, dilation: int, compress: int, causal: bool, pad_mode: str
    ) -> None:
        super().__init__()
        hidden = max(1, dim // compress)
        self.block = nn.Sequential(
            nn.ELU(),
            PaddedConv1d(
                dim, hidden, kernel_size, dilation=dilation, causal=causal, pad_mode=pad_mode
            ),
            nn.ELU(),
            PaddedConv1d(hidden, dim, 1, causal=causal, pad_mode=pad_mode),
        )
        self.shortcut = PaddedConv1d(dim, dim, 1, causal=causal, pad_mode=pad_mode)

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.block(x)


def receptive_field(module: nn.Module) -> int:
    """Samples of input context a module's convolutions see (an upper bound; LSTMs excluded)."""
    total, scale = 1, 1
    for m in module.modules():
        if isinstance(m, PaddedConv1d):
            total += (m.effective_kernel - 1) * scale
            scale *= m.stride
    return total


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = [
    "PaddedConv1d",
    "PaddedConvTranspose1d",
    "LSTMBlock",
    "ResidualUnit",
    "receptive_field",
    "count_parameters",
]
