"""Nearest-neighbour matching of codec latents to a reference voice's latents, and of a
waveform's spectral envelope to a reference's (`match_spectrum`).

kNN-VC (Baas, van Niekerk and Kamper, 2023) converts a voice by replacing each frame of the
source's features with the mean of its k nearest frames (cosine) among the target speaker's:
the frames that replace it are the target's own, so they carry the target's voice. Here the
features are the codec's latents (sums of codebook vectors) and the reference is the voice
prompt. Why it helps a VALL-E model: the NAR predicts the residual codebooks, which carry much
of the voice, poorly (echovox-tiny's NAR decodes them as expected vectors, pulled towards the
mean voice), while the prompt's latents hold them exactly.

Written here rather than taken from a library: kNN-VC ships as a torch.hub model over WavLM
features, not as a package, and the matching itself is a few lines of torch.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor


def match_latents(
    latent: Tensor,
    reference: Tensor,
    k: int = 4,
    weight: float = 0.5,
) -> Tensor:
    """latent [B, D, T], reference [B, D, P] -> [B, D, T]: each frame moved `weight` of the
    way to the mean of its k nearest reference frames by cosine similarity (weight 0: the
    latent unchanged; 1: replaced). k is capped at P."""
    if latent.dim() != 3 or reference.dim() != 3:
        raise ValueError(
            f"latent and reference must be [B, D, T] and [B, D, P], got "
            f"{tuple(latent.shape)} and {tuple(reference.shape)}"
        )
    if latent.shape[:2] != reference.shape[:2]:
        raise ValueError(
            f"latent {tuple(latent.shape)} and reference {tuple(reference.shape)} differ in "
            "batch or latent size"
        )
    if reference.shape[2] == 0:
        raise ValueError("the reference has no frames to match against")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    if weight == 0.0 or latent.shape[2] == 0:
        return latent
    ref = reference.to(latent.dtype).transpose(1, 2)  # [B, P, D]
    sim = torch.nn.functional.normalize(latent.transpose(1, 2), dim=-1) @ (
        torch.nn.functional.normalize(ref, dim=-1)
    ).transpose(1, 2)  # [B, T, P]
    idx = sim.topk(min(k, ref.shape[1]), dim=-1, sorted=True).indices  # [B, T, k]
    rows = torch.arange(ref.shape[0], device=ref.device)[:, None, None]
    neighbours = ref[rows, idx]  # [B, T, k, D]
    matched = neighbours.mean(2).transpose(1, 2)  # [B, D, T]
    return torch.lerp(latent, matched, weight)


# Frames quieter than this below an utterance's loudest frame are pauses, left out of its
# long-term spectrum and of the frames matched (a pause's spectrum is the noise floor's, not the
# voice's).
SPECTRUM_FLOOR_DB = 40.0


def _stft_frame(sample_rate: int) -> int:
    """A power-of-two window of about 32 ms: several pitch periods, one phone."""
    return 1 << max(6, round(math.log2(0.032 * sample_rate)))


@functools.lru_cache(maxsize=8)
def _band_filters(n_fft: int, bands: int, sample_rate: int) -> Tensor:
    """[F, bands] unnormalised mel triangles (built once per setting: transformers builds them
    in numpy)."""
    from .losses import mel_filterbank

    return mel_filterbank(n_fft, bands, sample_rate, norm=None)


def _stft(wav: Tensor, n_fft: int) -> Tensor:
    """[S] -> complex STFT [n_fft // 2 + 1, frames], Hann window, hop n_fft / 4 (what
    `match_spectrum` inverts with the same window and hop)."""
    window = torch.hann_window(n_fft, device=wav.device)
    return torch.stft(wav.float(), n_fft, n_fft // 4, window=window, return_complex=True)


def _power_spectrogram(wav: Tensor, n_fft: int) -> Tensor:
    """[S] -> |STFT|^2 [n_fft // 2 + 1, frames] (_stft)."""
    return _stft(wav, n_fft).abs().square()


def _speech_frames(power: Tensor) -> Tensor | None:
    """[F, frames] power -> bool [frames], the frames within SPECTRUM_FLOOR_DB of the
    loudest; None when every frame is silent."""
    energy = power.sum(0)
    if not bool(energy.max() > 0):
        return None
    return energy >= energy.max() * 10 ** (-SPECTRUM_FLOOR_DB / 10)


def _ltas_db(power: Tensor, speech: Tensor) -> Tensor:
    return 10 * torch.log10(power[:, speech].mean(1) + 1e-10)


def long_term_spectrum(wav: Tensor, sample_rate: int) -> Tensor | None:
    """[S] waveform -> its long-term average power spectrum in dB [n_fft // 2 + 1], over the
    frames within SPECTRUM_FLOOR_DB of its loudest; None when it is silent or shorter than
    one analysis window."""
    n_fft = _stft_frame(sample_rate)
    if wav.numel() < n_fft:
        return None
    power = _power_spectrogram(wav, n_fft)
    speech = _speech_frames(power)
    return None if speech is None else _ltas_db(power, speech)


def match_spectrum(
    wav: Tensor,
    reference: Tensor,
    sample_rate: int,
    weight: float = 0.7,
    bands: int = 64,
    max_db: float = 12.0,
    frame_weight: float = 0.0,
    k: int = 4,
) -> Tensor:
    """wav, reference: [S] and [P] mono waveforms -> [S]: wav with its spectral envelope moved
    towards the reference's, at wav's own RMS level, in up to two steps on `bands` mel bands
    (each gain capped at +-max_db):

    1. frame_weight > 0: each speech frame's band levels (dB) move `frame_weight` of the way
       to the mean of the k reference speech frames nearest to them (Euclidean distance over
       the bands' dB): kNN-VC's matching step (`match_latents`) on the spectral envelope
       instead of the codec's latents;
    2. weight > 0: then a fixed filter moves the long-term spectrum `weight` of the way to the
       reference's.

    Why: the output's timbre drifts from the prompt's in ways the matching of codec latents
    leaves (the decoder renders the NAR's expected latents too flat, and the codec has its own
    colour), and a speaker encoder hears that drift. Step 2 is linear and time-invariant, the
    equaliser step of spectral voice conversion; step 1 varies with the sound, as the voice's
    formants do, and takes each frame's target from the reference frames that sound most like
    it, so the phone stays. Both change magnitudes only and keep wav's phase. Mel bands
    rather than single bins: a 3-s prompt's spectrum is noisy bin by bin, and the harmonics
    of its pitch would be imprinted on the output. Written here rather than taken from a
    library: it is an STFT, a filterbank (transformers' mel filters), a nearest-neighbour
    search and a mean, a few dozen lines of torch.

    Returns wav unchanged when both weights are 0, or when either signal is silent or shorter
    than the analysis window (about 32 ms); raises ValueError for non-finite samples."""
    _check_spectrum_args(wav, reference, weight, frame_weight, bands, max_db, k)
    n_fft = _stft_frame(sample_rate)
    if (weight == 0.0 and frame_weight == 0.0) or min(wav.numel(), reference.numel()) < n_fft:
        return wav
    x = wav.float()
    spec = _stft(x, n_fft)  # [F, T]
    power = spec.abs().square()
    ref_power = _power_spectrogram(reference.to(wav.device), n_fft)
    speech, ref_speech = _speech_frames(power), _speech_frames(ref_power)
    if speech is None or ref_speech is None:
        return wav
    fb = _band_filters(n_fft, bands, sample_rate).to(wav.device)  # [F, B]
    to_bins = fb / fb.sum(1, keepdim=True).clamp_min(1e-9)  # band gains -> bin gains
    gain_db = torch.zeros_like(power)  # [F, T]
    if frame_weight > 0:
        frame_gain = _frame_gains_db(power, speech, ref_power[:, ref_speech], fb, frame_weight, k)
        gain_db = gain_db + (to_bins @ frame_gain.clamp(-max_db, max_db).T)
    if weight > 0:
        shaped = power * 10 ** (gain_db / 10)
        diff = _ltas_db(ref_power, ref_speech) - _ltas_db(shaped, speech)  # [F]
        band_diff = (diff @ fb) / fb.sum(0).clamp_min(1e-9)  # each band's mean difference
        gain_db = gain_db + (weight * (to_bins @ band_diff)).clamp(-max_db, max_db)[:, None]
    spec = spec * 10 ** (gain_db / 20)
    window = torch.hann_window(n_fft, device=wav.device)
    y = torch.istft(spec, n_fft, n_fft // 4, window=window, length=x.numel())
    rms_in, rms_out = x.square().mean().sqrt(), y.square().mean().sqrt()
    if bool(rms_out > 0):
        y = y * (rms_in / rms_out)
    return y.to(wav.dtype)


def _frame_gains_db(power, speech, ref_speech_power, fb, frame_weight: float, k: int) -> Tensor:
    """Step 1 of `match_spectrum`: per frame [T, B], `frame_weight` of the way from its band
    levels (dB) to the mean of its k nearest reference speech frames'; 0 in pauses, whose
    nearest frames are speech."""

    def band_db(p: Tensor) -> Tensor:  # [F, T] power -> [T, B] band levels in dB
        return 10 * torch.log10(p.T @ fb + 1e-10)

    own = band_db(power)  # [T, B]
    ref = band_db(ref_speech_power)  # [P, B]
    nearest = torch.cdist(own, ref).topk(min(k, ref.shape[0]), largest=False).indices
    gain = frame_weight * (ref[nearest].mean(1) - own)
    gain[~speech] = 0.0
    return gain


def _check_spectrum_args(wav, reference, weight, frame_weight, bands, max_db, k) -> None:
    if wav.dim() != 1 or reference.dim() != 1:
        raise ValueError(
            f"wav and reference must be 1-D waveforms, got {tuple(wav.shape)} and "
            f"{tuple(reference.shape)}"
        )
    for name, value in (("weight", weight), ("frame_weight", frame_weight)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if bands < 2:
        raise ValueError(f"bands must be at least 2, got {bands}")
    if max_db <= 0:
        raise ValueError(f"max_db must be positive, got {max_db}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    for name, signal in (("wav", wav), ("reference", reference)):
        if not bool(torch.isfinite(signal).all()):
            raise ValueError(f"{name} holds NaN or infinite samples")
