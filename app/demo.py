"""The Gradio voice-cloning demo.

    echovox demo --model DIR              # http://127.0.0.1:7860, no share link

Offline by construction: analytics off, system fonts instead of the default theme's web fonts,
no server-side rendering (it needs a Node server), and no share link unless asked for. Files are
served only from the app's own temp folder: Gradio's upload/cache folder is pointed there and it
is the only allowed path.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echovox.audio import AudioError
from echovox.checkpoint import CheckpointError
from echovox.eval.errors import AsrUnavailableError

from .spectrogram import spectrogram_image
from .synthesizer import Synthesizer, TextError

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"
# An utterance of synthetic speaker 1113 (espeak-ng en-us-nyc+Annie), one of the corpus's held-out
# voices: neither the codec nor the LM of echovox-tiny heard this speaker in training.
EXAMPLE_PROMPT = ASSETS / "example_prompt.wav"
EXAMPLE_PROMPT_TEXT = (ASSETS / "example_prompt.txt").read_text(encoding="utf-8").strip()
EXAMPLE_SENTENCES = (
    "Good morning! The coffee is ready and the train leaves at eight.",
    "Please remember to water the plants while I am away.",
    "Voice cloning should only ever be used with the speaker's consent.",
)
OUTPUT_KEEP_SECONDS = 3600.0  # generated files are kept this long, then removed
USER_ERRORS = (AudioError, TextError, CheckpointError, AsrUnavailableError, ValueError)


@dataclass
class DemoConfig:
    """max_chars: longest target text accepted; concurrency: generations running at once (the
    model is serialised anyway, so more only helps the cheap steps); max_queue: waiting
    requests beyond which new ones are refused; max_file_size: upload limit."""

    max_chars: int = 1000
    concurrency: int = 1
    max_queue: int = 16
    max_file_size: str = "20mb"  # a prompt needs seconds of audio; refuse huge uploads early
    temp_dir: str | None = None


def _user_error(message: str):
    import gradio as gr

    return gr.Error(message, print_exception=False)


@dataclass
class AdvancedSettings:
    """The Advanced panel's values, in the order its controls are the Generate button's
    inputs after the prompt, its transcript and the text."""

    temperature: float
    top_k: int
    top_p: float
    repetition_aware: bool
    seed: float | None  # gr.Number's value; below 0 or None: a random seed
    prompt_seconds: float


class _Handlers:
    """The demo's callbacks around a loaded Synthesizer: Transcribe and Generate."""

    def __init__(self, synth: Synthesizer, cfg: DemoConfig) -> None:
        self.synth, self.cfg = synth, cfg
        self.out_root = Path(cfg.temp_dir or tempfile.mkdtemp(prefix="echovox-demo-")) / "outputs"

    def check_inputs(self, prompt, text) -> None:
        if not prompt:
            raise _user_error("Please upload or record a voice prompt (a few seconds of speech).")
        if not text or not str(text).strip():
            raise _user_error("Please type the text to say.")
        if len(text) > self.cfg.max_chars:
            raise _user_error(
                f"The text is {len(text)} characters long; this demo accepts up to "
                f"{self.cfg.max_chars}. Shorten it or use the Python API / CLI for long text."
            )

    def transcribe(self, prompt):
        if not prompt:
            raise _user_error("Upload or record a prompt first.")
        try:
            vp = self.synth.prepare_prompt(prompt, prompt_text=None)
        except USER_ERRORS as err:
            raise _user_error(str(err)) from None
        return vp.text

    def generate(self, prompt, prompt_text, text, advanced: AdvancedSettings, progress):
        """The Generate button. Returns the output wav, both spectrograms, the time taken, the
        RTF and the transcript used."""
        import gradio as gr

        self.check_inputs(prompt, text)
        t0 = time.perf_counter()
        progress(0.0, desc="Preparing the prompt")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                vp, audio = self._clone(prompt, prompt_text, text, advanced, progress)
        except USER_ERRORS as err:
            raise _user_error(str(err)) from None
        except Exception as err:  # never show a stack trace; keep it in the server log
            log.exception("synthesis failed")
            raise _user_error(
                f"Synthesis failed ({type(err).__name__}). See the server log."
            ) from None
        elapsed = time.perf_counter() - t0
        # not errors, but worth telling: a shortened transcript, sentences the model never ended
        for w in caught:
            gr.Warning(str(w.message))
        capped = [i + 1 for i, r in enumerate(audio.stop_reasons) if r != "eos"]
        if capped:
            gr.Warning(
                f"Sentence(s) {', '.join(map(str, capped))} reached the length limit before the "
                "model ended them; try a lower temperature or another seed."
            )
        # Results go out as files with unique names. Returning arrays lets Gradio write them to
        # content-addressed cache paths without an existence check, so two requests with the
        # same prompt rewrite the same spectrogram file while the first is being downloaded
        # (seen here as truncated responses under concurrent load).
        folder = new_output_folder(self.out_root)
        wav_path = audio.save(folder / "output.wav")
        return (
            str(wav_path),
            save_png(spectrogram_image(vp.waveform, vp.sample_rate), folder / "prompt.png"),
            save_png(spectrogram_image(audio.waveform, audio.sample_rate), folder / "output.png"),
            f"{elapsed:.2f} s",
            f"{elapsed / max(audio.duration, 1e-9):.2f}",
            vp.text,
        )

    def _clone(self, prompt, prompt_text, text, adv: AdvancedSettings, progress):
        s = self.synth.settings
        settings = self.synth.default_settings(
            temperature=float(adv.temperature),
            top_k=int(adv.top_k),
            top_p=float(adv.top_p),
            repetition_window=s.repetition_window if adv.repetition_aware else 0,
            seed=None if adv.seed is None or adv.seed < 0 else int(adv.seed),
        )
        vp = self.synth.prepare_prompt(
            prompt,
            prompt_text=(prompt_text or "").strip() or None,
            prompt_seconds=float(adv.prompt_seconds),
        )

        def on_chunk(done: int, total: int) -> None:
            progress(done / total, desc=f"Sentence {done} of {total}")

        return vp, self.synth.clone(text, vp, settings=settings, progress=on_chunk)


