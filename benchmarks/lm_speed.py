"""Codec LM speed: the AR's decode step against the code before the speed work and against the
weight-streaming floor, AR decoding with the KV cache against full recompute (same weights, side
by side), batched AR throughput, NAR time per stage, and peak memory. Prints JSON.

    .venv/bin/python benchmarks/lm_speed.py                 # small (d=384, 6L) and valle presets
    .venv/bin/python benchmarks/lm_speed.py --quick         # tiny preset, a few seconds
    .venv/bin/python benchmarks/lm_speed.py --parts step --presets small   # the step alone

The step part ("ar_step") times, interleaved over --step_repeats rounds in a rotating order,
the decode loop of the `lm/` package at git commit --baseline (read with `git archive` and
imported beside the current one, same weights), the current one, fp32 and half weights, and a
plain KV-cached loop written here; and it divides the bytes a step must read (weights, and
weights plus the average KV cache) by the bandwidth of a large tensor copy measured in the
same rounds. Medians; the machine's load average is printed at the start and the end.
    python benchmarks/lm_speed.py --device cuda             # on a GPU (timings synchronise it)

Full recompute (what lifeiteng/vall-e does: every step reruns the whole sequence) costs minutes
per point at these lengths, so by default it is timed exactly for runs up to
--exact_recompute_max tokens and otherwise integrated from single forward passes timed at
sampled sequence lengths (a step of full recompute is exactly one such forward pass); the JSON
says which method each number used. Weights are random: speed does not depend on them, and
generation is forced to the requested length by the min/max frame guards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from _baseline import load_lm
from _device import describe, pick_device, sync

from echovox.lm.ar import ARModel
from echovox.lm.config import ARConfig, NARConfig
from echovox.lm.generate import SamplingSettings, generate_ar, generate_nar
from echovox.lm.nar import NARModel

DEVICE = torch.device("cpu")  # set from --device in main


def rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory() -> dict:
    out = {"rss_mb": round(rss_mb())}
    if DEVICE.type == "cuda":
        out["cuda_allocated_mb"] = round(torch.cuda.max_memory_allocated(DEVICE) / 2**20)
    return out


def inputs(batch: int, n_phonemes: int, n_prompt: int, cfg, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ph = [torch.randint(1, cfg.n_phonemes, (n_phonemes,), generator=g) for _ in range(batch)]
    pc = [
        torch.randint(0, cfg.codebook_size, (cfg.n_codebooks, n_prompt), generator=g)
        for _ in range(batch)
    ]
    return ph, pc


def forced(n: int, temperature: float) -> SamplingSettings:
    # min = max = n: exactly n tokens whatever the random weights say
    return SamplingSettings(
        temperature=temperature, top_k=50, min_frames=n, max_frames=n, max_repeat_run=10**6
    )


def time_generate(
    model, ph, pc, n, temperature, use_cache=True, repeats=1, half=False
) -> tuple[float, int, float]:
    """(total seconds, tokens generated, seconds of the token-by-token loop alone), the best of
    `repeats` runs: the CPU is shared, and the fastest run is the one least disturbed."""
    best = (float("inf"), 0, 0.0)
    for _ in range(repeats):
        sync(DEVICE)
        t0 = time.perf_counter()
        out = generate_ar(
            model, ph, pc, forced(n, temperature), use_cache=use_cache, half_weights=half
        )
        sync(DEVICE)
        dt = time.perf_counter() - t0
        if dt < best[0]:
            best = (dt, sum(len(c) for c in out.codes), out.decode_seconds)
    return best


@torch.inference_mode()
def forward_seconds(model: ARModel, n_phonemes: int, n_audio: int, repeats: int = 1) -> float:
    c = model.config
    ph = torch.randint(1, c.n_phonemes, (1, n_phonemes), device=DEVICE)
    audio = torch.randint(0, c.codebook_size, (1, n_audio), device=DEVICE)
    lens = torch.tensor([n_phonemes], device=DEVICE), torch.tensor([n_audio], device=DEVICE)
    best = float("inf")
    for _ in range(repeats):
        sync(DEVICE)
        t0 = time.perf_counter()
        model(ph, lens[0], audio, lens[1])
        sync(DEVICE)
        best = min(best, time.perf_counter() - t0)
    return best


def bench_ar(preset: str, args, out: dict) -> None:
    cfg = ARConfig.from_name(preset, dropout=0.0, max_frames=max(args.tokens) + args.prompt + 8)
    model = ARModel(cfg).eval().to(DEVICE)
    ph, pc = inputs(1, args.phonemes, args.prompt, cfg)
    time_generate(model, ph, pc, 8, args.temperature)  # warm-up
    # full recompute: time one forward pass at sampled audio lengths, interpolate, integrate
    start = args.prompt + 1
    grid = np.linspace(start, start + max(args.tokens), args.recompute_points).round().astype(int)
    step_s = [forward_seconds(model, args.phonemes, int(n)) for n in grid]
    for n in args.tokens:
        dt, count, decode_s = time_generate(model, ph, pc, n, args.temperature, True, args.repeats)
        row = {
            "preset": preset,
            "params_M": round(model.num_parameters() / 1e6, 2),
            "tokens": count,
            "cached_s": round(dt, 3),
            "cached_tok_s": round(count / dt, 1),
            "cached_decode_only_tok_s": round(count / decode_s, 1),
        }
        hdt, hcount, hdecode_s = time_generate(
            model, ph, pc, n, args.temperature, True, args.repeats, half=True
        )
        row["cached_half_weights_tok_s"] = round(hcount / hdt, 1)
        row["cached_half_weights_decode_only_tok_s"] = round(hcount / hdecode_s, 1)
        integrated = float(np.interp(np.arange(start, start + n), grid, step_s).sum())
        row["recompute_integrated_s"] = round(integrated, 2)
        if n <= args.exact_recompute_max and preset in args.exact_recompute_presets:
            rdt = time_generate(model, ph, pc, n, args.temperature, use_cache=False)[0]
            row["recompute_method"] = "measured"
        else:
            rdt = integrated
            row["recompute_method"] = f"integrated from {len(grid)} timed forward passes"
        row["recompute_s"] = round(rdt, 2)
        row["recompute_tok_s"] = round(n / rdt, 2)
        row["speedup"] = round(rdt / dt, 1)
        row["speedup_half_weights"] = round(rdt / hdt, 1)
        out["ar_decode"].append(row)
        print(json.dumps(row), file=sys.stderr)
    out["peak_memory"][f"after ar {preset}"] = peak_memory()


# ---------------------------------------------------------------- decode step: old, new, floor
def memory_bandwidth(mb: int = 256) -> float:
    """Bytes per second of a large tensor copy, reads and writes counted (a copy of N bytes
    moves 2N), the median of 5: what a weight-streaming step can hope for at best."""
    src = torch.ones(mb * 2**20 // 4, device=DEVICE)
    dst = torch.empty_like(src)
    dst.copy_(src)
    times = []
    for _ in range(5):
        sync(DEVICE)
        t0 = time.perf_counter()
        dst.copy_(src)
        sync(DEVICE)
        times.append(time.perf_counter() - t0)
    return 2 * src.numel() * 4 / statistics.median(times)


def step_bytes(model: ARModel, cache_len: float) -> dict[str, float]:
    """Bytes a decode step must read: every block's weights, the final norm, the output head,
    an embedding and a position row (float32, or the projections and head float16 with
    half_weights) and the float32 KV cache up to cache_len."""
    c = model.config
    lins = [m for b in model.blocks for m in (b.attn.qkv, b.attn.out, b.fc1, b.fc2)]
    proj = sum(m.weight.numel() + m.bias.numel() for m in lins) + model.head.weight.numel()
    in_blocks = sum(p.numel() for p in model.blocks.parameters())
    rest = in_blocks - (proj - model.head.weight.numel()) + 4 * c.d_model  # norms, emb, pos
    kv = 2 * c.n_layers * c.d_model * cache_len * 4
    return {"fp32_weights": 4 * (proj + rest), "fp16_weights": 2 * proj + 4 * rest, "kv": kv}


@torch.inference_mode()
def plain_cached_loop(model: ARModel, ph, pc, n: int, top_k: int, gen) -> float:
    """Seconds per step of a plain KV-cached decode loop written here with the model's weights:
    the same maths as ARModel.decode_one (fused QKV, a preallocated cache, SDPA) and top-k
    sampling, without the stopping guards, masks or any bookkeeping. The prefill is the
    model's own and is not timed."""
    c = model.config
    D = c.d_model
    bos = torch.tensor([c.bos_id])
    audio = torch.cat([bos, pc[0][0]])[None].to(DEVICE)
    phon = ph[0][None].to(DEVICE)
    L, T = phon.shape[1], audio.shape[1]
    model.setup_caches(1, L + T + n)
    logits = model.prefill(phon, torch.tensor([L]), audio, torch.tensor([T]))
    kv = [(model.cache.k[i, 0], model.cache.v[i, 0]) for i in range(c.n_layers)]
    pos = model.audio_alpha * model.audio_pos
    sync(DEVICE)
    t0 = time.perf_counter()
    for t in range(n):
        kth = torch.topk(logits, top_k).values[:, -1:]
        probs = torch.softmax(logits.masked_fill(logits < kth, float("-inf")), -1)
        tok = torch.multinomial(probs, 1, generator=gen)[:, 0]
        x = model.audio_emb(tok) + pos[T + t]
        for b, (k, v) in zip(model.blocks, kv):
            h = F.layer_norm(x, (D,), b.norm1.weight, b.norm1.bias)
            q, k1, v1 = torch.addmm(b.attn.qkv.bias, h, b.attn.qkv.weight).view(3, c.n_heads, -1)
            k[:, L + T + t] = k1
            v[:, L + T + t] = v1
            end = L + T + t + 1
            y = F.scaled_dot_product_attention(q[:, None], k[:, :end], v[:, :end])
            x = x + torch.addmm(b.attn.out.bias, y.view(1, D), b.attn.out.weight)
            h = F.layer_norm(x, (D,), b.norm2.weight, b.norm2.bias)
            h = F.gelu(torch.addmm(b.fc1.bias, h, b.fc1.weight))
            x = x + torch.addmm(b.fc2.bias, h, b.fc2.weight)
        logits = model.norm(x) @ model.head.weight
    sync(DEVICE)
    return (time.perf_counter() - t0) / n


