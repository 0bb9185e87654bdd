"""Voice-prompt conditioning: any file or array -> a short, level, mono prompt at the codec rate.

The AR model continues the prompt, so whatever the prompt ends with leaks into the output:
trailing silence makes it start late, a cut mid-word makes it start with half a phoneme, and a
whisper-quiet recording makes it whisper. Hence: trim silence at both ends, normalise loudness,
and when the prompt is too long cut it at the quietest frame near the limit, not at a fixed
sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echovox.audio import AudioError, load_audio, prepare_waveform
from echovox.model_dir import PromptConfig

FRAME_SECONDS = 0.02  # analysis frame for energy: one syllable spans several
SILENT_DBFS = -60.0  # a prompt whose loudest frame is below this has no usable voice
CUT_SEARCH_SECONDS = 0.75  # look this far back from the length limit for a quiet cut point
EDGE_MARGIN_SECONDS = 0.05  # keep this much around trimmed speech so onsets are not clipped
FADE_SECONDS = 0.01

PromptInput = str | Path | np.ndarray | tuple


@dataclass
class PreparedPrompt:
    """waveform: [S] float32 at sample_rate, trimmed and loudness-normalised.
    source_seconds: duration of the sound (silence trimmed) before the length cut;
    kept_seconds: what remains after it. kept < source means the prompt was shortened."""

    waveform: np.ndarray
    sample_rate: int
    source_seconds: float
    kept_seconds: float

    @property
    def trimmed(self) -> bool:
        return self.kept_seconds < self.source_seconds - 1e-6

    @property
    def seconds(self) -> float:
        return len(self.waveform) / self.sample_rate


def read_prompt(prompt: PromptInput, target_sr: int, sample_rate: int | None = None) -> np.ndarray:
    """A path, an array with `sample_rate`, or a pair (array, rate) / (rate, array) as Gradio
    gives it -> mono [S] float32 at target_sr. Raises AudioError on anything unusable."""
    if prompt is None:
        raise AudioError("no voice prompt given: pass a path to a recording or (array, rate)")
    if isinstance(prompt, (str, Path)):
        return load_audio(prompt, target_sr, what="prompt")
    if isinstance(prompt, tuple):
        if len(prompt) != 2:
            raise AudioError("a prompt tuple must be (array, sample_rate)")
        a, b = prompt
        wav, sr = (b, a) if isinstance(a, (int, np.integer)) else (a, b)
    else:
        wav, sr = prompt, sample_rate
    if sr is None:
        raise AudioError("a prompt array needs its sample rate (sample_rate=...)")
    wav = np.asarray(wav)
    if wav.dtype.kind in "iu":  # integer PCM (Gradio's numpy audio): scale to [-1, 1]
        wav = wav.astype(np.float32) / float(np.iinfo(wav.dtype).max)
    elif wav.dtype.kind != "f":
        raise AudioError(f"prompt array must hold numbers, got dtype {wav.dtype}")
    if wav.ndim == 2 and wav.shape[0] < wav.shape[1] and wav.shape[0] <= 8:
        wav = wav.T  # [C, S] (torch layout) -> [S, C]
    return prepare_waveform(wav, sr, target_sr, what="prompt")


def frame_db(wav: np.ndarray, sr: int) -> np.ndarray:
    """RMS level of consecutive FRAME_SECONDS frames, in dBFS. [S] -> [F]."""
    n = max(1, int(sr * FRAME_SECONDS))
    F = max(1, len(wav) // n)
    frames = wav[: F * n].reshape(F, n) if len(wav) >= n else wav[None]
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-10))


def sound_span(
    wav: np.ndarray, sr: int, silence_db: float, margin_seconds: float, db: np.ndarray | None = None
) -> tuple[int, int]:
    """[a, b): the samples from the first to the last FRAME_SECONDS frame within `silence_db`
    of the loudest one, widened by `margin_seconds` each side. `db`: frame_db(wav, sr), if the
    caller has it."""
    n = max(1, int(sr * FRAME_SECONDS))
    db = frame_db(wav, sr) if db is None else db
    active = db > float(db.max()) - silence_db
    first = int(np.argmax(active))
    last = len(active) - int(np.argmax(active[::-1]))  # one past the last active frame
    margin = int(margin_seconds * sr)
    return max(0, first * n - margin), min(len(wav), last * n + margin)


def trim_silent_edges(wav: np.ndarray, sr: int, silence_db: float, margin_seconds: float):
    """`wav` without the silence before its first and after its last sound (as sound_span
    finds them); a silent `wav` (loudest frame under SILENT_DBFS) comes back whole."""
    if len(wav) == 0:
        return wav
    db = frame_db(wav, sr)
    if float(db.max()) < SILENT_DBFS:
        return wav
    a, b = sound_span(wav, sr, silence_db, margin_seconds, db)
    return wav[a:b]


def condition_prompt(wav: np.ndarray, sr: int, cfg: PromptConfig) -> PreparedPrompt:
    """Trim silent ends, reject short/silent prompts, normalise loudness, cut to cfg.seconds."""
    if len(wav) < cfg.min_seconds * sr:
        raise AudioError(
            f"prompt is {len(wav) / sr:.2f} s long; it needs at least {cfg.min_seconds:g} s "
            "of speech"
        )
    n = max(1, int(sr * FRAME_SECONDS))
    db = frame_db(wav, sr)
    loudest = float(db.max())
    if loudest < SILENT_DBFS:
        raise AudioError(
            f"prompt is silent (loudest frame {loudest:.0f} dBFS); record or upload speech"
        )
    a, b = sound_span(wav, sr, cfg.silence_db, EDGE_MARGIN_SECONDS, db)
    wav = wav[a:b]
    source_seconds = len(wav) / sr
    if source_seconds < cfg.min_seconds:
        raise AudioError(
            f"prompt has only {source_seconds:.2f} s of sound once silence is trimmed; it needs "
            f"at least {cfg.min_seconds:g} s of speech"
        )

    # loudness: RMS of the speech frames only, so pauses do not pull the gain up
    db = frame_db(wav, sr)
    speech = db > loudest - cfg.silence_db
    speech_rms = np.sqrt(np.mean(10 ** (db[speech] / 10))) if speech.any() else 1e-10
    gain = 10 ** (cfg.target_dbfs / 20) / max(speech_rms, 1e-10)
    peak = float(np.abs(wav).max())
    gain = min(gain, 0.99 / max(peak, 1e-10))  # never clip
    wav = (wav * gain).astype(np.float32)

    limit = int(cfg.seconds * sr)
    if len(wav) > limit:
        lo = max(int(cfg.min_seconds * sr), limit - int(CUT_SEARCH_SECONDS * sr)) // n
        hi = max(lo + 1, limit // n)
        window = db[lo:hi]
        cut_frame = lo + int(np.argmin(window))
        # cut in the middle of the quietest frame, but never beyond the limit
        cut = min(limit, cut_frame * n + n // 2)
        wav = wav[:cut].copy()
        fade = min(len(wav), int(FADE_SECONDS * sr))
        wav[len(wav) - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return PreparedPrompt(
        waveform=wav, sample_rate=sr, source_seconds=source_seconds, kept_seconds=len(wav) / sr
    )


def shorten_transcript(text: str, kept_fraction: float) -> str:
    """The words of `text` in proportion to the audio kept. Approximate by nature (speech rate
    varies), which is why callers warn, and why `prompt_text=None` (transcribing the trimmed
    audio) is exact."""
    words = text.split()
    keep = max(1, round(len(words) * min(1.0, max(0.0, kept_fraction))))
    return " ".join(words[:keep])
