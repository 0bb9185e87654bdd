"""Synthesis time of a multi-sentence text with the trained embedded model (echovox-tiny):
sentences packed into chunks of up to text.max_chars (the default) against one chunk a
sentence batched together, interleaved in one run so load changes hit both alike. Prints JSON.

    .venv/bin/python benchmarks/chunking_rtf.py [--repeats 3] [--threads 1]

Unlike synthesis_rtf.py this needs trained weights: how long the output runs, and so the RTF,
depends on when the AR says end-of-speech, which a random model does not do. Each setting uses
the same seed; RTF = synthesis seconds / seconds of audio.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from echovox.app.demo import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT
from echovox.app.synthesizer import Synthesizer

SENTENCES = [
    "The weather was calm when the boat left the harbour.",
    "Nobody expected the meeting to last all afternoon.",
    "She put the letters on the table and walked out.",
    "A small dog barked twice and then fell silent.",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    tts = Synthesizer.from_pretrained(device="cpu")
    vp = tts.prepare_prompt(str(EXAMPLE_PROMPT), EXAMPLE_PROMPT_TEXT)
    text = " ".join(SENTENCES)
    settings = tts.default_settings(seed=0)
    tts.clone(SENTENCES[0], vp, settings=settings)  # warm-up

    runs: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}
    for _ in range(args.repeats):
        for pack in (True, False):  # interleaved: both see the same machine load
            tts.config.text.pack_sentences = pack
            t = time.perf_counter()
            audio = tts.clone(text, vp, settings=settings)
            runs[pack].append((time.perf_counter() - t, audio.duration, len(audio.chunks)))
    tts.config.text.pack_sentences = True

    def summary(rows: list[tuple[float, float, int]]) -> dict:
        seconds, audio_s, chunks = min(rows)
        return {
            "chunks": chunks,
            "seconds": round(seconds, 3),
            "audio_s": round(audio_s, 3),
            "rtf": round(seconds / audio_s, 3),
        }

    packed, per_sentence = summary(runs[True]), summary(runs[False])
    print(
        json.dumps(
            {
                "benchmark": "chunking_rtf",
                "model": "echovox-tiny (embedded)",
                "text_chars": len(text),
                "repeats": args.repeats,
                "torch_threads": torch.get_num_threads(),
                "half_weights": tts.half_weights,
                "load_average_1min": round(os.getloadavg()[0], 2),
                "packed": packed,
                "one_chunk_a_sentence": per_sentence,
                "time_ratio_sentence_over_packed": round(
                    per_sentence["seconds"] / packed["seconds"], 2
                ),
                "rtf_ratio_sentence_over_packed": round(per_sentence["rtf"] / packed["rtf"], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
