"""Speaker-embedding backends for evaluation: SIM-o and speaker identification.

    enc = load_speaker_encoder("resemblyzer")        # offline: its weights ship in the wheel
    enc = load_speaker_encoder("wavlm", "path/to/wavlm-base-plus-sv")   # WavLMForXVector
    e = enc.embed(wav, sample_rate)                  # [D] float32, unit length
    cosine(e1, e2)

Every embedding is L2-normalised, so a dot product is the cosine similarity and centroids of
unit vectors are comparable across backends. Papers report SIM-o with a WavLM-TDNN verifier;
resemblyzer (a GE2E LSTM) is the one that works offline here, and its scores are on a
different scale (same-speaker pairs are typically 0.8-0.95), so compare numbers only within
one backend, which is why every result records the backend and model that made it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from echovox.audio import AudioError, resample, to_mono

from .errors import SpeakerBackendError

EMBED_SR = 16_000
BACKENDS = ("resemblyzer", "wavlm")
# resemblyzer's VAD may cut a short or noisy clip down to almost nothing; below this much
# voiced audio the untrimmed clip gives the steadier embedding
MIN_VOICED_SECONDS = 0.5
SILENT_PEAK = 1e-4  # -80 dBFS, the threshold echovox.audio uses for silence


class SpeakerEncoder:
    """Base: `embed` maps mono audio at any rate to a unit-length [D] float32 vector."""

    name: str = ""
    model: str = ""

    def embed(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """Raises AudioError for silent audio: it has no speaker, and resemblyzer's volume
        normalisation turns it into NaN."""
        wav = resample(to_mono(wav), sample_rate, EMBED_SR)
        if wav.size == 0 or float(np.abs(wav).max()) < SILENT_PEAK:
            raise AudioError("silent audio has no speaker embedding")
        emb = _unit(self._embed(wav))
        if not np.isfinite(emb).all():
            raise AudioError(f"the {self.name} speaker embedding is not finite")
        return emb

    def _embed(self, wav16: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class ResemblyzerEncoder(SpeakerEncoder):
    name = "resemblyzer"

    def __init__(self, device: str = "cpu") -> None:
        try:
            from resemblyzer import VoiceEncoder, preprocess_wav
        except ImportError as err:
            hint = (
                # webrtcvad 2.0.10 (resemblyzer's stated dependency) imports pkg_resources,
                # which current setuptools no longer ships; webrtcvad-wheels provides the same
                # module without it, and wins when it is installed after webrtcvad
                "reinstall the VAD: pip install --force-reinstall --no-deps webrtcvad-wheels"
                if "pkg_resources" in str(err)
                else "install it with: pip install 'echovox[eval]' (resemblyzer, webrtcvad-wheels)"
            )
            raise SpeakerBackendError(f"resemblyzer cannot be imported ({err}); {hint}") from err
        self._preprocess = preprocess_wav
        self.encoder = VoiceEncoder(device=device, verbose=False)
        self.model = "resemblyzer-ge2e (bundled pretrained.pt)"

    def _embed(self, wav16: np.ndarray) -> np.ndarray:
        voiced = self._preprocess(wav16)  # volume normalisation + long-silence trimming
        if len(voiced) < MIN_VOICED_SECONDS * EMBED_SR:
            voiced = wav16
        return np.asarray(self.encoder.embed_utterance(voiced.astype(np.float32)))


class WavLMEncoder(SpeakerEncoder):
    """transformers' WavLMForXVector (e.g. microsoft/wavlm-base-plus-sv) from a local folder;
    the x-vector head's `embeddings` output is the speaker embedding."""

    name = "wavlm"

    def __init__(self, model: str | Path, device: str = "cpu") -> None:
        if not model:
            raise SpeakerBackendError(
                "the wavlm backend needs --speaker_model: a folder saved with "
                "WavLMForXVector.save_pretrained (e.g. a copy of microsoft/wavlm-base-plus-sv)"
            )
        from transformers import AutoFeatureExtractor, Wav2Vec2FeatureExtractor, WavLMForXVector

        try:
            self.net = WavLMForXVector.from_pretrained(str(model)).eval().to(device)
        except (OSError, ValueError) as err:
            raise SpeakerBackendError(f"cannot load WavLMForXVector from {model}: {err}") from err
        try:
            self.extractor = AutoFeatureExtractor.from_pretrained(str(model))
        except (OSError, ValueError):
            # a checkpoint saved without its preprocessor config: the published sv models use
            # exactly these settings
            self.extractor = Wav2Vec2FeatureExtractor(
                feature_size=1,
                sampling_rate=EMBED_SR,
                padding_value=0.0,
                do_normalize=True,
                return_attention_mask=True,
            )
        self.device = device
        self.model = str(model)

    def _embed(self, wav16: np.ndarray) -> np.ndarray:
        import torch

        inputs = self.extractor(wav16, sampling_rate=EMBED_SR, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with torch.inference_mode():
            emb = self.net(**inputs).embeddings[0]
        return emb.float().cpu().numpy()


def load_speaker_encoder(
    backend: str = "resemblyzer", model: str | Path | None = None, device: str = "cpu"
) -> SpeakerEncoder:
    """A SpeakerEncoder by backend name. Raises SpeakerBackendError with an install hint."""
    if backend == "resemblyzer":
        return ResemblyzerEncoder(device=device)
    if backend == "wavlm":
        return WavLMEncoder(model or "", device=device)
    raise SpeakerBackendError(f"speaker encoder must be one of {BACKENDS}, got {backend!r}")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two [D] vectors (0 when either is all zeros)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v
