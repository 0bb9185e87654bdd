"""Phonemizer throughput: short sentences per second in one process. Prints JSON.

    python benchmarks/phonemize_speed.py [--n 5000] [--repeats 3]

Target (issue: text front end): at least 5,000 short sentences a second.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time

SUBJECTS = "the old man|a little girl|my brother|the cat|our teacher|the pilot|she|they".split("|")
VERBS = "found|painted|carried|opened|forgot|sold|washed|watched|borrowed|fixed".split("|")
OBJECTS = "a red box|the window|two letters|the garden gate|his bicycle|a cold drink".split("|")
TAILS = ["", " yesterday", " at noon", " in the rain", " again", " very slowly"]
ENDS = [".", "!", "?", "."]


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        f"{rng.choice(TAILS)}{rng.choice(ENDS)}".capitalize()
        for _ in range(n)
    ]


def best_rate(fn, batch: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(batch)
        best = min(best, time.perf_counter() - t0)
    return len(batch) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--language", default="en-us")
    args = parser.parse_args()

    from echovox.text import Phonemizer, SymbolTable, normalize

    batch = sentences(args.n)
    phonemizer = Phonemizer(args.language)
    table = SymbolTable.default()
    phonemizer.phonemize(batch[:10])  # warm-up: voice and dictionary loading

    def frontend(texts):
        # the full path a corpus stage takes: normalise, phonemise, ids (normalise is cached
        # per text, so it is timed on fresh strings)
        normed = [normalize(t + " ", args.language) for t in texts]
        return [table.encode(t) for t in phonemizer.phonemize(normed)]

    phon_rate = best_rate(phonemizer.phonemize, batch, args.repeats)
    full_rate = best_rate(frontend, batch, 1)
    print(
        json.dumps(
            {
                "benchmark": "phonemize_speed",
                "language": args.language,
                "sentences": args.n,
                "mean_chars": round(sum(map(len, batch)) / len(batch), 1),
                "phonemize_sentences_per_s": round(phon_rate),
                "normalize_phonemize_encode_sentences_per_s": round(full_rate),
                "target_sentences_per_s": 5000,
                "meets_target": phon_rate >= 5000,
                "machine": platform.machine(),
                "python": platform.python_version(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
