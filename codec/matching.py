"""Nearest-neighbour matching of codec latents to a reference voice's latents.

kNN-VC (Baas, van Niekerk and Kamper, 2023) converts a voice by replacing each frame of the
source's features with the mean of its k nearest frames (cosine) among the target speaker's:
the frames that replace it are the target's own, so they carry the target's voice. Here the
features are the codec's latents (sums of codebook vectors) and the reference is the voice
prompt. Why it helps a VALL-E model: the NAR predicts the residual codebooks, which carry much
of the voice, poorly (echovox-tiny's NAR decodes them as expected vectors, pulled towards the
mean voice), while the prompt's latents hold them exactly.

Written here rather than taken from a library: kNN-VC ships as a torch.hub model over WavLM
features, not as a package, and the matching itself is a few lines of torch.
"""

from __future__ import annotations

import torch
from torch import Tensor


def match_latents(latent: Tensor, reference: Tensor, k: int = 4, weight: float = 0.5) -> Tensor:
    """latent [B, D, T], reference [B, D, P] -> [B, D, T]: each frame moved `weight` of the
    way to the mean of its k nearest reference frames by cosine similarity (weight 0: the
    latent unchanged; 1: replaced). k is capped at P."""
    if latent.dim() != 3 or reference.dim() != 3:
        raise ValueError(
            f"latent and reference must be [B, D, T] and [B, D, P], got "
            f"{tuple(latent.shape)} and {tuple(reference.shape)}"
        )
    if latent.shape[:2] != reference.shape[:2]:
        raise ValueError(
            f"latent {tuple(latent.shape)} and reference {tuple(reference.shape)} differ in "
            "batch or latent size"
        )
    if reference.shape[2] == 0:
        raise ValueError("the reference has no frames to match against")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    if weight == 0.0 or latent.shape[2] == 0:
        return latent
    ref = reference.to(latent.dtype).transpose(1, 2)  # [B, P, D]
    sim = torch.nn.functional.normalize(latent.transpose(1, 2), dim=-1) @ (
        torch.nn.functional.normalize(ref, dim=-1).transpose(1, 2)
    )  # [B, T, P]
    idx = sim.topk(min(k, ref.shape[1]), dim=-1, sorted=True).indices  # [B, T, k]
    rows = torch.arange(ref.shape[0], device=ref.device)[:, None, None]
    neighbours = ref[rows, idx]  # [B, T, k, D]
    matched = neighbours.mean(2).transpose(1, 2)  # [B, D, T]
    return torch.lerp(latent, matched, weight)
