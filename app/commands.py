"""Top-level app subcommands: `echovox synthesize`, `transcribe`, `demo`, `assemble_model`.

A command with many options is a dataclass of them (jsonargparse builds its flags from the
fields and their documentation, as for a function); calling the instance runs it. Heavy
imports (torch, gradio) happen inside the calls so `echovox --help` stays fast. User errors
are raised, and the entry point (`echovox.app.cli.main`) turns them into one line naming the
command; ECHOVOX_DEBUG=1 brings the traceback back.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass
class Synthesize:
    """Say TEXT in the voice of a short PROMPT recording and write a WAV file.

    Args:
        text: the text to say (or use --text_file for long text).
        prompt: a recording of the voice to clone (any format soundfile reads, any rate).
        output: where to write the audio (.wav or .flac).
        prompt_text: what is said in the prompt; omitted: transcribed with the offline ASR.
        text_file: a UTF-8 text file to read instead of --text.
        model: a model directory; omitted: the embedded default model.
        device: auto (CUDA when present), cpu or cuda.
        temperature: AR sampling temperature (0 = greedy); omitted: the model's default.
        top_k: keep the k most likely codes (0 = off); omitted: the model's default.
        top_p: nucleus sampling mass (1 = off); omitted: the model's default.
        cfg_scale: classifier-free guidance on the prompt (1 = off; above 1 follows the
            prompt more closely, at about twice the AR's work); omitted: the model's default.
        repetition_aware: VALL-E 2 repetition-aware sampling on or off.
        seed: sampling seed for a repeatable result.
        prompt_seconds: cut the prompt to this length (default: the model's, 3 s).
        threads: CPU threads for torch (default: torch's choice). On a busy CPU, 1 is often
            fastest: one decode step is many tiny ops that threads only add waits to. On an idle
            2-core CPU, 2 were faster for the embedded model (`make demo` uses 2).
        half_weights: decode the AR with float16 weight copies (faster on a CPU; float16
            rounding changes the sampled codes slightly); omitted: on for a CPU when the AR's
            weights are stored float16, as the embedded model's are (measured to score the
            same as float32 on the held-out list), off otherwise.
        bf16: run the NAR and the codec decoder under bfloat16 autocast on a CPU (faster where
            the CPU has bfloat16 instructions; outputs change by bfloat16 rounding); omitted:
            on for a CPU with AVX512-BF16 or AMX, off otherwise and on CUDA.
        spectral_match: false renders the decoder's output as it is, without the model's
            spectral matching towards the prompt (its `spectral_match` in config.json, which
            echovox-tiny uses); omitted: the model's setting.
    """

    text: str | None = None
    prompt: str | None = None
    output: str = "out.wav"
    prompt_text: str | None = None
    text_file: str | None = None
    model: str | None = None
    device: str = "auto"
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    cfg_scale: float | None = None
    repetition_aware: bool | None = None
    seed: int | None = None
    prompt_seconds: float | None = None
    threads: int | None = None
    half_weights: bool | None = None
    bf16: bool | None = None
    spectral_match: bool | None = None

    def __call__(self) -> None:
        import warnings

        from .synthesizer import Synthesizer

        if self.threads is not None:
            import torch

            torch.set_num_threads(max(1, self.threads))
        text = self._text()
        tts = Synthesizer.from_pretrained(
            self.model, device=self.device, half_weights=self.half_weights, bf16=self.bf16
        )
        if self.spectral_match is False:
            import dataclasses

            from echovox.model_dir import SpectralMatchConfig

            tts.config = dataclasses.replace(tts.config, spectral_match=SpectralMatchConfig())
        with _ProgressBar() as progress, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            audio = tts.clone(
                text,
                prompt=self.prompt,
                prompt_text=self.prompt_text,
                settings=tts.default_settings(**self._sampling()),
                prompt_seconds=self.prompt_seconds,
                progress=progress,
            )
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        for i, reason in enumerate(audio.stop_reasons):
            if reason != "eos":
                print(
                    f"warning: sentence {i + 1} reached the length limit before the model ended "
                    "it; try a lower --temperature or another --seed",
                    file=sys.stderr,
                )
        path = audio.save(self.output)
        summary = {
            "output": str(path),
            "duration_s": round(audio.duration, 3),
            "synthesis_s": round(audio.seconds, 3),
            "rtf": round(audio.rtf, 3),
            "chunks": len(audio.chunks),
            "stop_reasons": audio.stop_reasons,
            "prompt_text": audio.prompt_text,
            "device": tts.device,
            "bf16": tts.bf16,
            "spectral_match": tts.config.spectral_match.active,
        }
        print(json.dumps(summary, ensure_ascii=False))

    def _text(self) -> str:
        if (self.text is None) == (self.text_file is None):
            raise ValueError("give exactly one of --text and --text_file")
        if self.prompt is None:
            raise ValueError("--prompt (a recording of the voice to clone) is required")
        if self.text_file is None:
            return self.text
        try:
            return Path(self.text_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"cannot read --text_file {self.text_file}: {err}") from err

    def _sampling(self) -> dict:
        """The SamplingSettings fields the flags replace."""
        given = dict(
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            cfg_scale=self.cfg_scale,
            seed=self.seed,
        )
        overrides = {k: v for k, v in given.items() if v is not None}
        if self.repetition_aware is not None and not self.repetition_aware:
            overrides["repetition_window"] = 0
        return overrides


class _ProgressBar:
    """A tqdm bar on stderr, updated as clone's progress(done, total) callback."""

    def __enter__(self):
        from tqdm import tqdm

        self.bar = tqdm(desc="synthesize", unit="chunk", file=sys.stderr)
        return self

    def __call__(self, done: int, total: int) -> None:
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def __exit__(self, *exc) -> None:
        self.bar.close()


def demo(
    model: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    device: str = "auto",
    max_chars: int = 1000,
    concurrency: int = 1,
    max_queue: int = 16,
):
    """Launch the Gradio voice-cloning demo in the browser (local only unless --share).

    Args:
        model: a model directory; omitted: the embedded default model.
        host: interface to listen on (127.0.0.1 keeps it on this machine).
        port: port to listen on; omitted: Gradio picks a free one from 7860.
        share: create a public gradio.live link (off by default).
        device: auto (CUDA when present), cpu or cuda.
        max_chars: longest text the demo accepts.
        concurrency: requests processed at once.
        max_queue: requests waiting beyond which new ones are refused.
    """
    from .demo import DemoConfig, launch
    from .synthesizer import Synthesizer

    tts = Synthesizer.from_pretrained(model, device=device)
    cfg = DemoConfig(max_chars=max_chars, concurrency=concurrency, max_queue=max_queue)
    launch(tts, host=host, port=port, share=share, config=cfg, block=True)


@dataclass
class AssembleModel:
    """Assemble a model directory (loaded by `synthesize --model` and `demo`) from checkpoints.

    Args:
        output: the model directory to write.
        codec: a codec checkpoint directory (Codec.save_pretrained / codec training's model/).
        ar: the AR checkpoint: a directory with config.json + safetensors, a .safetensors file
            with config.json beside it, or a Lightning .ckpt.
        nar: the NAR checkpoint, in the same layouts as --ar.
        symbols: the symbol table JSON the LM was trained with (default: the built-in table).
        language: the text front end's espeak-ng language.
        prompt_seconds: the prompt length the model was trained for.
        name: the model's name in its model card.
        nar_decoding: "codes" decodes the NAR's picked codes; "expected" decodes each residual
            codebook's expected vector under the NAR's softmax: where the NAR is unsure it adds
            about the mean residual instead of a probably wrong one (see app/README.md).
        voice_match_weight: before decoding, move each output frame's codec latent this far
            (0-1) towards the mean of its voice_match_k nearest latents of the voice prompt;
            0 turns it off (see app/README.md).
        voice_match_k: how many of the prompt's frames each output frame is matched with.
        spectral_match_weight: after decoding, filter the output so its long-term spectrum
            moves this far (0-1) towards the voice prompt's; 0 turns it off (see
            app/README.md).
        spectral_match_frame_weight: after decoding, and before that filter, move each
            frame's spectral envelope this far (0-1) towards the mean of its
            spectral_match_k nearest frames of the voice prompt; 0 turns it off.
        spectral_match_k: how many of the prompt's frames each output frame is matched with.
        spectral_match_bands: how many mel bands the spectra are smoothed over.
        latent_contrast: before voice matching, each codec latent channel's deviation from
            its mean over the chunk is multiplied by this (0.5-2; 1 leaves it alone): above 1
            undoes some of the flattening of expected decoding (see app/README.md).
    """

    output: str
    codec: str | None = None
    ar: str | None = None
    nar: str | None = None
    symbols: str | None = None
    language: str = "en-us"
    prompt_seconds: float = 3.0
    name: str = "echovox"
    nar_decoding: Literal["codes", "expected"] = "codes"
    voice_match_weight: float = 0.0
    voice_match_k: int = 4
    spectral_match_weight: float = 0.0
    spectral_match_frame_weight: float = 0.0
    spectral_match_k: int = 4
    spectral_match_bands: int = 64
    latent_contrast: float = 1.0

    def __call__(self) -> None:
        from echovox.model_dir import ModelSettings, assemble_model_dir

        if self.codec is None or self.ar is None or self.nar is None:
            raise ValueError("--codec, --ar and --nar are all required")
        settings = ModelSettings.from_dict(
            {
                "name": self.name,
                "text": {"language": self.language},
                "prompt": {"seconds": self.prompt_seconds},
                "nar_decoding": self.nar_decoding,
                "voice_match": {"weight": self.voice_match_weight, "k": self.voice_match_k},
                "spectral_match": {
                    "weight": self.spectral_match_weight,
                    "frame_weight": self.spectral_match_frame_weight,
                    "k": self.spectral_match_k,
                    "bands": self.spectral_match_bands,
                },
                "latent_contrast": self.latent_contrast,
            }
        )
        path = assemble_model_dir(
            self.output, codec=self.codec, ar=self.ar, nar=self.nar, symbols=self.symbols,
            settings=settings,
        )  # fmt: skip
        print(path)


def transcribe(
    audio: list[str],
    model: str | None = None,
    language: str | None = "en",
    device: str = "auto",
    threads: int | None = None,
    batch_size: int = 8,
    backend: str = "whisper",
) -> None:
    """Transcribe AUDIO files and print one JSON line per file: path, text, seconds (the
    audio's), confidence (exp of the mean token log-probability) and flag (why a text is
    empty: silent, too_short, nan, no_speech; or an error for a file that cannot be read).

    Args:
        audio: audio files (any format soundfile reads, any rate; stereo is mixed down).
        model: a Whisper model folder (CTranslate2) or name; omitted: whisper-base from the
            packaged offline copy.
        language: the spoken language ("en"), or null to detect it per batch.
        device: auto (a GPU in float16 when present, else the CPU in int8), cpu, cuda, cuda:N.
        threads: CPU threads (default: all cores, at most 4).
        batch_size: clips of up to 30 s decoded together.
        backend: whisper, or transformers (a Whisper/CTC checkpoint in --model).
    """
    from tqdm import tqdm

    from echovox.audio import AudioError, load_audio
    from echovox.eval.asr import ASR_SR, load_asr

    if not audio:
        raise ValueError("give one or more audio files")
    asr = load_asr(backend, model, device, threads, batch_size, language)
    for start in tqdm(range(0, len(audio), batch_size), desc="transcribe", unit="batch",
                      disable=len(audio) <= batch_size, file=sys.stderr):  # fmt: skip
        paths, wavs, rows = audio[start : start + batch_size], [], {}
        for p in paths:
            try:
                wavs.append(load_audio(p, ASR_SR))
            except (AudioError, OSError, ValueError) as err:
                rows[p] = {"path": p, "text": "", "seconds": None, "flag": f"error: {err}"}
        heard = iter(_transcripts(asr, wavs))
        for p in paths:
            print(json.dumps(rows.get(p) or {"path": p, **next(heard)}, ensure_ascii=False))


def _transcripts(asr, wavs) -> list[dict]:
    if hasattr(asr, "transcribe_detailed"):
        return [t.to_json() for t in asr.transcribe_detailed(wavs)]
    return [{"text": t, "seconds": len(w) / 16_000} for t, w in zip(asr.transcribe(wavs), wavs)]


COMMANDS = {
    "synthesize": Synthesize,
    "transcribe": transcribe,
    "demo": demo,
    "assemble_model": AssembleModel,
}
