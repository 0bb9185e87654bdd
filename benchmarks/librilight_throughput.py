"""Per-item throughput of the LibriLight recipe's data stages, for the scale estimates in
recipes/librilight/README.md. Prints JSON.

    .venv/bin/python benchmarks/librilight_throughput.py            # CPU, a few minutes
    python benchmarks/librilight_throughput.py --device cuda --asr whisper   # on a GPU node

A LibriLight-shaped corpus is made by the synthetic recipe's stage 0 (mbrola voices, JSON
voice_activity beside each flac), then stages 1, 2 and 4 run on it as the LibriLight recipe
runs them (one process). Stage 3 (ASR) is timed with echovox.eval.asr on the segments when
--asr names an installed backend; stage 5 is timed with EnCodec 24 kHz's architecture
(random weights: the cost does not depend on them) on 10-second utterances. Disk: bytes of
each stage's shards per hour of audio. Start-up: TokenDataset over a token view with and
without its length index.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def data_stages(tmp: Path, speakers: int, out: dict) -> None:
    from echovox.recipes.config import config_from_dict
    from echovox.recipes.runner import run
    from echovox.recipes.stage import load_dataset_dir

    cfg = config_from_dict(
        {
            "recipe": "synthetic",
            "exp_dir": str(tmp / "exp"),
            "corpus": {"root": str(tmp / "corpus"), "subsets": ["small"]},
            "synthetic": {"n_speakers": speakers, "n_heldout_speakers": 0,
                          "chapters_per_speaker": 2, "sentences_per_chapter": 16},
            "asr": {"backend": "reference"},
            "splits": {"dev_speakers": 0, "test_speakers": 0},
            "work": {"num_proc": 1, "shard_size": 64},
        }
    )  # fmt: skip
    run(cfg, 0, 0)
    reports = {r.stage: r for r in run(cfg, 1, 4)}
    files = load_dataset_dir(cfg.exp / "files")
    hours = float(np.sum(files["duration"])) / 3600
    n_utts = len(load_dataset_dir(cfg.exp / "segments"))
    out["corpus"] = {"files": len(files), "hours": round(hours, 4), "utterances": n_utts}
    per = {1: ("files", len(files)), 2: ("audio hours", hours), 4: ("utterances", n_utts)}
    for stage, (unit, n) in per.items():
        sec = reports[stage].seconds
        out[f"stage{stage}"] = {"seconds": round(sec, 2), f"{unit} per second": n / sec,
                                "seconds per audio hour": sec / hours}  # fmt: skip
    shards = cfg.exp / "shards"
    out["disk bytes per audio hour"] = {
        d.name: int(_du(d) / hours) for d in sorted(shards.iterdir()) if d.name != "generate"
    }
    out["_segments"] = str(cfg.exp / "segments")


def asr_stage(segments: str, backend: str, device: str, out: dict) -> None:
    from echovox.audio import load_audio
    from echovox.eval.asr import ASR_SR, load_asr
    from echovox.recipes.stage import load_dataset_dir

    segs = load_dataset_dir(segments)
    wavs = [load_audio(r["path"], ASR_SR, start=r["start"], end=r["end"]) for r in segs]
    try:
        asr = load_asr(backend, device=device, batch_size=16)
    except Exception as err:  # not installed here: say so instead of a number
        out["stage3"] = {"unavailable": f"{type(err).__name__}: {err}"[:200]}
        return
    asr.transcribe_detailed(wavs[:2])  # warm-up: model load and first kernels
    t = time.perf_counter()
    asr.transcribe_detailed(wavs)
    sec = time.perf_counter() - t
    audio_h = sum(len(w) for w in wavs) / ASR_SR / 3600
    out["stage3"] = {"backend": backend, "seconds per audio hour": sec / audio_h,
                     "real-time factor (x)": audio_h * 3600 / sec}  # fmt: skip


def codec_stage(device: str, batch: int, out: dict) -> None:
    """EnCodec 24 kHz (transformers' architecture, random weights) encoding 8 codebooks."""
    from transformers import EncodecConfig, EncodecModel

    from echovox.codec.pretrained import EncodecCodec

    codec = EncodecCodec(EncodecModel(EncodecConfig())).to(device).eval()
    wav = torch.randn(batch, 1, 10 * codec.sample_rate, device=device) * 0.1
    with torch.inference_mode():
        codec.encode(wav[:1], n_q=8)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        codec.encode(wav, n_q=8)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    sec = time.perf_counter() - t
    out["stage5"] = {"codec": "encodec_24khz architecture, n_q 8", "batch": f"{batch} x 10 s",
                     "seconds per audio hour": sec / (batch * 10 / 3600)}  # fmt: skip


def startup(tmp: Path, rows: int, out: dict) -> None:
    """TokenDataset start-up over `rows` utterances: a plain dataset (column scan) against a
    view with its length index."""
    from datasets import Dataset

    from echovox.dataview import write_view
    from echovox.lm.data import TokenDataset
    from echovox.recipes.tokens import tokens_features

    rng = np.random.default_rng(0)
    frames = rng.integers(150, 750, rows)
    data = {"id": [f"u{i}" for i in range(rows)], "speaker": ["s"] * rows,
            "book": ["b"] * rows, "text": ["t"] * rows, "split": ["train"] * rows,
            "duration": (frames / 75).astype(np.float32),
            "phonemes": [[1] * int(f // 6) for f in frames],
            "codes": [[[0] * 4]] * rows, "n_frames": frames.astype(np.int32)}  # fmt: skip
    ds = Dataset.from_dict(data, features=tokens_features())
    ds.save_to_disk(str(tmp / "plain"))
    n_phon = np.array([len(p) for p in data["phonemes"]])
    index = np.arange(rows)
    write_view(tmp / "view", [tmp / "plain"], tokens_features(), index=index,
               lengths={"n_frames": frames, "n_phonemes": n_phon})  # fmt: skip
    timings = {}
    for name in ("plain", "view"):
        t = time.perf_counter()
        TokenDataset(tmp / name, max_phonemes=10_000)
        timings[name] = round(time.perf_counter() - t, 3)
    out["TokenDataset start-up seconds"] = {"rows": rows, "column scan": timings["plain"],
                                            "length index": timings["view"]}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--speakers", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--asr", default="whisper", help="an echovox.eval.asr backend, or none")
    p.add_argument("--codec_batch", type=int, default=4)
    p.add_argument("--startup_rows", type=int, default=200_000)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out: dict = {"benchmark": "librilight_throughput", "machine": platform.processor()
                 or platform.machine(), "device": args.device, "threads": args.threads}  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        data_stages(tmp, args.speakers, out)
        segments = out.pop("_segments")
        if args.asr != "none":
            asr_stage(segments, args.asr, args.device, out)
        codec_stage(args.device, args.codec_batch, out)
        startup(tmp / "startup", args.startup_rows, out)
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