def build_demo(synth: Synthesizer, config: DemoConfig | None = None):
    """The gr.Blocks app around a loaded Synthesizer (call .queue() / .launch() on it, or use
    `launch`)."""
    import gradio as gr

    cfg = config or DemoConfig()
    handlers = _Handlers(synth, cfg)
    theme = gr.themes.Default(
        font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
    )
    with gr.Blocks(
        title="echovox voice cloning",
        analytics_enabled=False,
        delete_cache=(1800, int(OUTPUT_KEEP_SECONDS)),  # Gradio's own cached copies, likewise
    ) as demo:
        demo.echovox_theme = theme  # launch() takes the theme in Gradio 6
        gr.Markdown(
            "# echovox: zero-shot voice cloning\n"
            "Give a few seconds of someone's speech (with their consent) and its transcript, "
            f"then the text to say. Model: `{synth.config.name}`."
        )
        with gr.Row():
            inputs = _input_column(synth, cfg)
            outputs = _output_column()
        if EXAMPLE_PROMPT.is_file():
            gr.Examples(
                examples=[[str(EXAMPLE_PROMPT), EXAMPLE_PROMPT_TEXT, t] for t in EXAMPLE_SENTENCES],
                inputs=[inputs["prompt"], inputs["prompt_text"], inputs["text"]],
                cache_examples=False,
            )
        inputs["transcribe"].click(
            handlers.transcribe,
            inputs=inputs["prompt"],
            outputs=inputs["prompt_text"],
            api_name="transcribe",
        )
        inputs["generate"].click(
            _with_progress(handlers.generate),
            inputs=[inputs[k] for k in ("prompt", "prompt_text", "text", *ADVANCED_FIELDS)],
            outputs=outputs,
            api_name="generate",
        )
    return demo


ADVANCED_FIELDS = tuple(f.name for f in dataclasses.fields(AdvancedSettings))


def _with_progress(generate):
    """Gradio hands a progress tracker to the parameter whose default is gr.Progress()."""
    import gradio as gr

    def run(prompt, prompt_text, text, *advanced, progress=gr.Progress()):  # noqa: B008
        return generate(prompt, prompt_text, text, AdvancedSettings(*advanced), progress)

    return run


