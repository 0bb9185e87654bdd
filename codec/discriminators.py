"""Discriminators for adversarial codec training.

- Multi-scale STFT discriminator (EnCodec): 2-D convs over the complex STFT (real and
  imaginary parts as channels) at several window sizes.
- Multi-period discriminator (HiFi-GAN): 2-D convs over the waveform folded by a period, which
  catches periodic (pitch) structure that spectrogram losses blur.

Both return logits and per-layer features (for feature matching). Channel widths are
parameters: the published widths are far too slow for CPU training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm


@dataclass
class DiscriminatorOutput:
    logits: list[Tensor]  # one tensor per sub-discriminator
    features: list[list[Tensor]]  # per sub-discriminator, per layer


class STFTDiscriminator(nn.Module):
    """One scale: [B, 1, S] -> logits [B, 1, frames, bins]."""

    def __init__(self, n_fft: int, channels: int = 32, dilations: Sequence[int] = (1, 2, 4)):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        convs = [weight_norm(nn.Conv2d(2, channels, (3, 9), padding=(1, 4)))]
        for d in dilations:
            convs.append(
                weight_norm(
                    nn.Conv2d(
                        channels, channels, (3, 9), stride=(1, 2), dilation=(d, 1), padding=(d, 4)
                    )
                )
            )
        convs.append(weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1))))
        self.convs = nn.ModuleList(convs)
        self.post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, wav: Tensor) -> tuple[Tensor, list[Tensor]]:
        with torch.autocast(device_type=wav.device.type, enabled=False):
            spec = torch.stft(
                wav.float().squeeze(1),
                self.n_fft,
                self.n_fft // 4,
                window=self.window,
                center=True,
                return_complex=True,
            )  # [B, F, T]
            x = torch.stack([spec.real, spec.imag], dim=1).transpose(2, 3)  # [B, 2, T, F]
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
            feats.append(x)
        return self.post(x), feats


class MultiScaleSTFTDiscriminator(nn.Module):
    def __init__(self, n_ffts: Sequence[int] = (1024, 2048, 512), channels: int = 32):
        super().__init__()
        self.discs = nn.ModuleList(STFTDiscriminator(n, channels) for n in n_ffts)

    def forward(self, wav: Tensor) -> DiscriminatorOutput:
        outs = [d(wav) for d in self.discs]
        return DiscriminatorOutput([o[0] for o in outs], [o[1] for o in outs])


class PeriodDiscriminator(nn.Module):
    """[B, 1, S] folded to [B, 1, S / p, p]; convolves along time within each phase."""

    def __init__(self, period: int, channels: int = 32, max_channels: int = 1024):
        super().__init__()
        self.period = period
        widths = (
            [1]
            + [min(channels * 4**i, max_channels) for i in range(4)]
            + [min(channels * 32, max_channels)]
        )
        convs = []
        for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
            stride = (3, 1) if i < 4 else (1, 1)
            convs.append(weight_norm(nn.Conv2d(cin, cout, (5, 1), stride=stride, padding=(2, 0))))
        self.convs = nn.ModuleList(convs)
        self.post = weight_norm(nn.Conv2d(widths[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, wav: Tensor) -> tuple[Tensor, list[Tensor]]:
        B, C, S = wav.shape
        pad = (-S) % self.period
        x = F.pad(wav, (0, pad), mode="reflect" if pad < S else "constant")
        x = x.view(B, C, -1, self.period)
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            feats.append(x)
        return self.post(x), feats


class MultiPeriodDiscriminator(nn.Module):
    def __init__(
        self,
        periods: Sequence[int] = (2, 3, 5, 7, 11),
        channels: int = 32,
        max_channels: int = 1024,
    ):
        super().__init__()
        self.discs = nn.ModuleList(PeriodDiscriminator(p, channels, max_channels) for p in periods)

    def forward(self, wav: Tensor) -> DiscriminatorOutput:
        outs = [d(wav) for d in self.discs]
        return DiscriminatorOutput([o[0] for o in outs], [o[1] for o in outs])


class CombinedDiscriminator(nn.Module):
    """MS-STFT and MPD side by side; their outputs are concatenated."""

    def __init__(
        self,
        stft_n_ffts: Sequence[int] = (1024, 2048, 512),
        stft_channels: int = 32,
        periods: Sequence[int] = (2, 3, 5, 7, 11),
        period_channels: int = 32,
        period_max_channels: int = 1024,
    ):
        super().__init__()
        self.parts = nn.ModuleList()
        if stft_n_ffts:
            self.parts.append(MultiScaleSTFTDiscriminator(stft_n_ffts, stft_channels))
        if periods:
            self.parts.append(
                MultiPeriodDiscriminator(periods, period_channels, period_max_channels)
            )
        if not len(self.parts):
            raise ValueError("at least one discriminator is needed")

    def forward(self, wav: Tensor) -> DiscriminatorOutput:
        logits, feats = [], []
        for part in self.parts:
            out = part(wav)
            logits += out.logits
            feats += out.features
        return DiscriminatorOutput(logits, feats)
