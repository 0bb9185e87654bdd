"""Synthesis time of the trained embedded model (echovox-tiny) on a CPU with the NAR and the
codec decoder in float32 against bfloat16 autocast (`Synthesizer(bf16=...)`), interleaved in
one run so load changes hit both alike. Prints JSON.

    .venv/bin/python benchmarks/cpu_bf16_rtf.py [--repeats 6] [--threads 2]

The whole `clone` call is timed, as `make demo` times it (prompt preparation, AR, NAR, codec),
with the demo's sentence, prompt and seed; the NAR and decoder share of it is timed apart. The
AR runs the same way in both settings. On a CPU without bfloat16 instructions (see
`native_cpu_bf16` in the JSON) autocast emulates bfloat16 and the second column is expected to
be slower: that is why the Synthesizer's default turns it on only where they exist.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from echovox.app.demo import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT
from echovox.app.synthesizer import Synthesizer, native_cpu_bf16

# the Makefile's DEMO_TEXT
TEXT = "The quick brown fox jumps over the lazy dog, and then it takes a nap."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tts = Synthesizer.from_pretrained(device="cpu", bf16=False)
    settings = tts.default_settings(seed=0)
    complete = tts._complete
    stage_s: list[float] = []

    def timed_complete(*a, **k):  # the NAR and the codec decoder
        t = time.perf_counter()
        out = complete(*a, **k)
        stage_s.append(time.perf_counter() - t)
        return out

    tts._complete = timed_complete
    tts.clone(TEXT, str(EXAMPLE_PROMPT), EXAMPLE_PROMPT_TEXT, settings=settings)  # warm-up

    runs: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
    for _ in range(args.repeats):
        for bf16 in (False, True):  # interleaved: both see the same machine load
            tts.bf16 = bf16
            stage_s.clear()
            audio = tts.clone(TEXT, str(EXAMPLE_PROMPT), EXAMPLE_PROMPT_TEXT, settings=settings)
            runs[bf16].append((audio.seconds, audio.duration, sum(stage_s)))

    def summary(rows: list[tuple[float, float, float]]) -> dict:
        rtfs = sorted(s / d for s, d, _ in rows)
        return {
            "audio_s": round(rows[0][1], 3),
            "rtf_min": round(rtfs[0], 3),
            "rtf_median": round(statistics.median(rtfs), 3),
            "rtf_max": round(rtfs[-1], 3),
            "nar_and_decoder_s_median": round(statistics.median(r[2] for r in rows), 3),
        }

    f32, bf = summary(runs[False]), summary(runs[True])
    print(
        json.dumps(
            {
                "benchmark": "cpu_bf16_rtf",
                "model": "echovox-tiny (embedded)",
                "processor": platform.processor() or platform.machine(),
                "native_cpu_bf16": native_cpu_bf16(),
                "repeats": args.repeats,
                "torch_threads": torch.get_num_threads(),
                "half_weights": tts.half_weights,
                "load_average_1min": round(os.getloadavg()[0], 2),
                "float32": f32,
                "bf16_autocast": bf,
                "median_rtf_ratio_bf16_over_float32": round(
                    bf["rtf_median"] / f32["rtf_median"], 3
                ),
                "nar_and_decoder_ratio": round(
                    bf["nar_and_decoder_s_median"] / f32["nar_and_decoder_s_median"], 3
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
