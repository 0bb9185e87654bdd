"""What the LM benchmarks share for running on a chosen device: the device from --device, a
clock barrier for CUDA's asynchronous kernels, best-of-N timing, and the machine lines of their
JSON."""

from __future__ import annotations

import platform
import time

import torch


def pick_device(name: str) -> torch.device:
    """torch.device(name), or exit with a clear message when CUDA is asked for but absent."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    return device


def sync(device: torch.device) -> None:
    """CUDA kernels run asynchronously: wait for them before reading a clock."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_of(repeats: int, device: torch.device, fn):
    """(the fastest of `repeats` calls of fn in seconds, the last call's result)."""
    times, out = [], None
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return min(times), out


def describe(device: torch.device) -> dict[str, str]:
    return {
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
    }
