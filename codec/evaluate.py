"""`echovox codec eval`: codec quality at every codebook count, next to Opus at the same
bitrate, on a folder of audio."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from echovox.audio import load_audio

from .base import Codec
from .metrics import OPUS_MIN_KBPS, codebook_usage, opus_available, opus_roundtrip, quality

METRICS = ("mel_distance", "si_sdr", "stoi", "pesq_wb")


@dataclass
class EvalRow:
    system: str  # "codec" or "opus"
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
) -> list[EvalRow]:
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
    for ref in tqdm(refs, desc="eval", unit="file"):
        codes = codec.encode(torch.from_numpy(ref)[None, None], n_q=max(n_qs))
        codes_all.append(codes)
        for n in n_qs:
            out = codec.decode(codes[:, :n])[0, 0].cpu().numpy()[: len(ref)]
            per.setdefault(("codec", n), []).append(quality(out, ref, sr))
            if with_opus:
                target = codec.bitrate(n) / 1000
                dec, used = opus_roundtrip(ref, sr, target)
                opus_kbps[n] = used
                per.setdefault(("opus", n), []).append(quality(dec, ref, sr))
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


def markdown_table(rows: list[EvalRow]) -> str:
    head = (
        "| n_q | system | kbit/s | mel dist ↓ | SI-SDR dB ↑ | STOI ↑ | PESQ-WB ↑ "
        "| last codebook: used / perplexity |"
    )
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        m = r.metrics
        kbps = f"{r.kbps:.2f}"
        if r.system == "opus" and r.kbps > r.target_kbps + 1e-6:
            kbps += f" (min; target {r.target_kbps:.2f})"
        usage = ""
        if r.codebook_usage:
            u = r.codebook_usage[-1]
            usage = f"{u['used']} / {u['perplexity']:.0f}"
        lines.append(
            f"| {r.n_q} | {r.system} | {kbps} | {m['mel_distance']:.3f} | {m['si_sdr']:.2f} | "
            f"{m['stoi']:.3f} | {m['pesq_wb']:.2f} | {usage} |"
        )
    lines.append("")
    lines.append(
        f"Opus cannot encode below {OPUS_MIN_KBPS:g} kbit/s; rows marked 'min' ran Opus at that "
        "floor, so it gets more bits than the codec row beside it."
    )
    return "\n".join(lines) + "\n"


def run_eval(
    model: str,
    audio_dir: str,
    out_dir: str,
    n_q: list[int] | None = None,
    opus: bool = True,
    max_files: int | None = None,
    max_seconds: float | None = None,
) -> dict:
    from echovox.checkpoint import write_json

    from .training import list_audio

    codec = Codec.from_pretrained(model)
    files = list_audio(audio_dir)[: max_files or None]
    with_opus = opus and opus_available()
    rows = evaluate(codec, files, n_q, with_opus=with_opus, max_seconds=max_seconds)
    out = Path(out_dir)
    result = {
        "model": str(model),
        "audio_dir": str(audio_dir),
        "n_files": len(files),
        "sample_rate": codec.sample_rate,
        "frame_rate": codec.frame_rate,
        "codebook_size": codec.codebook_size,
        "opus": with_opus,
        "rows": [asdict(r) for r in rows],
    }
    write_json(out / "codec_eval.json", result)
    table = markdown_table(rows)
    (out / "codec_eval.md").write_text(table)
    print(table)
    return result
