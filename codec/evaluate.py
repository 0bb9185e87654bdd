"""Codec quality at every codebook count, next to Opus at the same bitrate, on a folder of
audio: the signal metrics. `echovox codec eval` (echovox.eval.codec_eval) adds what a listener
hears, through the `listen` hook, since the codec layer imports no recogniser."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from echovox.audio import load_audio

from .base import Codec
from .metrics import codebook_usage, opus_roundtrip, quality

METRICS = ("mel_distance", "si_sdr", "stoi", "pesq_wb")


@dataclass
class EvalRow:
    system: str  # "codec", "opus" or "original"
    n_q: int
    kbps: float  # bitrate actually used
    target_kbps: float  # the codec's bitrate at this n_q
    metrics: dict[str, float]
    codebook_usage: list[dict[str, float]] = field(default_factory=list)


def _mean(values: list[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


def evaluate(
    codec: Codec,
    files: list[Path],
    n_qs: list[int] | None = None,
    with_opus: bool = True,
    max_seconds: float | None = None,
    listen: Callable[[int, dict[tuple[str, int], np.ndarray]], None] | None = None,
) -> list[EvalRow]:
    """listen(file_index, {("original", 0): ref, ("codec", n): out, ("opus", n): dec, ...}):
    called once per file with every version of it, at the codec's rate."""
    n_qs = sorted(set(n_qs or range(1, codec.n_codebooks + 1)))
    for n in n_qs:
        codec.check_n_q(n)
    sr = codec.sample_rate
    refs = []
    for f in files:
        wav = load_audio(f, sr, end=max_seconds)
        refs.append(wav)
    per: dict[tuple[str, int], list[dict[str, float]]] = {}
    codes_all: list[torch.Tensor] = []
    opus_kbps: dict[int, float] = {}
    for i, ref in enumerate(tqdm(refs, desc="eval", unit="file")):
        codes = codec.encode(torch.from_numpy(ref)[None, None], n_q=max(n_qs))
        codes_all.append(codes)
        versions = {("original", 0): ref}
        for n in n_qs:
            versions["codec", n] = codec.decode(codes[:, :n])[0, 0].cpu().numpy()[: len(ref)]
            if with_opus:
                versions["opus", n], opus_kbps[n] = opus_roundtrip(ref, sr, codec.bitrate(n) / 1000)
        for key, wav in versions.items():
            if key[0] != "original":
                per.setdefault(key, []).append(quality(wav, ref, sr))
        if listen is not None:
            listen(i, versions)
    usage = codebook_usage(codes_all, codec.codebook_size)
    rows = []
    for (system, n), ms in per.items():
        metrics = {k: _mean([m[k] for m in ms]) for k in METRICS}
        target = codec.bitrate(n) / 1000
        rows.append(
            EvalRow(
                system=system,
                n_q=n,
                kbps=target if system == "codec" else opus_kbps[n],
                target_kbps=target,
                metrics=metrics,
                codebook_usage=usage[:n] if system == "codec" else [],
            )
        )
    rows.sort(key=lambda r: (r.n_q, r.system))
    return rows
