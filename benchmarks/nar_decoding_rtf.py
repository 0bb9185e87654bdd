"""Synthesis time of the NAR decodings with the trained embedded model (echovox-tiny): the
NAR's picked codes (`nar_decoding: codes`) against the expected codebook vectors under its
softmax (`expected`, Codec.decode_expected), both without voice matching, `expected` with
voice matching (`voice_match`: the model's setting, or weight 0.5 and k 4 where the model has
it off), and that with the latent contrast and spectral matching added (`latent_contrast`,
`spectral_match`: the model's settings, or 1.2 and weight 0.7 / frame weight 0.5 where it
has them off), interleaved in one run so load changes hit all four alike. Prints JSON.

    .venv/bin/python benchmarks/nar_decoding_rtf.py [--repeats 3] [--threads 1] [--model DIR]

`expected` keeps every NAR stage's softmax ([Q, T, K] per chunk) and decodes a weighted sum
of codebook vectors instead of a lookup; voice matching adds a [T, P] cosine-similarity matrix
against the prompt's latents per chunk; spectral matching two STFTs and a [T, P] distance
matrix against the prompt's frames per chunk; this measures what each costs end to end. The AR
output is the same for both (same seed), so the audio lengths match and RTF = synthesis
seconds / seconds of audio compares like with like; `text.trim_silence` is off for both, since
where it cuts depends on the decoded audio.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import torch

from echovox.app.demo import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT
from echovox.app.synthesizer import Synthesizer
from echovox.model_dir import SpectralMatchConfig, VoiceMatchConfig

TEXT = (
    "The weather was calm when the boat left the harbour. Nobody expected the meeting to "
    "last all afternoon. She put the letters on the table and walked out."
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default=None, help="a model directory (default: the embedded)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tts = Synthesizer.from_pretrained(args.model, device="cpu")
    vp = tts.prepare_prompt(str(EXAMPLE_PROMPT), EXAMPLE_PROMPT_TEXT)
    settings = tts.default_settings(seed=0)
    untrimmed = dataclasses.replace(tts.config.text, trim_silence=False)
    off = VoiceMatchConfig()
    on = tts.config.voice_match if tts.config.voice_match.weight > 0 else VoiceMatchConfig(0.5)
    configs = {
        m: dataclasses.replace(tts.config, nar_decoding=m, text=untrimmed, voice_match=off)
        for m in ("codes", "expected")
    }
    configs["expected_voice_match"] = dataclasses.replace(
        configs["expected"],
        voice_match=on,
        latent_contrast=1.0,
        spectral_match=SpectralMatchConfig(),
    )
    for m in ("codes", "expected"):
        configs[m] = dataclasses.replace(
            configs[m], latent_contrast=1.0, spectral_match=SpectralMatchConfig()
        )
    spectral = (
        tts.config.spectral_match
        if tts.config.spectral_match.active
        else SpectralMatchConfig(weight=0.7, frame_weight=0.5)
    )
    contrast = tts.config.latent_contrast if tts.config.latent_contrast != 1.0 else 1.2
    configs["expected_voice_match_spectral"] = dataclasses.replace(
        configs["expected_voice_match"], latent_contrast=contrast, spectral_match=spectral
    )
    tts.clone("A short warm-up.", vp, settings=settings)

    runs: dict[str, list[tuple[float, float]]] = {m: [] for m in configs}
    shipped = tts.config
    try:
        for _ in range(args.repeats):
            for mode, cfg in configs.items():  # interleaved: all see the same machine load
                tts.config = cfg
                t = time.perf_counter()
                audio = tts.clone(TEXT, vp, settings=settings)
                runs[mode].append((time.perf_counter() - t, audio.duration))
    finally:
        tts.config = shipped

    def summary(rows: list[tuple[float, float]]) -> dict:
        seconds, audio_s = min(rows)
        return {
            "seconds": round(seconds, 3),
            "audio_s": round(audio_s, 3),
            "rtf": round(seconds / audio_s, 3),
        }

    codes, expected = summary(runs["codes"]), summary(runs["expected"])
    matched = summary(runs["expected_voice_match"])
    spectral_run = summary(runs["expected_voice_match_spectral"])
    print(
        json.dumps(
            {
                "benchmark": "nar_decoding_rtf",
                "model": args.model or "echovox-tiny (embedded)",
                "model_nar_decoding": shipped.nar_decoding,
                "text_chars": len(TEXT),
                "repeats": args.repeats,
                "torch_threads": torch.get_num_threads(),
                "half_weights": tts.half_weights,
                "load_average_1min": round(os.getloadavg()[0], 2),
                "voice_match": dataclasses.asdict(on),
                "codes": codes,
                "expected": expected,
                "latent_contrast": contrast,
                "spectral_match": dataclasses.asdict(spectral),
                "expected_voice_match": matched,
                "expected_voice_match_spectral": spectral_run,
                "time_ratio_expected_over_codes": round(expected["seconds"] / codes["seconds"], 3),
                "time_ratio_voice_match_over_expected": round(
                    matched["seconds"] / expected["seconds"], 3
                ),
                "time_ratio_spectral_over_voice_match": round(
                    spectral_run["seconds"] / matched["seconds"], 3
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
