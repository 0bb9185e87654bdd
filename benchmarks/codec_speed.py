"""Codec encode + decode throughput (times real time) on CPU, printed as JSON.

The trainable frame-rate codec (`FrameCodec`, preset `speech_16k`: every layer at 40 or 80
frames a second) is timed side by side with the SEANet `RVQCodec` `speech_16k` that
echovox-tiny v1 ships (its layers run at up to the sample rate), in one run, taking turns in
every repeat, with random weights (speed does not depend on them). Ratio > 1: the frame codec
is faster.

    .venv/bin/python benchmarks/codec_speed.py [--seconds 10] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch


def best_times(fns: list, repeats: int) -> list[float]:
    """Best wall time of each function; the functions take turns in every repeat, so load
    from other processes on a shared machine hits all of them alike."""
    for fn in fns:
        fn()  # warm-up (allocations, weight-norm caches)
    times = [[] for _ in fns]
    order = list(range(len(fns)))
    for r in range(repeats):
        # alternate who goes first: whoever runs right after the other pays for its cache misses
        for i in order if r % 2 == 0 else order[::-1]:
            t = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - t)
    return [min(t) for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from echovox.codec import CodecConfig, RVQCodec
    from echovox.codec.config import FrameCodecConfig
    from echovox.codec.frame import FrameCodec

    codecs = {
        "frame_speech_16k": FrameCodec(FrameCodecConfig.from_name("speech_16k")).eval(),
        "rvq_speech_16k_v1": RVQCodec(CodecConfig.from_name("speech_16k")).eval(),
    }
    wav = torch.randn(1, 1, int(args.seconds * 16_000)) * 0.1
    steps, info = [], {}
    for name, codec in codecs.items():
        with torch.inference_mode():
            codes = codec.encode(wav)

        def roundtrip(codec=codec):
            with torch.inference_mode():
                return codec.decode(codec.encode(wav))

        def decode(codec=codec, codes=codes):
            with torch.inference_mode():
                return codec.decode(codes)

        steps += [roundtrip, decode]
        info[name] = {
            "params": sum(p.numel() for p in codec.parameters()),
            "frame_rate": codec.frame_rate,
            "n_q": codec.n_codebooks,
            "kbps": codec.bitrate(codec.n_codebooks) / 1000,
        }
    times = best_times(steps, args.repeats)
    for i, name in enumerate(codecs):
        info[name]["encode_decode_x_realtime"] = round(args.seconds / times[2 * i], 1)
        info[name]["decode_x_realtime"] = round(args.seconds / times[2 * i + 1], 1)
    frame, old = info["frame_speech_16k"], info["rvq_speech_16k_v1"]
    print(json.dumps({
        "benchmark": "codec_speed",
        "device": "cpu",
        "threads": args.threads,
        "audio_seconds": args.seconds,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "results": info,
        "encode_decode_speedup_frame_over_v1": round(
            frame["encode_decode_x_realtime"] / old["encode_decode_x_realtime"], 2
        ),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
