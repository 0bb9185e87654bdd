"""Reconstruction and adversarial losses for codec training, and the EnCodec loss balancer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def mel_filterbank(
    n_fft: int, n_mels: int, sample_rate: int, norm: str | None = "slaney"
) -> Tensor:
    """[n_fft // 2 + 1, n_mels] mel filters (transformers' audio_utils): Slaney-normalised
    (equal area), or with norm None unnormalised triangles (a band's power is the power
    under it)."""
    from transformers.audio_utils import mel_filter_bank

    fb = mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1,
        num_mel_filters=n_mels,
        min_frequency=0.0,
        max_frequency=sample_rate / 2,
        sampling_rate=sample_rate,
        norm=norm,
        mel_scale="slaney",
    )
    return torch.from_numpy(fb).float()


class MelSpectrogram(nn.Module):
    """[B, 1, S] -> magnitude mel spectrogram [B, n_mels, frames], computed in float32."""

    def __init__(self, sample_rate: int, n_fft: int, n_mels: int, hop_length: int | None = None):
        super().__init__()
        self.n_fft = n_fft
        self.hop_length = hop_length or n_fft // 4
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("fb", mel_filterbank(n_fft, n_mels, sample_rate), persistent=False)

    def forward(self, wav: Tensor) -> Tensor:
        with torch.autocast(device_type=wav.device.type, enabled=False):
            x = wav.float().squeeze(1)
            spec = torch.stft(
                x,
                self.n_fft,
                self.hop_length,
                window=self.window,
                center=True,
                pad_mode="reflect",
                return_complex=True,
            ).abs()  # [B, F, frames]
            return torch.einsum("bft,fm->bmt", spec, self.fb)


class SpectralLoss(nn.Module):
    """Reconstruction loss of the frame-rate codec, averaged over STFT sizes: L1 between log
    mel spectrograms (HiFi-GAN, Vocos), plus L1 between log magnitudes and the spectral
    convergence ||S_real - S_fake||_F / ||S_real||_F (Parallel WaveGAN's multi-resolution STFT
    loss). The log terms weigh quiet bands, where consonants live, as much as loud ones; the
    convergence term keeps the loud harmonics exact. Computed in float32."""

    def __init__(
        self,
        sample_rate: int,
        n_ffts: Sequence[int] = (256, 512, 1024, 2048),
        n_mels: Sequence[int] = (20, 40, 80, 128),
        log_mag_weight: float = 0.5,
    ) -> None:
        super().__init__()
        if len(n_ffts) != len(n_mels):
            raise ValueError("give one mel band count per STFT size")
        self.n_ffts = tuple(n_ffts)
        self.log_mag_weight = log_mag_weight
        for i, (n, m) in enumerate(zip(n_ffts, n_mels)):
            self.register_buffer(f"window{i}", torch.hann_window(n), persistent=False)
            self.register_buffer(f"fb{i}", mel_filterbank(n, m, sample_rate), persistent=False)

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        with torch.autocast(device_type=fake.device.type, enabled=False):
            f, r = fake.float().squeeze(1), real.float().squeeze(1)
            loss = f.new_zeros(())
            for i, n in enumerate(self.n_ffts):
                window, fb = getattr(self, f"window{i}"), getattr(self, f"fb{i}")
                sf = torch.stft(f, n, n // 4, window=window, return_complex=True).abs()
                sr = torch.stft(r, n, n // 4, window=window, return_complex=True).abs()
                mf = torch.einsum("bft,fm->bmt", sf, fb).clamp(min=1e-5).log()
                mr = torch.einsum("bft,fm->bmt", sr, fb).clamp(min=1e-5).log()
                loss = loss + F.l1_loss(mf, mr)
                log_mag = F.l1_loss(sf.clamp(min=1e-5).log(), sr.clamp(min=1e-5).log())
                loss = loss + self.log_mag_weight * log_mag
                loss = loss + torch.linalg.norm(sr - sf) / torch.linalg.norm(sr).clamp(min=1e-5)
            return loss / len(self.n_ffts)


def generator_adversarial_loss(fake_logits: list[Tensor], kind: str = "hinge") -> Tensor:
    """Mean over discriminators of the generator's adversarial loss."""
    losses = []
    for logits in fake_logits:
        if kind == "hinge":
            losses.append(F.relu(1 - logits).mean())
        elif kind == "lsgan":
            losses.append((1 - logits).pow(2).mean())
        else:
            raise ValueError(f"unknown adversarial loss {kind!r}")
    return torch.stack(losses).mean()


def discriminator_loss(
    real_logits: list[Tensor], fake_logits: list[Tensor], kind: str = "hinge"
) -> Tensor:
    losses = []
    for r, f in zip(real_logits, fake_logits):
        if kind == "hinge":
            losses.append(F.relu(1 - r).mean() + F.relu(1 + f).mean())
        elif kind == "lsgan":
            losses.append((1 - r).pow(2).mean() + f.pow(2).mean())
        else:
            raise ValueError(f"unknown adversarial loss {kind!r}")
    return torch.stack(losses).mean()


def feature_matching_loss(real_feats: list[list[Tensor]], fake_feats: list[list[Tensor]]) -> Tensor:
    """L1 between discriminator features, each layer normalised by the real features' mean
    magnitude so that deep (large) layers do not dominate (EnCodec's relative FM loss)."""
    losses = []
    for rs, fs in zip(real_feats, fake_feats):
        for r, f in zip(rs, fs):
            r = r.detach()
            losses.append(F.l1_loss(f, r) / (r.abs().mean() + 1e-8))
    return torch.stack(losses).mean()


class Balancer:
    """EnCodec's loss balancer.

    For losses l_i of a shared output y, g_i = dl_i/dy. Each g_i is rescaled to
    `total_norm * w_i / sum(w)` over an EMA of its norm, so the weight w_i sets the loss's share
    of the gradient regardless of the loss's scale; the returned tensor is the gradient to
    backpropagate from y (e.g. `y.backward(grad)` or `(y * grad).sum()`).

    Norms are per-item L2 norms averaged over the batch; the EMA is bias-corrected (a running
    weighted sum divided by the running sum of weights), so the first step uses the actual norm.
    """

    def __init__(
        self,
        weights: dict[str, float],
        total_norm: float = 1.0,
        ema_decay: float = 0.999,
        eps: float = 1e-12,
    ):
        self.weights = dict(weights)
        self.total_norm = total_norm
        self.decay = ema_decay
        self.eps = eps
        self._sum: dict[str, float] = {}
        self._count: dict[str, float] = {}
        self.last_norms: dict[str, float] = {}

    def _ema(self, name: str, value: float) -> float:
        self._sum[name] = self._sum.get(name, 0.0) * self.decay + value
        self._count[name] = self._count.get(name, 0.0) * self.decay + 1.0
        return self._sum[name] / self._count[name]

    def __call__(self, losses: dict[str, Tensor], y: Tensor) -> Tensor:
        names = [n for n in losses if self.weights.get(n, 0.0) > 0]
        if not names:
            raise ValueError("no loss with a positive weight to balance")
        total_w = sum(self.weights[n] for n in names)
        out = torch.zeros_like(y)
        for n in names:
            (g,) = torch.autograd.grad(losses[n], y, retain_graph=True)
            dims = tuple(range(1, g.dim()))
            norm = float(g.float().pow(2).sum(dim=dims).sqrt().mean())
            self.last_norms[n] = norm
            avg = self._ema(n, norm)
            scale = self.total_norm * self.weights[n] / total_w / (avg + self.eps)
            out = out + g * scale
        return out

    def state_dict(self) -> dict[str, dict[str, float]]:
        return {"sum": dict(self._sum), "count": dict(self._count)}

    def load_state_dict(self, state: dict[str, dict[str, float]]) -> None:
        self._sum = dict(state.get("sum", {}))
        self._count = dict(state.get("count", {}))
