"""Prompt transcription for `prompt_text=None`, through the recipes' ASR backends.

Only the offline backend is used automatically (pocketsphinx ships its English model in the
wheel); a Whisper/CTC model needs weights the user has to provide, so it is opt-in by name.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from echovox.audio import resample

from .errors import AsrUnavailableError

ASR_SR = 16_000


@lru_cache(maxsize=1)
def available_backend() -> str | None:
    """'pocketsphinx' when it can be imported, else None."""
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return None
    return "pocketsphinx"


class PromptTranscriber:
    """Lazily builds one recogniser and serialises calls (decoders are not thread-safe)."""

    def __init__(self, backend: str | None = "auto", model: str | None = None) -> None:
        self.backend = available_backend() if backend == "auto" else backend
        self.model = model
        self._impl = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self.backend is not None

    def _get(self):
        if self._impl is None:
            from echovox.recipes.asr import PocketSphinxAsr, TransformersAsr

            if self.backend == "pocketsphinx":
                self._impl = PocketSphinxAsr(self.model)
            elif self.backend == "transformers":
                self._impl = TransformersAsr(self.model or "", device="auto", batch_size=1)
            else:
                raise AsrUnavailableError(f"unknown ASR backend {self.backend!r}")
        return self._impl

    def transcribe(self, wav: np.ndarray, sr: int, language: str = "en-us") -> str:
        """Mono [S] float32 -> text ('' when nothing was recognised)."""
        if self.backend == "pocketsphinx" and self.model is None and not language.startswith("en"):
            raise AsrUnavailableError(
                f"the offline recogniser only knows English, the model speaks {language!r}: "
                "pass prompt_text='what is said in the prompt' (CLI: --prompt_text)"
            )
        if not self.available:
            raise AsrUnavailableError(
                "no speech recogniser is installed to transcribe the prompt: pass "
                "prompt_text='what is said in the prompt' (CLI: --prompt_text), or "
                "`pip install pocketsphinx` for offline English transcription"
            )
        with self._lock:
            text = self._get().transcribe([resample(wav, sr, ASR_SR)])[0]
        return " ".join(text.split())