def bench_step(preset: str, args, out: dict) -> None:
    """Per-step decode time at batch 1 of the code before this benchmark's commit (git
    --baseline), the current code and the plain loop, interleaved over --step_repeats rounds
    in a rotating order (the CPU is shared: only a side-by-side ratio means anything), with
    the weight-streaming floor from the measured copy bandwidth. Medians. Wall time is of the
    token loop alone; CPU time (process time, which leaves out waiting for a core on a loaded
    machine) is of the whole call, so it includes the prefill, about 1 % at these lengths."""
    n = max(args.tokens)
    cfg = ARConfig.from_name(preset, dropout=0.0, max_frames=n + args.prompt + 8)
    model = ARModel(cfg).eval().to(DEVICE)
    ph, pc = inputs(1, args.phonemes, args.prompt, cfg)
    variants = {
        "new_fp32": lambda: decode_ms(generate_ar, model, ph, pc, n, False),
        "new_half_weights": lambda: decode_ms(generate_ar, model, ph, pc, n, True),
        "plain_loop_fp32": lambda: 1e3 * plain_cached_loop(model, ph, pc, n, 50, None),
    }
    row: dict = {"preset": preset, "tokens": n, "baseline": args.baseline}
    try:
        old = load_lm(args.baseline)
        old_model = old.ar.ARModel(cfg).eval().to(DEVICE)
        old_model.load_state_dict(model.state_dict())
        old_gen = old.generate.generate_ar
        variants["old_fp32"] = lambda: decode_ms(old_gen, old_model, ph, pc, n, False)
        variants["old_half_weights"] = lambda: decode_ms(old_gen, old_model, ph, pc, n, True)
    except RuntimeError as e:  # no git repository (an installed copy): time the new code only
        row["baseline"] = f"unavailable: {e}"
    names = list(variants)
    wall: dict[str, list[float]] = {k: [] for k in [*names, "copy_GB_s"]}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    for r in range(args.step_repeats):
        wall["copy_GB_s"].append(memory_bandwidth() / 1e9)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            c0 = time.process_time()
            wall[name].append(variants[name]())
            cpu[name].append(1e3 * (time.process_time() - c0) / n)
    med = {k: statistics.median(v) for k, v in wall.items()}
    for k in names:
        row[k] = {"ms_per_step": round(med[k], 3), "tok_s": round(1e3 / med[k], 1)}
        row[k]["cpu_ms_per_step"] = round(statistics.median(cpu[k]), 3)
        row[k]["runs_ms"] = [round(t, 2) for t in wall[k]]
        row[k]["runs_cpu_ms"] = [round(t, 2) for t in cpu[k]]
    # the ratio within each round (neighbours in time share the machine's load), then its
    # median; CPU time leaves out the time the process waited for a core
    pairs = [("old_fp32", "new_fp32"), ("old_half_weights", "new_half_weights")]
    pairs.append(("plain_loop_fp32", "new_fp32"))
    for a, b in pairs:
        if a in wall:
            for kind, t in (("wall", wall), ("cpu", cpu)):
                ratios = [x / y for x, y in zip(t[a], t[b])]
                row[f"{a}_over_{b}_{kind}"] = round(statistics.median(ratios), 3)
    row.update(step_floor(model, args, med["copy_GB_s"], med))
    out["ar_step"].append(row)
    print(json.dumps(row), file=sys.stderr)


