"""Audio loading and conditioning shared by the codec, the recipes and the app.

Every path into a codec goes through `prepare_waveform`, because forgetting to resample or
to mix down before encoding silently ruins quality.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class AudioError(ValueError):
    """Audio that cannot be used: unreadable, empty, NaN, silent, or too short."""


def to_mono(wav: np.ndarray) -> np.ndarray:
    """[S] or [S, C] (soundfile layout) -> [S] float32, channels averaged."""
    wav = np.asarray(wav)
    if wav.ndim == 2:
        wav = wav.mean(axis=1)
    elif wav.ndim != 1:
        raise AudioError(f"expected audio of shape [S] or [S, C], got {wav.shape}")
    return wav.astype(np.float32, copy=False)


def resample(wav: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """High-quality resampling (soxr VHQ) of a mono [S] float32 signal."""
    if sr == target_sr:
        return wav
    import soxr

    return soxr.resample(wav, sr, target_sr, quality="VHQ").astype(np.float32, copy=False)


def prepare_waveform(
    wav: np.ndarray,
    sr: int,
    target_sr: int,
    *,
    min_seconds: float = 0.0,
    allow_silent: bool = True,
    what: str = "audio",
) -> np.ndarray:
    """Mono, finite, resampled [S] float32 at `target_sr`, or a clear `AudioError`.

    Samples beyond [-1, 1] are clipped with no error: formats like float WAV can carry them and
    the codec only needs a bounded signal. NaN or inf is rejected: it has no sensible repair.
    """
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise AudioError(f"{what}: sample rate must be a positive integer, got {sr!r}")
    wav = to_mono(wav)
    if wav.size == 0:
        raise AudioError(f"{what}: no samples")
    if not np.isfinite(wav).all():
        raise AudioError(f"{what}: contains NaN or infinite samples")
    wav = resample(wav, int(sr), target_sr)
    wav = np.clip(wav, -1.0, 1.0)
    if wav.size < min_seconds * target_sr:
        raise AudioError(
            f"{what}: {wav.size / target_sr:.2f} s is shorter than the minimum {min_seconds:.2f} s"
        )
    if not allow_silent and float(np.abs(wav).max()) < 1e-4:
        raise AudioError(f"{what}: is silent (peak below -80 dBFS)")
    return wav


def load_audio(
    path: str | Path,
    target_sr: int,
    *,
    start: float | None = None,
    end: float | None = None,
    **kwargs,
) -> np.ndarray:
    """Read (a span of) a file with soundfile and `prepare_waveform` it. [S] float32."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        info = sf.info(str(path))
        first = int(round((start or 0.0) * info.samplerate))
        last = int(round(end * info.samplerate)) if end is not None else -1
        wav, sr = sf.read(str(path), start=first, stop=None if last < 0 else last, dtype="float32")
    except Exception as err:  # soundfile raises several types for corrupt files
        raise AudioError(f"cannot read audio file {path}: {err}") from err
    kwargs.setdefault("what", str(path))
    return prepare_waveform(wav, sr, target_sr, **kwargs)


def save_audio(path: str | Path, wav: np.ndarray, sr: int) -> Path:
    """Write [S] float32 as 16-bit PCM (wav/flac by suffix), creating parent folders."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(to_mono(wav), -1.0, 1.0), sr, subtype="PCM_16")
    return path
