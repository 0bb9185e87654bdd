"""The Python API: clone a voice from a short prompt.

    tts = Synthesizer.from_pretrained()            # the embedded model, or a model directory
    audio = tts.clone("Text to say.", prompt="me.wav", prompt_text="What I say in me.wav.")
    audio.save("out.wav")

Pipeline per request: condition the prompt (prompt.py), encode it with the codec, phonemise
the prompt transcript and the target text (split into sentence chunks), let the AR model write
codebook 1 of every chunk in one batch, let the NAR fill codebooks 2..Q, decode each chunk and
join the chunks with short pauses.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echovox.audio import AudioError, save_audio
from echovox.checkpoint import CheckpointError
from echovox.model_dir import LoadedModel, PromptConfig, load_model_dir

from .prompt import (
    PromptInput,
    condition_prompt,
    read_prompt,
    shorten_transcript,
    trim_silent_edges,
)

# The embedded default model, echovox-tiny, ships inside the package.
EMBEDDED_MODEL_DIR = Path(__file__).resolve().parent / "pretrained" / "echovox-tiny"
ProgressCallback = Callable[[int, int], None]
EDGE_FADE_SECONDS = 0.005
# silence kept before and after each chunk's sound when text.trim_silence cuts the rest: the
# synthetic corpus's utterances were cut with 0.1 s of it (recipes: segment.pad)
OUTPUT_EDGE_SECONDS = 0.1


class TextError(ValueError):
    """Text that cannot be synthesised: empty, not a string, or nothing speakable."""


ASR_RATE = 16_000  # what the prompt recogniser (Whisper) listens at


@dataclass
class ClonedAudio:
    """waveform: [S] float32 in [-1, 1] at sample_rate. seconds: wall-clock synthesis time;
    rtf: seconds / duration (below 1 is faster than real time). chunks: the normalised text
    of each synthesised chunk; stop_reasons: per chunk, "eos" or "max_frames"."""

    waveform: np.ndarray
    sample_rate: int
    text: str
    chunks: list[str]
    prompt_text: str
    seconds: float
    stop_reasons: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.waveform) / self.sample_rate

    @property
    def rtf(self) -> float:
        return self.seconds / max(self.duration, 1e-9)

    def save(self, path: str | Path) -> Path:
        """Write 16-bit PCM (WAV or FLAC by suffix)."""
        return save_audio(path, self.waveform, self.sample_rate)


@dataclass
class VoicePrompt:
    """A conditioned, encoded prompt, reusable across many `clone` calls.

    waveform: [S] at the codec rate; codes: [Q, P] long; phoneme_ids: the transcript's ids."""

    waveform: np.ndarray
    sample_rate: int
    codes: Any  # torch.LongTensor [Q, P]
    text: str
    phoneme_ids: list[int]
    trimmed: bool = False


@dataclass
class CloneRequest:
    """One item for `clone_many`."""

    text: str
    prompt: PromptInput | VoicePrompt
    prompt_text: str | None = None
    sample_rate: int | None = None


