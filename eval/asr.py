"""Speech recognisers: WER in `echovox eval`, the prompt transcript when `prompt_text=None`,
the demo's Transcribe button, and the recipes' transcription stage.

Backends:
  pocketsphinx   offline; the pip package ships an English acoustic model and dictionary.
  transformers   any Whisper or CTC (HuBERT, wav2vec 2.0) checkpoint by hub id or local path,
                 through `transformers.pipeline`, for users whose machine can get the weights.

Each backend has .name, .model and .transcribe(list of 16 kHz mono [S]) -> list[str]. Only the
offline backend is used automatically; a Whisper/CTC model needs weights the user provides, so
it is opt-in by name.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from echovox.audio import resample

from .errors import AsrUnavailableError

ASR_SR = 16_000
ASR_BACKENDS = ("pocketsphinx", "transformers")


class PocketSphinxAsr:
    name = "pocketsphinx"

    def __init__(self, model: str | None = None):
        from pocketsphinx import Decoder

        # model=None: the English model bundled in the wheel; else a folder with the
        # same layout (acoustic model dir + dict + lm) for other languages
        self._kwargs = {"samprate": ASR_SR, "logfn": "/dev/null"}
        if model:
            self._kwargs["hmm"] = model
        self._decoder_class = Decoder
        Decoder(**self._kwargs)  # a bad model folder fails here, not at the first utterance
        self.model = model or "pocketsphinx-en-us (bundled)"

    def transcribe(self, wavs: list[np.ndarray]) -> list[str]:
        out = []
        for wav in wavs:
            pcm = (np.clip(wav, -1, 1) * 32767).astype(np.int16)
            # A fresh decoder per utterance: one decoder reused across utterances carries
            # state from one to the next (its hypotheses for the same audio changed with what
            # it had heard before, and resetting its CMN did not stop that), so a WER would
            # depend on the order of a list. Loading one costs about 0.2 s against about
            # 1.4 s to decode 9 s of speech.
            decoder = self._decoder_class(**self._kwargs)
            decoder.start_utt()
            decoder.process_raw(pcm.tobytes(), full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
            out.append(hyp.hypstr if hyp is not None else "")
        return out


class TransformersAsr:
    """Whisper (seq2seq) or CTC models via the transformers ASR pipeline. device: "auto"
    (CUDA when present), "cpu", "cuda" or "cuda:N"."""

    name = "transformers"

    def __init__(self, model: str, device: str = "auto", batch_size: int = 8):
        if not model:
            raise ValueError("asr.backend=transformers needs asr.model (a hub id or a folder)")
        import torch
        from transformers import pipeline

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = model
        self.batch_size = batch_size
        self.pipe = pipeline("automatic-speech-recognition", model=model, device=device)
        self.is_whisper = self.pipe.model.config.model_type == "whisper"

    def transcribe(self, wavs: list[np.ndarray]) -> list[str]:
        inputs = [{"raw": w, "sampling_rate": ASR_SR} for w in wavs]
        kwargs = {"batch_size": self.batch_size}
        if self.is_whisper:
            kwargs["generate_kwargs"] = {"language": "en", "task": "transcribe"}
        return [r["text"].strip() for r in self.pipe(inputs, **kwargs)]


def load_asr(backend: str, model: str | None = None, device: str = "cpu"):
    """A recogniser by backend name (ASR_BACKENDS), for `echovox eval run`."""
    if backend == "pocketsphinx":
        try:
            return PocketSphinxAsr(model)
        except ImportError as err:
            raise AsrUnavailableError(
                "the pocketsphinx backend needs: pip install pocketsphinx"
            ) from err
    if backend == "transformers":
        if not model:
            raise ValueError("--asr transformers needs --asr_model (a Whisper or CTC folder)")
        return TransformersAsr(model, device=device, batch_size=8)
    raise ValueError(f"asr must be one of {ASR_BACKENDS}, got {backend!r}")


@lru_cache(maxsize=1)
def available_backend() -> str | None:
    """'pocketsphinx' when it can be imported, else None."""
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return None
    return "pocketsphinx"


class PromptTranscriber:
    """The Synthesizer's recogniser for prompts without a transcript: built on first use,
    calls serialised (decoders are not thread-safe)."""

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
