"""AR training throughput: forward + backward + AdamW step on random tokens, float32 against
bfloat16 autocast, side by side (interleaved, best of --repeats). Prints JSON.

    .venv/bin/python benchmarks/lm_train_speed.py --quick                  # tiny preset, seconds
    python benchmarks/lm_train_speed.py --device cuda --presets small valle --batch 16

The step is the AR's training step as `echovox.lm.lightning.LMTask` runs it (teacher-forced
first codebook after the phonemes, cross-entropy over the frames and the end token), without
Lightning's loop around it, so the number is the model's cost alone. Tokens per second counts
audio frames plus phonemes, as the issue's CPU planning figures did. bfloat16 autocast on a
CPU is measured too, but it is meant for GPUs.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from _device import describe, pick_device, sync

from echovox.lm.ar import ARModel
from echovox.lm.config import ARConfig


def make_step(model: ARModel, batch: int, frames: int, phonemes: int, device: torch.device):
    c = model.config
    g = torch.Generator().manual_seed(0)
    ph = torch.randint(1, c.n_phonemes, (batch, phonemes), generator=g).to(device)
    codes = torch.randint(0, c.codebook_size, (batch, frames), generator=g).to(device)
    inputs = torch.cat([torch.full((batch, 1), c.bos_id, device=device), codes], dim=1)
    targets = torch.cat([codes, torch.full((batch, 1), c.eos_id, device=device)], dim=1)
    ph_lens = torch.full((batch,), phonemes, device=device)
    in_lens = torch.full((batch,), frames + 1, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(bf16: bool) -> float:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(ph, ph_lens, inputs, in_lens).logits
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["compact", "small"])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--phonemes", type=int, default=60)
    p.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    p.add_argument("--repeats", type=int, default=3, help="timings are the best of this many")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="tiny preset, small batch")
    args = p.parse_args(argv)
    if args.quick:
        args.presets, args.batch, args.frames, args.phonemes = ["tiny"], 2, 40, 10
        args.steps, args.repeats = 2, 1
    device = pick_device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out: dict = {
        "benchmark": "lm_train_speed",
        **describe(device),
        "threads": args.threads,
        "setup": f"AR, batch {args.batch} x ({args.frames} frames + {args.phonemes} phonemes), "
        f"fwd+bwd+AdamW, best of {args.repeats} x {args.steps} steps, random weights",
        "rows": [],
    }
    tokens = args.batch * (args.frames + 1 + args.phonemes)
    for preset in args.presets:
        cfg = ARConfig.from_name(preset, dropout=0.0, max_frames=args.frames + 8)
        model = ARModel(cfg).to(device).train()
        step = make_step(model, args.batch, args.frames, args.phonemes, device)
        for bf16 in (False, True):  # warm-up: kernels, allocator, optimizer state
            step(bf16)
        best = {False: float("inf"), True: float("inf")}
        losses = {}
        for _ in range(args.repeats):
            for bf16 in (False, True):  # interleaved: a shared machine's load hits both
                sync(device)
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    losses[bf16] = step(bf16)
                sync(device)
                best[bf16] = min(best[bf16], (time.perf_counter() - t0) / args.steps)
        row = {
            "preset": preset,
            "params_M": round(model.num_parameters() / 1e6, 2),
            "step_s_fp32": round(best[False], 4),
            "step_s_bf16": round(best[True], 4),
            "tok_s_fp32": round(tokens / best[False]),
            "tok_s_bf16": round(tokens / best[True]),
            "bf16_speedup": round(best[False] / best[True], 2),
            "last_loss_fp32": round(losses[False], 3),
            "last_loss_bf16": round(losses[True], 3),
        }
        if device.type == "cuda":
            row["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
            torch.cuda.reset_peak_memory_stats(device)
        out["rows"].append(row)
        del model, step
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
