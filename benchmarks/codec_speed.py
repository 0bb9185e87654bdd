"""Codec encode/decode throughput (times real time) on CPU, printed as JSON.

Our `encodec_24khz` preset is timed side by side with transformers' `EncodecModel` built from
the same architecture with random weights (same run, same threads, alternating repeats), plus
our `speech_16k` and `tiny` presets. Ratio > 1 means ours is faster.

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


def best_time(fn, repeats: int) -> float:
    return best_times([fn], repeats)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n_q", type=int, default=8, help="codebooks (8 = 6 kbit/s for EnCodec)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from transformers import EncodecConfig, EncodecModel

    from echovox.codec import CodecConfig, RVQCodec

    results: dict[str, dict] = {}

    def ours(name: str, reference: tuple | None = None) -> dict:
        cfg = CodecConfig.from_name(name)
        codec = RVQCodec(cfg).eval()
        n_q = min(args.n_q, cfg.n_codebooks)
        wav = torch.randn(1, 1, int(args.seconds * cfg.sample_rate)) * 0.1
        codes = codec.encode(wav, n_q=n_q)
        if reference is None:
            enc = best_time(lambda: codec.encode(wav, n_q=n_q), args.repeats)
            dec = best_time(lambda: codec.decode(codes), args.repeats)
        else:  # interleaved with the reference's encode and decode
            enc, ref_t[0] = best_times(
                [lambda: codec.encode(wav, n_q=n_q), reference[0]], args.repeats
            )
            dec, ref_t[1] = best_times([lambda: codec.decode(codes), reference[1]], args.repeats)
        return {
            "sample_rate": cfg.sample_rate,
            "frame_rate": cfg.frame_rate,
            "n_q": n_q,
            "params": sum(p.numel() for p in codec.parameters()),
            "encode_x_realtime": args.seconds / enc,
            "decode_x_realtime": args.seconds / dec,
        }

    # reference: transformers EnCodec, same architecture as our preset, random weights
    ref = EncodecModel(EncodecConfig()).eval()
    # transformers initialises the codebooks to zeros, so its decoder would run on all-zero
    # latents; give it random codebooks at the scale of ours so both decode real signals
    with torch.no_grad():
        for layer in ref.quantizer.layers:
            layer.codebook.embed.normal_(0, 0.1)
    bandwidth = args.n_q * 75 * 10 / 1000  # 8 codebooks -> 6.0 kbit/s
    wav24 = torch.randn(1, 1, int(args.seconds * 24000)) * 0.1
    with torch.inference_mode():
        ref_codes = ref.encode(wav24, bandwidth=bandwidth).audio_codes

    def ref_encode():
        with torch.inference_mode():
            return ref.encode(wav24, bandwidth=bandwidth)

    def ref_decode():
        with torch.inference_mode():
            return ref.decode(ref_codes, [None])

    ref_t = [0.0, 0.0]
    ours24 = ours("encodec_24khz", reference=(ref_encode, ref_decode))
    ref_enc, ref_dec = ref_t
    results["transformers_encodec_24khz"] = {
        "sample_rate": 24000,
        "frame_rate": 75,
        "n_q": args.n_q,
        "params": sum(p.numel() for p in ref.parameters()),
        "encode_x_realtime": args.seconds / ref_enc,
        "decode_x_realtime": args.seconds / ref_dec,
    }
    results["echovox_encodec_24khz"] = ours24
    results["echovox_speech_16k"] = ours("speech_16k")
    results["echovox_tiny"] = ours("tiny")
    ratio = {
        "encode": ours24["encode_x_realtime"]
        / results["transformers_encodec_24khz"]["encode_x_realtime"],
        "decode": ours24["decode_x_realtime"]
        / results["transformers_encodec_24khz"]["decode_x_realtime"],
    }
    print(
        json.dumps(
            {
                "benchmark": "codec_speed",
                "device": "cpu",
                "threads": args.threads,
                "audio_seconds": args.seconds,
                "torch": torch.__version__,
                "machine": platform.machine(),
                "results": results,
                "ratio_ours_over_transformers": ratio,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
