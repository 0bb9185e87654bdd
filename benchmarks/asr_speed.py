"""Whisper base (the packaged CTranslate2 copy, int8 on the CPU) real-time factor, printed as
JSON: 1 and 2 threads, each clip alone and in batches, on the same clips in one run.

RTF = transcription wall time / audio duration (below 1 is faster than real time). Whisper
reads 30-s windows, so a short clip costs a whole window's encoder: the RTF of 3-s clips is
about ten times that of 30-s audio.

    .venv/bin/python benchmarks/asr_speed.py [--clips 8] [--seconds 3] [--batch 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

SENTENCES = [
    "Please open the window in the kitchen.",
    "My brother bought a new red bicycle.",
    "The meeting starts at nine tomorrow morning.",
    "She carried the heavy box up the stairs.",
]


def clips(n: int, seconds: float) -> list[np.ndarray]:
    """n clips of about `seconds`: mbrola speech (espeak-ng when mbrola is missing), cut or
    padded with silence."""
    from echovox.audio import load_audio

    voice = "mb-us1" if Path("/usr/share/mbrola/us1").exists() else "en-us"
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            path = Path(tmp) / f"{i}.wav"
            text = " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(4))
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
            wav = load_audio(path, 16_000)[: int(seconds * 16_000)]
            out.append(np.pad(wav, (0, int(seconds * 16_000) - len(wav))))
    return out


def wall(asr, wavs: list[np.ndarray], batch: int) -> float:
    t = time.perf_counter()
    for start in range(0, len(wavs), batch):
        asr.transcribe(wavs[start : start + batch])
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    if shutil.which("espeak-ng") is None:
        raise SystemExit("needs espeak-ng (make install)")
    from echovox.eval.asr import load_asr

    wavs = clips(args.clips, args.seconds)
    models = {
        t: load_asr("whisper", device="cpu", threads=t, batch_size=args.batch) for t in (1, 2)
    }
    for asr in models.values():
        asr.transcribe(wavs[:1])  # warm-up
    seconds = sum(len(w) for w in wavs) / 16_000
    settings = [(t, b) for t in models for b in (1, args.batch)]
    best = {s: float("inf") for s in settings}
    # the four settings take turns in every repeat, so load from other processes hits all alike
    for _ in range(args.repeats):
        for threads, batch in settings:
            best[threads, batch] = min(best[threads, batch], wall(models[threads], wavs, batch))
    results = {f"threads{t}_batch{b}": best[t, b] / seconds for t, b in settings}
    print(json.dumps({
        "model": "whisper-base int8 (CTranslate2, packaged)",
        "machine": platform.processor() or platform.machine(),
        "clips": args.clips, "seconds_per_clip": args.seconds,
        "rtf": {k: round(v, 4) for k, v in results.items()},
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
