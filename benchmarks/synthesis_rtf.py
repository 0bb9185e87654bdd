"""Real-time factor of synthesis: the Python API warm (float32 and float16 AR decode weights),
`echovox synthesize` end to end with --threads 1 and with torch's default threads (process
start, model load, prompt, generation, file write), and batched vs one-by-one sentences, side by
side in one run. Prints JSON.

    .venv/bin/python benchmarks/synthesis_rtf.py                   # tiny random model
    .venv/bin/python benchmarks/synthesis_rtf.py --preset small    # embedded-model size

Weights are random, so any preset can be timed (the trained echovox-tiny is timed by `make demo`
and `chunking_rtf.py`); speed does not depend on them. A random model stops at an arbitrary
step, so every chunk is forced to exactly --frames frames with the min/max frame guards, which
makes the audio length, and hence the RTF, comparable between runs. RTF = synthesis seconds /
seconds of audio (below 1 is faster than real time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _device import best_of

from echovox.app.synthesizer import Synthesizer
from echovox.audio import save_audio
from echovox.model_dir import ModelSettings, save_model_dir

PRESETS = {
    # codec preset, LM preset
    "tiny": ("tiny", "tiny"),
    "small": ("speech_16k", "small"),
    "full": ("encodec_24khz", "valle"),  # VALL-E's sizes
}
# VALL-E codes EnCodec 24 kHz with 8 of its codebooks (6 kbit/s)
CODEC_OVERRIDES = {"full": {"n_codebooks": 8}}
SENTENCES = [
    "The weather was calm when the boat left the harbour.",
    "Nobody expected the meeting to last all afternoon.",
    "She put the letters on the table and walked out.",
    "A small dog barked twice and then fell silent.",
]


def build_model(directory: Path, preset: str, frames: int) -> Path:
    from echovox.codec import CodecConfig, RVQCodec
    from echovox.lm.ar import ARModel
    from echovox.lm.config import ARConfig, NARConfig
    from echovox.lm.nar import NARModel
    from echovox.text import SymbolTable

    torch.manual_seed(0)
    codec_preset, lm_preset = PRESETS[preset]
    codec = RVQCodec(CodecConfig.from_name(codec_preset, **CODEC_OVERRIDES.get(preset, {})))
    symbols = SymbolTable.default()
    prompt_frames = int(3 * codec.frame_rate) + 1
    lm = dict(
        n_phonemes=len(symbols),
        n_codebooks=codec.n_codebooks,
        codebook_size=codec.codebook_size,
        max_frames=max(4096 if lm_preset != "tiny" else 512, prompt_frames + frames + 1),
    )
    ar = ARModel(ARConfig.from_name(lm_preset, **lm))
    nar = NARModel(NARConfig.from_name(lm_preset, **lm))
    sampling = dict(min_frames=frames, max_frames=frames, top_k=50, seed=0)
    settings = ModelSettings(name=f"random-{preset}", sampling=sampling)
    return save_model_dir(
        directory, codec=codec, ar=ar, nar=nar, symbols=symbols, settings=settings
    )


def prompt_audio(path: Path, sr: int) -> Path:
    """3 s of a voiced-sounding tone (the prompt's content does not change the speed)."""
    t = np.arange(3 * sr) / sr
    phase = 2 * np.pi * np.cumsum(120 + 20 * np.sin(2 * np.pi * 0.7 * t)) / sr
    wav = 0.3 * sum(np.sin(k * phase) / k for k in range(1, 6))
    wav *= np.clip(np.sin(2 * np.pi * 2.5 * t), 0.05, None)
    return save_audio(path, wav.astype(np.float32), sr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    ap.add_argument("--frames", type=int, default=0, help="frames per chunk (0: 2 s of audio)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="echovox-rtf-") as tmp:
        tmp = Path(tmp)
        from echovox.codec import CodecConfig

        cc = CodecConfig.from_name(PRESETS[args.preset][0], **CODEC_OVERRIDES.get(args.preset, {}))
        frames = args.frames or int(2 * cc.frame_rate)
        model_dir = build_model(tmp / "model", args.preset, frames)
        prompt = prompt_audio(tmp / "prompt.wav", 16_000)
        prompt_text = "one two three four five six seven"

        t = time.perf_counter()
        tts = Synthesizer.from_pretrained(model_dir, device="cpu")
        load_s = time.perf_counter() - t
        vp = tts.prepare_prompt(prompt, prompt_text)
        tts.clone(SENTENCES[0], vp)  # warm-up

        def best(fn):
            return best_of(args.repeats, torch.device("cpu"), fn)

        one_s, one = best(lambda: tts.clone(SENTENCES[0], vp))
        tts.half_weights = True  # float16 AR decode weights, same model, interleaved runs
        tts.clone(SENTENCES[0], vp)
        half_s, half = best(lambda: tts.clone(SENTENCES[0], vp))
        tts.half_weights = False
        seq_s, seq = best(lambda: [tts.clone(s, vp) for s in SENTENCES])
        # one chunk a sentence, so the four go through the models as one batch of four
        tts.config.text.pack_sentences = False
        batch_s, batch = best(lambda: tts.clone(" ".join(SENTENCES), vp))
        tts.config.text.pack_sentences = True
        seq_audio = sum(a.duration for a in seq)

        cli = [
            sys.executable,
            "-m",
            "echovox.app.cli",
            "synthesize",
            "--text",
            SENTENCES[0],
            "--prompt",
            str(prompt),
            "--prompt_text",
            prompt_text,
            "--model",
            str(model_dir),
            "--output",
            str(tmp / "out.wav"),
            "--device",
            "cpu",
        ]
        # a fresh process each time (cold: imports, model load, first-call costs); the best of
        # --repeats, because one run on a shared machine mostly measures the neighbours.
        # --threads 1 against torch's default thread count, interleaved
        cli_runs: dict[str, list] = {"threads_1": [], "threads_default": []}
        for _ in range(args.repeats):
            for key, extra in (("threads_1", ["--threads", "1"]), ("threads_default", [])):
                t = time.perf_counter()
                res = subprocess.run(cli + extra, capture_output=True, text=True)
                wall = time.perf_counter() - t
                if res.returncode != 0:
                    raise SystemExit(res.stderr)
                cli_runs[key].append((wall, json.loads(res.stdout.strip().splitlines()[-1])))

    def cli_result(runs):
        best_run = min((s for _, s in runs), key=lambda s: s["synthesis_s"])
        wall = min(w for w, _ in runs)
        return {
            "runs": len(runs),
            "wall_s": round(wall, 3),
            "synthesis_s": best_run["synthesis_s"],
            "audio_s": best_run["duration_s"],
            "rtf_synthesis": best_run["rtf"],
            "rtf_wall": round(wall / best_run["duration_s"], 3),
        }

    print(
        json.dumps(
            {
                "benchmark": "synthesis_rtf",
                "model": f"random weights, {args.preset} preset (codec {cc.sample_rate} Hz, "
                f"{cc.frame_rate:g} frames/s)",
                "machine": {
                    "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(),
                    "load_average_1min": round(os.getloadavg()[0], 2),
                    "torch_threads": torch.get_num_threads(),
                },
                "frames_per_chunk": frames,
                "load_s": round(load_s, 3),
                "api_one_sentence": {
                    "seconds": round(one_s, 3),
                    "audio_s": round(one.duration, 3),
                    "rtf": round(one_s / one.duration, 3),
                },
                "api_one_sentence_half_weights": {
                    "seconds": round(half_s, 3),
                    "audio_s": round(half.duration, 3),
                    "rtf": round(half_s / half.duration, 3),
                },
                "half_weights_speedup": round(one_s / half_s, 2),
                "api_4_sentences_one_by_one": {
                    "seconds": round(seq_s, 3),
                    "audio_s": round(seq_audio, 3),
                    "rtf": round(seq_s / seq_audio, 3),
                },
                "api_4_sentences_batched": {
                    "seconds": round(batch_s, 3),
                    "audio_s": round(batch.duration, 3),
                    "rtf": round(batch_s / batch.duration, 3),
                },
                "batched_speedup": round(seq_s / batch_s, 2),
                "cli_synthesize_threads_1": cli_result(cli_runs["threads_1"]),
                "cli_synthesize_threads_default": cli_result(cli_runs["threads_default"]),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