def decode_ms(generate, model, ph, pc, n: int, half: bool) -> float:
    out = generate(model, ph, pc, forced(n, 1.0), half_weights=half)
    return 1e3 * out.decode_seconds / n


def step_floor(model: ARModel, args, gb_s: float, med: dict) -> dict:
    """The weight-streaming floor of a step and how close each variant comes to it."""
    n = max(args.tokens)
    cache_len = args.phonemes + args.prompt + 1 + n / 2  # the average over the run
    b = step_bytes(model, cache_len)
    floor = {
        "copy_GB_s": round(gb_s, 1),
        "average_cache_len": cache_len,
        "bytes_per_step_MB": {k: round(v / 1e6, 1) for k, v in b.items()},
    }
    for key, weights in (("fp32", "fp32_weights"), ("half_weights", "fp16_weights")):
        w_ms = b[weights] / (gb_s * 1e9) * 1e3
        kv_ms = (b[weights] + b["kv"]) / (gb_s * 1e9) * 1e3
        floor[f"floor_{key}"] = {
            "weights_ms": round(w_ms, 3),
            "weights_tok_s": round(1e3 / w_ms, 1),
            "weights_and_kv_ms": round(kv_ms, 3),
            "weights_and_kv_tok_s": round(1e3 / kv_ms, 1),
        }
        for variant in (f"new_{key}", f"old_{key}"):
            if variant in med:
                floor[f"{variant}_of_weights_floor"] = round(w_ms / med[variant], 3)
    return floor