def resolve_device(device: str | None) -> str:
    """'auto' -> 'cuda' when present, else 'cpu'; anything else is passed through."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
    return str(device)


def native_cpu_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX), which oneDNN's bfloat16
    kernels need to beat float32. torch.cpu's checks are private, hence the fallback."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


class Synthesizer:
    """Loaded codec + AR + NAR + text front end.

    Thread-safe by serialisation: the LMs keep their KV cache on the module and the espeak
    backend behind the phonemiser is one C library state, so every public call holds one
    re-entrant lock (prepare_prompt and text_chunks are also called from inside clone_many)."""

    def __init__(
        self,
        model: LoadedModel,
        device: str = "auto",
        half_weights: bool | None = None,
        bf16: bool | None = None,
    ) -> None:
        from echovox.lm.generate import SamplingSettings
        from echovox.text import TextFrontend

        self.model = model
        self.config = model.config
        self.device = resolve_device(device)
        # float16 copies of the AR's projection weights for decode steps: faster on a CPU (each
        # step streams every weight; the demo's RTF 0.29 -> 0.24 at 1 thread); activations are
        # rounded to float16. None (the default) turns them on for a CPU when the AR's weights
        # were stored float16, as the embedded model's are: the copies then lose nothing of the
        # stored weights, and on the 100-item held-out list the outputs scored the same as
        # float32 decoding (paired differences: WER -0.024 +- 0.021 per item, SIM-o +0.0012 +-
        # 0.0022, speaker-ID 0 +- 0.028). On CUDA it stays off: not measured there.
        if half_weights is None:
            half_weights = model.ar_stored_half and not self.device.startswith("cuda")
        self.half_weights = bool(half_weights)
        # bfloat16 autocast for the NAR and the codec decoder on a CPU: their matrix products
        # and convolutions are large enough for oneDNN's bfloat16 kernels, which a CPU with
        # AVX512-BF16 or AMX runs natively (elsewhere they are emulated and slower, so None
        # turns it on only there). The AR's decode steps stay as they are: batch-1 matrix-vector
        # products gain nothing from it. Measured with benchmarks/cpu_bf16_rtf.py (README).
        if bf16 is None:
            bf16 = not self.device.startswith("cuda") and native_cpu_bf16()
        if bf16 and self.device.startswith("cuda"):
            raise ValueError("bf16 is the CPU's autocast; on CUDA the decoder runs float16")
        self.bf16 = bool(bf16)
        self.codec = model.codec.to(self.device).eval()
        self.ar = model.ar.to(self.device).eval()
        self.nar = model.nar.to(self.device).eval()
        self.frontend = TextFrontend(self.config.text.language, symbols=model.symbols)
        self.settings = SamplingSettings(**self.config.sampling)
        self.prompt_config = self.config.prompt
        self._lock = threading.RLock()
        self._asr = None

    # ------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        device: str = "auto",
        half_weights: bool | None = None,
        bf16: bool | None = None,
    ) -> Synthesizer:
        """Load a model directory (see echovox.model_dir); None = the embedded model.
        half_weights: decode the AR with float16 weight copies (faster on a CPU, outputs differ
        by float16 rounding); None: on for a CPU when the AR's weights are stored float16 (the
        embedded model's are), off otherwise.
        bf16: run the NAR and the codec decoder under bfloat16 autocast on a CPU (outputs
        differ by bfloat16 rounding); None: on for a CPU with bfloat16 instructions (AVX512-BF16
        or AMX), off otherwise and on CUDA."""
        if path is None:
            if not (EMBEDDED_MODEL_DIR / "config.json").is_file():
                raise CheckpointError(
                    "the embedded default model is not in this install (it ships in "
                    f"{EMBEDDED_MODEL_DIR}: is the checkout partial?); pass a model directory, "
                    "e.g. Synthesizer.from_pretrained('path/to/model'), or build one with "
                    "`echovox assemble_model`"
                )
            path = EMBEDDED_MODEL_DIR
        return cls(load_model_dir(path), device=device, half_weights=half_weights, bf16=bf16)

    @property
    def sample_rate(self) -> int:
        return int(self.codec.sample_rate)

    @property
    def asr(self):
        if self._asr is None:
            from echovox.eval.asr import PromptTranscriber

            self._asr = PromptTranscriber()
        return self._asr

    def default_settings(self, **overrides: Any):
        """The model's default SamplingSettings with some fields replaced."""
        return dataclasses.replace(self.settings, **overrides)

    def resynthesize(self, wav: np.ndarray, sample_rate: int) -> np.ndarray:
        """The recording passed through the codec alone: encoded with the codebooks the models
        use, decoded, at self.sample_rate. What the codec keeps of a voice bounds what any
        clone of it can keep, so `echovox eval` scores this beside the model's output."""
        import torch

        x = self._recording(wav, sample_rate, "resynthesize")
        n_q = self.nar.config.n_codebooks
        with torch.inference_mode():
            codes = self.codec.encode(torch.from_numpy(x)[None, None], n_q=n_q)
        return self._decode(codes[0])[: len(x)]

    def complete_first_codebook(
        self,
        wav: np.ndarray,
        sample_rate: int,
        text: str,
        prompt: PromptInput | VoicePrompt,
        prompt_text: str | None = None,
    ) -> np.ndarray:
        """A recording of `text` encoded, all but its first codebook dropped, codebooks 2..Q
        filled in again by the NAR from `prompt` and `text`, and decoded the model's way
        (nar_decoding), at self.sample_rate: the clone a perfect AR would give. Beside the
        model's output and the codec resynthesis, `echovox eval` scores it to tell the voice
        the AR loses from the voice the NAR loses. Raises AudioError / TextError like clone."""

        x = self._recording(wav, sample_rate, "complete_first_codebook")
        with self._lock:
            vp = self.prepare_prompt(prompt, prompt_text)
            phonemes, first = self._first_codebook_inputs(x, text, vp)
            wav_out = self._complete([vp], [phonemes], [first], self.settings.seed)[0]
        return wav_out[: len(x)]

    def _first_codebook_inputs(self, x: np.ndarray, text: str, vp: VoicePrompt):
        """For the NAR to complete a recording x (mono float32 at self.sample_rate) of `text`
        in the voice of prompt vp: its phoneme sequence (as _phoneme_sequences makes it) and
        the recording's own first codebook [T]. Raises TextError for unspeakable text and
        AudioError when the recording and the prompt exceed the NAR's frames."""
        import torch

        try:
            ids = self.frontend.ids(text)
        except ValueError as err:
            raise TextError(str(err)) from err
        phonemes, _ = self._phoneme_sequences([vp], [ids])
        with torch.inference_mode():
            first = self.codec.encode(torch.from_numpy(x)[None, None], n_q=1)[0, 0].cpu()
        if vp.codes.shape[1] + len(first) > self.nar.config.max_frames:
            raise AudioError(
                f"{len(x) / self.sample_rate:.1f} s of recording and the prompt exceed "
                f"the NAR's {self.nar.config.max_frames} frames"
            )
        return phonemes[0], first

    def _recording(self, wav: np.ndarray, sample_rate: int, caller: str) -> np.ndarray:
        """A reference recording as mono float32 at self.sample_rate; AudioError when it is
        empty or not finite."""
        from echovox.audio import resample, to_mono

        mono = to_mono(np.asarray(wav, dtype=np.float32))
        if mono.size == 0 or not np.isfinite(mono).all():
            raise AudioError(f"{caller} needs non-empty, finite audio")
        return resample(mono, sample_rate, self.sample_rate)

    # ------------------------------------------------------------------------- prompts
    def prepare_prompt(
        self,
        prompt: PromptInput | VoicePrompt,
        prompt_text: str | None = None,
        *,
        sample_rate: int | None = None,
        prompt_seconds: float | None = None,
    ) -> VoicePrompt:
        """Condition, encode and phonemise a prompt. Raises AudioError for unusable audio,
        TextError for an unusable transcript, AsrUnavailableError when prompt_text is None and
        no recogniser is installed."""
        if isinstance(prompt, VoicePrompt):
            return prompt
        with self._lock:
            return self._prepare_prompt(prompt, prompt_text, sample_rate, prompt_seconds)

    def _prepare_prompt(self, prompt, prompt_text, sample_rate, prompt_seconds) -> VoicePrompt:
        import torch

        cfg = self.prompt_config
        if prompt_seconds is not None:
            cfg = dataclasses.replace(cfg, seconds=float(prompt_seconds))
        wav = read_prompt(prompt, self.sample_rate, sample_rate)
        prepared = condition_prompt(wav, self.sample_rate, cfg)
        if prompt_text is None:
            heard, heard_sr = prepared.waveform, self.sample_rate
            if heard_sr < ASR_RATE:
                # Whisper hears 16 kHz: a lower-rate model's copy has lost the band above its
                # Nyquist, so the recogniser gets the prompt conditioned alike at 16 kHz
                heard_sr = ASR_RATE
                heard = condition_prompt(read_prompt(prompt, heard_sr, sample_rate), heard_sr, cfg)
                heard = heard.waveform
            prompt_text = self.asr.transcribe(heard, heard_sr, self.config.text.language)
            if not prompt_text:
                raise AudioError(
                    "could not recognise any words in the prompt; pass its transcript as "
                    "prompt_text"
                )
        elif not isinstance(prompt_text, str) or not prompt_text.strip():
            raise TextError(
                "prompt_text is empty; pass the prompt's transcript, or None to "
                "transcribe it automatically"
            )
        elif prepared.trimmed:
            # the transcript describes the whole recording, the model sees only its start
            prompt_text = shorten_transcript(
                prompt_text, prepared.kept_seconds / prepared.source_seconds
            )
            warnings.warn(
                f"the prompt was cut from {prepared.source_seconds:.1f} s to "
                f"{prepared.kept_seconds:.1f} s and its transcript shortened in proportion to "
                f"{prompt_text!r}; pass a prompt of at most {cfg.seconds:g} s, or "
                "prompt_text=None, for an exact transcript",
                stacklevel=2,
            )
        try:
            ids = self.frontend.ids(prompt_text)
        except ValueError as err:
            raise TextError(f"prompt_text: {err}") from err
        n_q = self.nar.config.n_codebooks
        codes = self.codec.encode(torch.from_numpy(prepared.waveform)[None, None], n_q=n_q)[0]
        return VoicePrompt(
            waveform=prepared.waveform,
            sample_rate=self.sample_rate,
            codes=codes.cpu(),
            text=prompt_text,
            phoneme_ids=ids,
            trimmed=prepared.trimmed,
        )

    # ------------------------------------------------------------------------- synthesis
    def clone(
        self,
        text: str,
        prompt: PromptInput | VoicePrompt,
        prompt_text: str | None = None,
        *,
        sample_rate: int | None = None,
        settings=None,
        prompt_seconds: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> ClonedAudio:
        """Say `text` in the voice of `prompt`.

        Args:
            text: any length; long text is split into sentences, synthesised chunk by chunk.
            prompt: a path, an array (with sample_rate), (array, rate), or a VoicePrompt.
            prompt_text: the prompt's transcript; None transcribes it with the offline ASR.
            settings: SamplingSettings (default: the model's); its seed makes runs repeatable.
            prompt_seconds: override the model's prompt length.
            progress: called as progress(done_chunks, total_chunks) after every chunk.
        """
        req = CloneRequest(
            text=text, prompt=prompt, prompt_text=prompt_text, sample_rate=sample_rate
        )
        return self.clone_many(
            [req], settings=settings, prompt_seconds=prompt_seconds, progress=progress
        )[0]

    def clone_many(
        self,
        requests: Sequence[CloneRequest | dict],
        *,
        settings=None,
        prompt_seconds: float | None = None,
        progress: ProgressCallback | None = None,
        batch_size: int = 8,
    ) -> list[ClonedAudio]:
        """Synthesise several requests, their chunks batched through the LMs together.

        requests: CloneRequest or dicts with its fields. Returns one ClonedAudio per request,
        in order; each one's `seconds` is the wall time of the whole call."""
        with self._lock:
            return self._clone_many(requests, settings, prompt_seconds, progress, batch_size)

    def _clone_many(self, requests, settings, prompt_seconds, progress, batch_size):
        t0 = time.perf_counter()
        reqs = [r if isinstance(r, CloneRequest) else CloneRequest(**r) for r in requests]
        if not reqs:
            raise ValueError("clone_many needs at least one request")
        settings = settings or self.settings
        prompts: list[VoicePrompt] = []
        chunk_lists = []
        for r in reqs:
            chunk_lists.append(self.text_chunks(r.text))
            prompts.append(
                self.prepare_prompt(
                    r.prompt,
                    r.prompt_text,
                    sample_rate=r.sample_rate,
                    prompt_seconds=prompt_seconds,
                )
            )
        chunk_lists = [self._fit_chunks(c, p) for c, p in zip(chunk_lists, prompts)]
        # flat work list: (request index, chunk index)
        items = [(i, j) for i, chunks in enumerate(chunk_lists) for j in range(len(chunks))]
        total = len(items)
        if total > batch_size:
            # a batch decodes until its longest item stops, and pads every item to the longest
            # prompt and text: batching chunks of similar size wastes the least
            items.sort(
                key=lambda ij: (prompts[ij[0]].codes.shape[1], len(chunk_lists[ij[0]][ij[1]].ids))
            )
        audio: dict[tuple[int, int], np.ndarray] = {}
        reasons: dict[tuple[int, int], str] = {}
        for b0 in range(0, total, max(1, batch_size)):
            batch = items[b0 : b0 + batch_size]
            seed = None if settings.seed is None else settings.seed + b0
            wavs, stops = self._generate(
                [prompts[i] for i, _ in batch],
                [chunk_lists[i][j].ids for i, j in batch],
                dataclasses.replace(settings, seed=seed),
            )
            for k, key in enumerate(batch):
                audio[key], reasons[key] = wavs[k], stops[k]
                if progress is not None:
                    progress(b0 + k + 1, total)
        elapsed = time.perf_counter() - t0
        pause = np.zeros(int(self.config.text.pause_seconds * self.sample_rate), np.float32)
        out = []
        for i, r in enumerate(reqs):
            parts = []
            for j in range(len(chunk_lists[i])):
                if parts:
                    parts.append(pause)
                wav = audio[(i, j)]
                if self.config.text.trim_silence:
                    wav = trim_silent_edges(
                        wav, self.sample_rate, self.config.prompt.silence_db, OUTPUT_EDGE_SECONDS
                    )
                parts.append(_fade_edges(wav, self.sample_rate))
            out.append(
                ClonedAudio(
                    waveform=np.concatenate(parts).astype(np.float32),
                    sample_rate=self.sample_rate,
                    text=r.text,
                    chunks=[c.normalized for c in chunk_lists[i]],
                    prompt_text=prompts[i].text,
                    seconds=elapsed,
                    stop_reasons=[reasons[(i, j)] for j in range(len(chunk_lists[i]))],
                )
            )
        return out

    def text_chunks(self, text: str):
        """Sentence chunks of `text` that fit the LMs' phoneme tables together with a prompt.
        Raises TextError for empty or unspeakable text."""
        if not isinstance(text, str):
            raise TextError(f"text must be a string, got {type(text).__name__}")
        if not text.strip():
            raise TextError("text is empty: there is nothing to say")
        max_chars = self.config.text.max_chars
        try:
            with self._lock:
                return self.frontend.chunks(
                    text, max_chars=max_chars, pack=self.config.text.pack_sentences
                )
        except ValueError as err:
            raise TextError(str(err)) from err

    def _phoneme_budget(self) -> int:
        return min(self.ar.config.max_phonemes, self.nar.config.max_phonemes)

    def _fit_chunks(self, chunks, prompt: VoicePrompt, min_chars: int = 16):
        """Split chunks again, at ever smaller sizes, until each fits the phoneme tables
        together with the prompt's phonemes (and the separator)."""
        budget = self._phoneme_budget() - len(prompt.phoneme_ids) - 1
        out = []
        for chunk in chunks:
            pieces, max_chars = [chunk], len(chunk.normalized)
            while any(len(p.ids) > budget for p in pieces):
                max_chars //= 2
                if max_chars < min_chars:
                    raise TextError(
                        f"{chunk.normalized[:40]!r}... is too long for this model: "
                        f"{max(len(p.ids) for p in pieces)} phonemes do not fit the "
                        f"{budget} that remain beside the prompt's {len(prompt.phoneme_ids)}; "
                        "use a shorter prompt transcript or split the text"
                    )
                pieces = self.frontend.chunks(
                    chunk.normalized, max_chars=max_chars, pack=self.config.text.pack_sentences
                )
            out.extend(pieces)
        return out

    def _generate(self, prompts: list[VoicePrompt], chunk_ids: list[list[int]], settings):
        """One batch: AR then NAR then codec. Returns ([S_i] waveforms, stop reasons)."""
        import torch

        from echovox.lm.generate import generate_ar

        phonemes, n_prompt = self._phoneme_sequences(prompts, chunk_ids)
        prompt_codes = [p.codes for p in prompts]
        # the NAR sees prompt + target frames in one position table: cap the AR to fit it
        room = min(self.ar.config.max_frames, self.nar.config.max_frames) - max(
            pc.shape[1] for pc in prompt_codes
        )
        if room < 1:
            raise AudioError(
                "the prompt is too long for this model's position tables; use a shorter "
                "prompt_seconds"
            )
        cap = room if settings.max_frames is None else min(room, settings.max_frames)
        settings = dataclasses.replace(settings, max_frames=cap)
        ar_out = generate_ar(
            self.ar,
            phonemes,
            prompt_codes,
            settings,
            n_prompt_phonemes=n_prompt,
            half_weights=self.half_weights,
        )
        first = [c if len(c) else torch.zeros(1, dtype=torch.long) for c in ar_out.codes]
        return self._complete(prompts, phonemes, first, settings.seed), ar_out.stop_reasons

    def _phoneme_sequences(self, prompts: list[VoicePrompt], chunk_ids: list[list[int]]):
        """Per item [prompt phonemes, "_", chunk phonemes] and the prompt part's length."""
        import torch

        sep = self.frontend.symbols.id("_")
        phonemes, n_prompt = [], []
        for p, ids in zip(prompts, chunk_ids):
            seq = [*p.phoneme_ids, sep, *ids]
            if len(seq) > self._phoneme_budget():
                raise TextError(
                    f"a sentence is too long for this model: {len(ids)} phonemes plus "
                    f"{len(p.phoneme_ids)} of the prompt exceed {self._phoneme_budget()}; "
                    "split it with punctuation"
                )
            phonemes.append(torch.tensor(seq, dtype=torch.long))
            n_prompt.append(len(p.phoneme_ids) + 1)
        return phonemes, n_prompt

    def _complete(self, prompts, phonemes, first, seed) -> list[np.ndarray]:
        """NAR then codec: first codebooks (per item [T_i]) -> waveforms, per nar_decoding;
        phonemes: per item, from _phoneme_sequences."""
        from echovox.lm.generate import generate_nar

        if self.config.nar_decoding == "expected":
            probs = self._nar_distributions(prompts, phonemes, first, seed)
            wavs = [self._decode(p, pr.codes, expected=True) for p, pr in zip(probs, prompts)]
        else:
            with self._cpu_autocast():
                codes = generate_nar(
                    self.nar,
                    phonemes,
                    [p.codes for p in prompts],
                    first,
                    temperature=self.config.nar_temperature,
                    seed=seed,
                )
            wavs = [self._decode(c, pr.codes) for c, pr in zip(codes, prompts)]
        return [self._match_spectrum(w, pr) for w, pr in zip(wavs, prompts)]

    def _match_spectrum(self, wav: np.ndarray, prompt: VoicePrompt) -> np.ndarray:
        """A decoded chunk with its spectral envelope moved towards the prompt waveform's per
        config.spectral_match (SpectralMatchConfig); unchanged when that is off."""
        import torch

        from echovox.codec.matching import match_spectrum

        cfg = self.config.spectral_match
        if not cfg.active:
            return wav
        out = match_spectrum(
            torch.from_numpy(wav),
            torch.from_numpy(np.ascontiguousarray(prompt.waveform, dtype=np.float32)),
            self.sample_rate,
            weight=cfg.weight,
            bands=cfg.bands,
            max_db=cfg.max_db,
            frame_weight=cfg.frame_weight,
            k=cfg.k,
        )
        return np.clip(out.numpy(), -1.0, 1.0).astype(np.float32)

    def _nar_distributions(self, prompts, phonemes, first, seed) -> list:
        """The NAR's per-item [Q, T_i, K] distributions over every codebook (the first one
        as given), as expected decoding takes them."""
        from echovox.lm.generate import generate_nar_distributions

        with self._cpu_autocast():
            return generate_nar_distributions(
                self.nar,
                phonemes,
                [p.codes for p in prompts],
                first,
                temperature=self.config.nar_temperature,
                seed=seed,
            ).probs

    def _cpu_autocast(self):
        """bfloat16 autocast on the CPU when self.bf16, else nothing."""
        import contextlib

        import torch

        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast("cpu", dtype=torch.bfloat16)

    def _decode(self, codes, prompt_codes=None, expected: bool = False) -> np.ndarray:
        """[Q, T] codes, or [Q, T, K] distributions with expected=True (Codec.decode_expected)
        -> [S] float32. prompt_codes [Q, P]: the voice prompt's, matched against when
        config.voice_match.weight > 0 (VoiceMatchConfig), after config.latent_contrast; None (a
        resynthesis) decodes the codes as they are. On CUDA the decoder convolutions run in
        float16 under autocast, on a CPU in bfloat16 when self.bf16; the codebook lookup stays
        float32 (autocast leaves embedding gathers alone; the expected latent's weighted sum
        and the matching's similarities are matmuls, so they run in the lower precision too)
        and the output is cast back."""
        import torch

        match = self.config.voice_match
        cuda = self.device.startswith("cuda")
        via_latent = prompt_codes is not None and (
            match.weight > 0 or self.config.latent_contrast != 1.0
        )
        with torch.autocast("cuda", dtype=torch.float16) if cuda else self._cpu_autocast():
            if via_latent:
                latent = self.output_latent(codes, prompt_codes, expected)
                with torch.inference_mode():
                    wav = self.codec.decode_latent(latent)
            else:
                codes = codes[None].to(self.device)
                wav = (self.codec.decode_expected if expected else self.codec.decode)(codes)
        wav = wav[0, 0].float().cpu().numpy()
        return np.clip(np.nan_to_num(wav), -1.0, 1.0).astype(np.float32)

    def output_latent(self, codes, prompt_codes, expected: bool = False):
        """The latent [1, D, T] the codec decoder renders for the LMs' output: [Q, T] codes,
        or [Q, T, K] distributions with expected=True, as codebook vectors, each channel's
        deviation from its mean scaled by config.latent_contrast, then voice-matched against
        prompt_codes [Q, P] per config.voice_match (unmatched at weight 0); without
        prompt_codes (a resynthesis) neither. What `_decode` renders."""
        from echovox.codec.matching import match_latents

        codes = codes[None].to(self.device)
        to_latent = self.codec.expected_latent if expected else self.codec.codes_latent
        latent = to_latent(codes)
        match = self.config.voice_match
        if prompt_codes is None:
            return latent
        contrast = self.config.latent_contrast
        if contrast != 1.0:  # ModelDirConfig.latent_contrast: why
            mean = latent.mean(2, keepdim=True)
            latent = mean + (latent - mean) * contrast
        if match.weight == 0:
            return latent
        prompt_codes = prompt_codes[None].to(self.device)
        reference = self.codec.codes_latent(prompt_codes)
        return match_latents(latent, reference, match.k, match.weight)


def _fade_edges(wav: np.ndarray, sr: int) -> np.ndarray:
    """Short linear fades so joined chunks do not click."""
    n = min(len(wav) // 2, int(EDGE_FADE_SECONDS * sr))
    if n < 2:
        return wav
    wav = wav.copy()
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    wav[:n] *= ramp
    wav[-n:] *= ramp[::-1]
    return wav


__all__ = [
    "ClonedAudio",
    "CloneRequest",
    "PromptConfig",
    "Synthesizer",
    "TextError",
    "VoicePrompt",
    "resolve_device",
]
