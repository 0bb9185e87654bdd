"""Log-magnitude spectrogram images for the demo, in numpy alone.

Written here rather than with matplotlib: an image of a few hundred pixels needs an STFT and a
colour map, not a plotting library and its font cache.
"""

from __future__ import annotations

import numpy as np

# anchor colours of a perceptually ordered dark-blue -> yellow map (viridis-like)
_ANCHORS = np.array(
    [
        [68, 1, 84],
        [59, 82, 139],
        [33, 145, 140],
        [94, 201, 98],
        [253, 231, 37],
    ],
    dtype=np.float32,
)


def colormap(x: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB, shape [..., 3]."""
    x = np.clip(x, 0.0, 1.0) * (len(_ANCHORS) - 1)
    lo = np.floor(x).astype(int).clip(0, len(_ANCHORS) - 2)
    frac = (x - lo)[..., None]
    rgb = _ANCHORS[lo] * (1 - frac) + _ANCHORS[lo + 1] * frac
    return rgb.astype(np.uint8)


def spectrogram_image(
    wav: np.ndarray,
    sr: int,
    *,
    height: int = 160,
    frames_per_second: int = 100,
    dynamic_range_db: float = 80.0,
) -> np.ndarray:
    """[S] float audio -> uint8 RGB image [height, W, 3], low frequencies at the bottom.

    Magnitudes are in dB relative to the loudest bin, clipped `dynamic_range_db` below it."""
    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    n_fft = 1 << int(np.ceil(np.log2(max(64, sr * 0.032))))  # ~32 ms windows
    hop = max(1, sr // frames_per_second)
    if len(wav) < n_fft:
        wav = np.pad(wav, (0, n_fft - len(wav)))
    n_frames = 1 + (len(wav) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = wav[idx] * np.hanning(n_fft).astype(np.float32)
    mag = np.abs(np.fft.rfft(frames, axis=1)).T  # [F, T]
    db = 20 * np.log10(np.maximum(mag, 1e-8))
    db = np.maximum(db, db.max() - dynamic_range_db)
    norm = (db - db.min()) / max(float(db.max() - db.min()), 1e-6)
    # resample the frequency axis to `height` rows by nearest bin
    rows = np.linspace(0, norm.shape[0] - 1, height).round().astype(int)
    img = colormap(norm[rows][::-1])
    return np.ascontiguousarray(img)