def bench_batched(preset: str, args, out: dict) -> None:
    cfg = ARConfig.from_name(preset, dropout=0.0, max_frames=args.batch_tokens + args.prompt + 8)
    model = ARModel(cfg).eval().to(DEVICE)
    inputs_by_batch = {}
    for b in args.batches:
        # uneven lengths, as in real use: phonemes and prompts vary by +-20 %
        g = torch.Generator().manual_seed(b)
        ph = [
            torch.randint(
                1, cfg.n_phonemes, (int(args.phonemes * (0.8 + 0.4 * i / b)),), generator=g
            )
            for i in range(b)
        ]
        pc = [
            torch.randint(
                0, cfg.codebook_size, (1, int(args.prompt * (0.8 + 0.4 * i / b))), generator=g
            )
            for i in range(b)
        ]
        inputs_by_batch[b] = (ph, pc)
        time_generate(model, ph, pc, 4, args.temperature)  # warm-up
    # round robin over the batch sizes, best of `repeats` each: on a shared CPU the load
    # changes over minutes, and one batch size measured in a bad minute would fake the scaling
    best: dict[tuple[int, bool], tuple[float, int, float]] = {}
    kv_mb: dict[int, float] = {}
    for _ in range(args.repeats):
        for b in args.batches:
            ph, pc = inputs_by_batch[b]
            for half in (False, True):
                r = time_generate(model, ph, pc, args.batch_tokens, args.temperature, half=half)
                if (b, half) not in best or r[0] < best[b, half][0]:
                    best[b, half] = r
            kv_mb[b] = 2 * model.cache.k.numel() * model.cache.k.element_size() / 2**20
    rows = []
    for b in args.batches:
        dt, count, decode_s = best[b, False]
        hdt, hcount, hdecode_s = best[b, True]
        rows.append(
            {
                "preset": preset,
                "batch": b,
                "tokens_per_item": args.batch_tokens,
                "seconds": round(dt, 3),
                "tok_s_total": round(count / dt, 1),
                "decode_tok_s": round(count / decode_s, 1),
                "prefill_s": round(dt - decode_s, 3),
                "half_weights_tok_s_total": round(hcount / hdt, 1),
                "half_weights_decode_tok_s": round(hcount / hdecode_s, 1),
                "kv_cache_mb": round(kv_mb[b], 1),
            }
        )
    for row in rows:
        row["scaling_vs_batch1"] = round(row["tok_s_total"] / rows[0]["tok_s_total"], 2)
        row["decode_scaling_vs_batch1"] = round(row["decode_tok_s"] / rows[0]["decode_tok_s"], 2)
        print(json.dumps(row), file=sys.stderr)
    out["ar_batched"].extend(rows)
    out["peak_memory"][f"after batched {preset}"] = peak_memory()