def _input_column(synth: Synthesizer, cfg: DemoConfig) -> dict:
    """The left column: prompt, transcript, text, the Advanced panel and Generate. Returns the
    components by name (AdvancedSettings' fields among them)."""
    import gradio as gr

    asr_available = synth.asr.available
    c = {}
    with gr.Column():
        c["prompt"] = gr.Audio(
            sources=["upload", "microphone"],
            type="filepath",
            label="Voice prompt (upload or record)",
            elem_id="prompt",
        )
        with gr.Row():
            c["prompt_text"] = gr.Textbox(
                label="Prompt transcript (what is said in the prompt)",
                placeholder="Leave empty to transcribe automatically"
                if asr_available
                else "Type what is said in the prompt",
                elem_id="prompt_text",
                scale=4,
            )
            c["transcribe"] = gr.Button(
                "Transcribe", visible=asr_available, scale=1, elem_id="transcribe"
            )
        c["text"] = gr.Textbox(
            label=f"Text to say (up to {cfg.max_chars} characters)", lines=4, elem_id="text"
        )
        with gr.Accordion("Advanced", open=False):
            c.update(_advanced_controls(synth))
        c["generate"] = gr.Button("Generate", variant="primary", elem_id="generate")
    return c


def _advanced_controls(synth: Synthesizer) -> dict:
    """One control per AdvancedSettings field, starting at the model's defaults."""
    import gradio as gr

    s = synth.settings
    return {
        "temperature": gr.Slider(
            0.0, 2.0, value=s.temperature, step=0.05, label="Temperature (0 = greedy)"
        ),
        "top_k": gr.Slider(0, 200, value=s.top_k, step=1, label="Top-k (0 = off)"),
        "top_p": gr.Slider(0.05, 1.0, value=s.top_p, step=0.05, label="Top-p (1 = off)"),
        "repetition_aware": gr.Checkbox(
            value=s.repetition_window > 0, label="Repetition-aware sampling"
        ),
        "seed": gr.Number(
            value=s.seed if s.seed is not None else -1, precision=0, label="Seed (-1 = random)"
        ),
        "prompt_seconds": gr.Slider(
            synth.prompt_config.min_seconds,
            10.0,
            value=synth.prompt_config.seconds,
            step=0.5,
            label="Prompt length (s)",
        ),
    }


def _output_column() -> list:
    """The right column: output audio, both spectrograms, time, RTF and the transcript used,
    in the order Generate returns them."""
    import gradio as gr

    with gr.Column():
        output = gr.Audio(
            label="Generated speech", type="filepath", elem_id="output", interactive=False
        )
        with gr.Row():
            prompt_spec = gr.Image(label="Prompt spectrogram", type="filepath", interactive=False)
            output_spec = gr.Image(label="Output spectrogram", type="filepath", interactive=False)
        with gr.Row():
            took = gr.Textbox(label="Time taken", interactive=False, elem_id="took")
            rtf = gr.Textbox(label="Real-time factor", interactive=False, elem_id="rtf")
        used_text = gr.Textbox(label="Transcript used for the prompt", interactive=False)
    return [output, prompt_spec, output_spec, took, rtf, used_text]


def new_output_folder(root: Path, keep_seconds: float = OUTPUT_KEEP_SECONDS) -> Path:
    """A fresh folder for one request's files; folders older than keep_seconds are removed so
    a long-running demo does not fill the disk."""
    import shutil
    import uuid

    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in root.iterdir():
        try:
            if now - old.stat().st_mtime > keep_seconds:
                shutil.rmtree(old, ignore_errors=True)
        except FileNotFoundError:  # another request removed it first
            pass
    folder = root / uuid.uuid4().hex
    folder.mkdir()
    return folder


def save_png(image: np.ndarray, path: Path) -> str:
    from PIL import Image

    Image.fromarray(image).save(path)
    return str(path)


def prepare_environment(temp_dir: str | None = None) -> Path:
    """Point Gradio's file cache at a private folder and turn analytics off. Must run before
    the Blocks are built: components read the cache folder when they are created."""
    folder = Path(temp_dir) if temp_dir else Path(tempfile.mkdtemp(prefix="echovox-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    return folder


def launch(
    synth: Synthesizer,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    config: DemoConfig | None = None,
    block: bool = True,
):
    """Build, queue and launch the demo. Returns the Blocks (already running when block=False;
    call .close() to stop it)."""
    cfg = config or DemoConfig()
    folder = prepare_environment(cfg.temp_dir)
    cfg = dataclasses.replace(cfg, temp_dir=str(folder))
    demo = build_demo(synth, cfg)
    demo.queue(max_size=cfg.max_queue, default_concurrency_limit=cfg.concurrency)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        allowed_paths=[str(folder)],
        ssr_mode=False,
        prevent_thread_lock=not block,
        quiet=not block,
        show_error=False,
        max_file_size=cfg.max_file_size,
        theme=demo.echovox_theme,
    )
    return demo
