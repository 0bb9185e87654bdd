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


class MultiScaleMelLoss(nn.Module):
    """Sum over STFT sizes of L1(mel) + L2(log mel), as in EnCodec's reconstruction loss.

    The number of mel bands shrinks with small windows (a 64-band bank on a 32-point FFT has
    empty filters)."""

    def __init__(
        self, sample_rate: int, n_ffts: Sequence[int] = (256, 512, 1024, 2048), n_mels: int = 64
    ):
        super().__init__()
        self.mels = nn.ModuleList(
            MelSpectrogram(sample_rate, n, min(n_mels, n // 4)) for n in n_ffts
        )

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        loss = fake.new_zeros((), dtype=torch.float32)
        for mel in self.mels:
            a, b = mel(fake), mel(real)
            loss = loss + F.l1_loss(a, b) + F.mse_loss(torch.log(a + 1e-5), torch.log(b + 1e-5))
        return loss / len(self.mels)


class LoudnessLoss(nn.Module):
    """A PESQ-shaped distance: the difference of the two signals' loudness densities per
    critical band, after PESQ's compensations, with its dead zone and its extra weight on
    added energy.

    PESQ (ITU-T P.862, wideband P.862.2) maps each 32 ms frame's power spectrum to about 49
    bands (Bark). Before comparing, it forgives what a listener adapts to: the overall level,
    a fixed frequency response (the reference is filtered by the per-band ratio of the two
    signals' powers over the speech frames, within +-20 dB) and slow gain changes (each
    degraded frame is scaled by the smoothed ratio of the two frames' powers). Then loudness
    by Zwicker's power law (exponent 0.23) and each frame's disturbance: the loudness
    difference less a dead zone of a quarter of the smaller loudness, summed over bands with
    an L2 norm (symmetric) and, weighted by how much louder the degraded band is, an L1 norm
    (asymmetric: added noise is heard more than a loss). Its MOS is 4.5 - 0.1 d_sym - 0.0309
    d_asym. The compensation factors are computed without gradient: they only decide which
    differences count. Measured on 10 held-out files, echovox-tiny's codec against Opus at 6
    kbit/s: PESQ-WB ranks Opus first (1.77 against 1.71, Opus ahead on 6 files); this loss
    with the compensations does too (0.026 against 0.028, Opus lower on 7); without them it
    ranks the codec first, as the mel distance does (Opus lower on 1).

    Written here: torch-pesq (the one packaged differentiable PESQ) needs torchaudio and
    torchtyping, which this project does not install. Left out: PESQ's time alignment (a
    codec's output is aligned), its hearing threshold and its frame weighting. Mel bands
    stand in for Bark bands (the two scales nearly agree).
    """

    def __init__(self, sample_rate: int, n_fft: int = 512, n_bands: int = 49):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        # unnormalised triangles: a band's power is the power under it
        fb = mel_filterbank(n_fft, n_bands, sample_rate, norm=None)
        self.register_buffer("fb", fb, persistent=False)

    def bands(self, wav: Tensor) -> Tensor:
        """[B, 1, S] -> band powers [B, frames, bands], float32."""
        x = wav.float().squeeze(1)
        spec = torch.stft(
            x, self.n_fft, self.n_fft // 2, window=self.window, center=True, return_complex=True
        )
        return torch.einsum("bft,fm->btm", spec.real**2 + spec.imag**2, self.fb)

    @staticmethod
    @torch.no_grad()
    def compensation(pf: Tensor, pr: Tensor) -> tuple[Tensor, Tensor]:
        """Band powers [B, T, M] of the degraded and the reference -> (factor for pf [B, T, 1],
        factor for pr [B, 1, M]): PESQ's level, frequency-response and gain compensation."""
        level = pr.sum((1, 2), keepdim=True) / pf.sum((1, 2), keepdim=True).clamp(min=1e-9)
        pf = pf * level
        energy = pr.sum(-1)  # [B, T]; speech frames: within 30 dB of the loudest
        speech = (energy > energy.amax(1, keepdim=True) * 1e-3).float()[..., None]
        response = ((pf * speech).sum(1) + 1e-3) / ((pr * speech).sum(1) + 1e-3)
        response = response.clamp(0.01, 100)[:, None]  # +-20 dB
        ratio = (pr * response).sum(-1) + 1e-4
        ratio = (ratio / (pf.sum(-1) + 1e-4)).clamp(3e-4, 5)  # [B, T]
        gain = torch.empty_like(ratio)
        smooth = torch.ones_like(ratio[:, 0])
        for t in range(ratio.shape[1]):  # PESQ's first-order smoothing, 0.8 / 0.2
            smooth = 0.8 * smooth + 0.2 * ratio[:, t]
            gain[:, t] = smooth
        return (level * gain[..., None]), response

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        with torch.autocast(device_type=fake.device.type, enabled=False):
            pf, pr = self.bands(fake), self.bands(real)
            fake_gain, response = self.compensation(pf, pr)
            pf, pr = pf * fake_gain, pr * response
            eps = 1e-6  # the power law's slope is infinite at 0
            lf, lr = (pf + eps) ** 0.23 - eps**0.23, (pr + eps) ** 0.23 - eps**0.23
            diff = lf - lr
            dead = 0.25 * torch.minimum(lf, lr)
            d = torch.sign(diff) * F.relu(diff.abs() - dead)
            sym = d.pow(2).mean(-1).add(1e-12).sqrt()  # [B, frames]
            with torch.no_grad():  # PESQ's asymmetry factor, a weight here
                h = ((pf + 50 * eps) / (pr + 50 * eps)) ** 1.2
                h = torch.where(h < 3, torch.zeros_like(h), h.clamp(max=12))
            asym = (d.abs() * h).mean(-1)
            return (0.1 * sym + 0.0309 * asym).mean()


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