def bench_nar(preset: str, args, out: dict) -> None:
    cfg = NARConfig.from_name(preset, dropout=0.0)
    model = NARModel(cfg).eval().to(DEVICE)
    for b in args.nar_batches:
        ph, pc = inputs(b, args.phonemes, args.prompt, cfg, seed=b)
        first = [torch.randint(0, cfg.codebook_size, (args.nar_frames,)) for _ in range(b)]
        generate_nar(model, ph, pc, [f[:8] for f in first])  # warm-up
        dt = float("inf")
        for _ in range(args.repeats):
            sync(DEVICE)
            t0 = time.perf_counter()
            generate_nar(model, ph, pc, first)
            sync(DEVICE)
            dt = min(dt, time.perf_counter() - t0)
        row = {
            "preset": preset,
            "batch": b,
            "target_frames": args.nar_frames,
            "stages": cfg.n_codebooks - 1,
            "seconds_total": round(dt, 3),
            "seconds_per_stage": round(dt / (cfg.n_codebooks - 1), 4),
        }
        out["nar"].append(row)
        print(json.dumps(row), file=sys.stderr)
    out["peak_memory"][f"after nar {preset}"] = peak_memory()


def lm_rtf(args, out: dict) -> None:
    """The two LMs' real-time factor, batch 1: AR time for n tokens plus NAR time for n frames,
    over the n frames' audio at --frame_rate (the codec's decode is not included)."""
    nar = {r["preset"]: r for r in out["nar"] if r["batch"] == 1}
    for row in out["ar_decode"]:
        n = row["tokens"]
        if row["preset"] in nar and nar[row["preset"]]["target_frames"] == n:
            audio_s = n / args.frame_rate
            for key, ar_s in (
                ("fp32", row["cached_s"]),
                ("half_weights", n / row["cached_half_weights_tok_s"]),
            ):
                out["lm_rtf"].append(
                    {
                        "preset": row["preset"],
                        "ar_decode": key,
                        "frames": n,
                        "audio_s": round(audio_s, 2),
                        "ar_s": round(ar_s, 3),
                        "nar_s": nar[row["preset"]]["seconds_total"],
                        "rtf": round((ar_s + nar[row["preset"]]["seconds_total"]) / audio_s, 4),
                    }
                )


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["small", "valle"])
    p.add_argument("--tokens", type=int, nargs="+", default=[150, 375, 750])
    p.add_argument("--phonemes", type=int, default=60)
    p.add_argument("--prompt", type=int, default=225, help="prompt frames (3 s at 75 Hz)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy")
    p.add_argument("--exact_recompute_max", type=int, default=150)
    p.add_argument("--exact_recompute_presets", nargs="*", default=["small", "tiny"])
    p.add_argument("--recompute_points", type=int, default=6)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--batch_tokens", type=int, default=375)
    p.add_argument("--nar_batches", type=int, nargs="+", default=[1, 4])
    p.add_argument("--nar_frames", type=int, default=375)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2, help="timings are the best of this many")
    p.add_argument("--quick", action="store_true", help="tiny preset and short runs")
    p.add_argument("--parts", nargs="+", default=["step", "ar", "batched", "nar"])
    p.add_argument(
        "--baseline",
        default="5ecb4ec",
        help="git commit whose lm/ the step part times beside the current code "
        "(default: the code before issue 40's decode-step work)",
    )
    p.add_argument("--step_repeats", type=int, default=5, help="interleaved rounds, medians")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument(
        "--frame_rate", type=float, default=75.0, help="codec frames/s, for the LM's RTF"
    )
    args = p.parse_args(argv)
    global DEVICE
    DEVICE = pick_device(args.device)
    if args.quick:
        args.presets, args.tokens, args.prompt, args.phonemes = ["tiny"], [20, 40], 30, 12
        args.batches, args.batch_tokens, args.nar_frames = [1, 4], 20, 20
        args.exact_recompute_max, args.repeats, args.step_repeats = 20, 1, 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out: dict = {
        "benchmark": "lm_speed",
        **describe(DEVICE),
        "threads": args.threads,
        "repeats": f"best of {args.repeats} (full recompute measured once)",
        "half_weights": "decode steps with float16 copies of the projection weights "
        "(generate_ar(half_weights=True)); everything else float32",
        "setup": f"batch 1 unless stated, {args.phonemes} phonemes, {args.prompt}-frame prompt, "
        f"temperature {args.temperature} top-k 50, random weights",
        "load_average_1_5_15min": [round(x, 2) for x in os.getloadavg()],
        "ar_step": [],
        "ar_decode": [],
        "ar_batched": [],
        "nar": [],
        "lm_rtf": [],
        "peak_memory": {},
    }
    if "step" in args.parts:
        bench_step(args.presets[0], args, out)
    if "ar" in args.parts:
        for preset in args.presets:
            bench_ar(preset, args, out)
    if "batched" in args.parts:
        bench_batched(args.presets[0], args, out)
    if "nar" in args.parts:
        for preset in args.presets:
            bench_nar(preset, args, out)
    lm_rtf(args, out)
    out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
