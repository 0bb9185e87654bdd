"""Codec quality metrics: mel distance, SI-SDR, STOI, PESQ-WB, codebook utilisation, and an
Opus reference at a matching bitrate (opusenc/opusdec from Debian's opus-tools)."""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

# Opus's lowest bitrate for one channel (opusenc --bitrate accepts 6-256 kbit/s per channel)
OPUS_MIN_KBPS = 6.0


def si_sdr(estimate: Tensor, reference: Tensor, eps: float = 1e-8) -> Tensor:
    """Scale-invariant SDR in dB over the last axis. [..., S] x [..., S] -> [...]."""
    est = estimate.float() - estimate.float().mean(-1, keepdim=True)
    ref = reference.float() - reference.float().mean(-1, keepdim=True)
    alpha = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    target = alpha * ref
    noise = est - target
    return 10 * torch.log10((target.pow(2).sum(-1) + eps) / (noise.pow(2).sum(-1) + eps))


_MEL_CACHE: dict[int, torch.nn.Module] = {}


def mel_distance(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """Mean L1 distance between log-mel spectrograms (80 bands, 1024-point FFT, natural log)."""
    from .losses import MelSpectrogram

    if sample_rate not in _MEL_CACHE:
        n_fft = 1024 if sample_rate >= 16000 else 512
        _MEL_CACHE[sample_rate] = MelSpectrogram(sample_rate, n_fft, 80, n_fft // 4)
    mel = _MEL_CACHE[sample_rate]
    n = min(len(estimate), len(reference))
    a = mel(torch.from_numpy(np.ascontiguousarray(estimate[:n]))[None, None])
    b = mel(torch.from_numpy(np.ascontiguousarray(reference[:n]))[None, None])
    return float((torch.log(a + 1e-5) - torch.log(b + 1e-5)).abs().mean())


def stoi(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    from pystoi import stoi as _stoi

    n = min(len(estimate), len(reference))
    return float(_stoi(reference[:n], estimate[:n], sample_rate, extended=False))


def pesq_wb(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """Wide-band PESQ (MOS-LQO); both signals are resampled to 16 kHz first. NaN if PESQ
    cannot score the pair (e.g. no speech detected)."""
    from pesq import pesq

    from echovox.audio import resample

    ref = resample(reference.astype(np.float32), sample_rate, 16000)
    est = resample(estimate.astype(np.float32), sample_rate, 16000)
    n = min(len(ref), len(est))
    try:
        return float(pesq(16000, ref[:n], est[:n], "wb"))
    except Exception:  # pesq raises its own error types for silent or too-short input
        return float("nan")


def codebook_usage(codes: list[Tensor] | Tensor, codebook_size: int) -> list[dict[str, float]]:
    """Per codebook over all frames: perplexity (exp entropy of the code histogram), the number
    and fraction of codes used. codes: [B, Q, T] or a list of [1, Q, T_i]."""
    if isinstance(codes, Tensor):
        codes = [codes]
    Q = codes[0].shape[1]
    out = []
    for q in range(Q):
        flat = torch.cat([c[:, q].reshape(-1) for c in codes])
        hist = torch.bincount(flat, minlength=codebook_size).double()
        p = hist / hist.sum()
        entropy = float(-(p[p > 0] * p[p > 0].log()).sum())
        used = int((hist > 0).sum())
        out.append(
            {
                "perplexity": math.exp(entropy),
                "used": used,
                "used_fraction": used / codebook_size,
                "dead_fraction": 1 - used / codebook_size,
            }
        )
    return out


def opus_available() -> bool:
    return shutil.which("opusenc") is not None and shutil.which("opusdec") is not None


def opus_roundtrip(wav: np.ndarray, sample_rate: int, kbps: float) -> tuple[np.ndarray, float]:
    """Encode and decode mono float audio with Opus at `kbps` (clamped to Opus's minimum).
    Returns (decoded audio at `sample_rate`, the bitrate actually used in kbit/s)."""
    import soundfile as sf

    if not opus_available():
        raise RuntimeError("opusenc/opusdec not found: apt-get install opus-tools")
    used = max(OPUS_MIN_KBPS, float(kbps))
    with tempfile.TemporaryDirectory() as tmp:
        src, enc, dec = Path(tmp) / "in.wav", Path(tmp) / "x.opus", Path(tmp) / "out.wav"
        sf.write(str(src), np.clip(wav, -1, 1), sample_rate, subtype="PCM_16")
        subprocess.run(
            ["opusenc", "--quiet", "--bitrate", f"{used:.2f}", "--hard-cbr", str(src), str(enc)],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["opusdec", "--quiet", "--rate", str(sample_rate), str(enc), str(dec)],
            check=True,
            capture_output=True,
        )
        out, sr = sf.read(str(dec), dtype="float32")
    if out.ndim == 2:
        out = out.mean(axis=1)
    if sr != sample_rate:
        from echovox.audio import resample

        out = resample(out, sr, sample_rate)
    # opusdec drops the encoder's pre-skip, so the output is aligned with the input
    out = out[: len(wav)]
    if len(out) < len(wav):
        out = np.pad(out, (0, len(wav) - len(out)))
    return out, used


def quality(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> dict[str, float]:
    """All per-file metrics for one decoded signal."""
    n = min(len(estimate), len(reference))
    est, ref = estimate[:n], reference[:n]
    return {
        "mel_distance": mel_distance(est, ref, sample_rate),
        "si_sdr": float(si_sdr(torch.from_numpy(est), torch.from_numpy(ref))),
        "stoi": stoi(est, ref, sample_rate),
        "pesq_wb": pesq_wb(est, ref, sample_rate),
    }
