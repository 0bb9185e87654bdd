"""The frame-rate codec's two ends: a log-mel front end and an inverse-STFT head.

Both use "same" framing: a signal of T * hop samples has exactly T frames, frame t centred on
samples [t * hop, (t + 1) * hop). torch.stft/istft with center=True give T + 1 frames and
(T - 1) * hop samples instead, which would make the codec's frame count depend on which end is
asked; the head therefore overlap-adds its frames itself (Vocos does the same, for the same
reason).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..losses import mel_filterbank


def _same_pad(n_fft: int, hop: int) -> tuple[int, int]:
    total = n_fft - hop
    return total // 2, total - total // 2


class LogMel(nn.Module):
    """[B, 1, T * hop] -> log-mel [B, n_mels, T] (natural log, floored at 1e-5)."""

    def __init__(self, sample_rate: int, n_fft: int, hop: int, n_mels: int) -> None:
        super().__init__()
        if n_fft < hop:
            raise ValueError(f"mel n_fft {n_fft} is shorter than its hop {hop}")
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("fb", mel_filterbank(n_fft, n_mels, sample_rate), persistent=False)

    def forward(self, wav: Tensor) -> Tensor:
        with torch.autocast(device_type=wav.device.type, enabled=False):
            x = F.pad(wav.float().squeeze(1), _same_pad(self.n_fft, self.hop), mode="reflect")
            spec = torch.stft(
                x, self.n_fft, self.hop, window=self.window, center=False, return_complex=True
            ).abs()
            mel = torch.einsum("bft,fm->bmt", spec, self.fb)
            return torch.log(mel.clamp(min=1e-5))


def istft_same(spec: Tensor, hop: int, window: Tensor) -> Tensor:
    """Complex spectrum [B, n_fft // 2 + 1, T] -> [B, T * hop] by windowed overlap-add,
    normalised by the summed squared window, with "same" framing."""
    n_fft = window.shape[0]
    T = spec.shape[-1]
    frames = torch.fft.irfft(spec, n=n_fft, dim=1) * window[None, :, None]  # [B, n_fft, T]
    length = (T - 1) * hop + n_fft
    y = F.fold(frames, (1, length), (1, n_fft), stride=(1, hop))[:, 0, 0]
    ones = window.square()[None, :, None].expand(1, n_fft, T)
    envelope = F.fold(ones, (1, length), (1, n_fft), stride=(1, hop))[:, 0, 0]
    left, _ = _same_pad(n_fft, hop)
    y, envelope = y[:, left : left + T * hop], envelope[:, left : left + T * hop]
    return y / envelope.clamp(min=1e-8)


class ISTFTHead(nn.Module):
    """[B, C, T] features -> waveform [B, 1, T * hop].

    A linear layer predicts each frame's log magnitude and phase for n_fft // 2 + 1 bins; the
    magnitude is exp(x) capped at 100 (the decoder's output level stays bounded however large
    a log magnitude grows early in training), the phase is used as an angle."""

    def __init__(self, dim: int, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.proj = nn.Linear(dim, n_fft + 2)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        h = self.proj(x.transpose(1, 2)).transpose(1, 2)
        with torch.autocast(device_type=x.device.type, enabled=False):
            log_mag, phase = h.float().chunk(2, dim=1)
            spec = torch.polar(torch.exp(log_mag).clamp(max=100.0), phase)
            return istft_same(spec, self.hop, self.window)[:, None]
