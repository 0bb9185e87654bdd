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


def match_latents(
    latent: Tensor,
    reference: Tensor,
    k: int = 4,
    weight: float = 0.5,
    *,
    keys: Tensor | None = None,
    reference_keys: Tensor | None = None,
) -> Tensor:
    """latent [B, D, T], reference [B, D, P] -> [B, D, T]: each frame moved `weight` of the
    way to the mean of its k nearest reference frames by cosine similarity (weight 0: the
    latent unchanged; 1: replaced). k is capped at P.

    keys [B, E, T] and reference_keys [B, E, P], given together, are what "nearest" is
    measured on instead of the latents themselves: frame t takes the mean of the reference
    frames whose keys are nearest to its key (`match_residuals` keys on the first codebook)."""
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
    if (keys is None) != (reference_keys is None):
        raise ValueError("keys and reference_keys go together: give both or neither")
    if keys is None:
        keys, reference_keys = latent, reference
    elif (
        keys.dim() != 3
        or reference_keys.dim() != 3
        or keys.shape[0::2] != latent.shape[0::2]
        or reference_keys.shape[0::2] != reference.shape[0::2]
        or keys.shape[1] != reference_keys.shape[1]
    ):
        raise ValueError(
            f"keys {tuple(keys.shape)} and reference_keys {tuple(reference_keys.shape)} must "
            f"be [B, E, T] and [B, E, P] for latent {tuple(latent.shape)} and reference "
            f"{tuple(reference.shape)}"
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
    sim = torch.nn.functional.normalize(keys.to(latent.dtype).transpose(1, 2), dim=-1) @ (
        torch.nn.functional.normalize(reference_keys.to(latent.dtype).transpose(1, 2), dim=-1)
    ).transpose(1, 2)  # [B, T, P]
    idx = sim.topk(min(k, ref.shape[1]), dim=-1, sorted=True).indices  # [B, T, k]
    rows = torch.arange(ref.shape[0], device=ref.device)[:, None, None]
    neighbours = ref[rows, idx]  # [B, T, k, D]
    matched = neighbours.mean(2).transpose(1, 2)  # [B, D, T]
    return torch.lerp(latent, matched, weight)


def match_residuals(
    latent: Tensor,
    first: Tensor,
    reference: Tensor,
    reference_first: Tensor,
    k: int = 4,
    weight: float = 1.0,
) -> Tensor:
    """An RVQ latent is the first codebook's vector plus the residual codebooks' sum. Keep each
    frame's first-codebook part and move its residual part `weight` of the way to the mean
    residual of the k reference frames whose first-codebook vectors are nearest (cosine).

    latent, first: [B, D, T], the output's whole latent and its first codebook's part;
    reference, reference_first: [B, D, P], the same for the voice prompt. Why: in a VALL-E
    model the AR's first codebook carries what is said, and the residual codebooks that the
    NAR fills in carry much of the voice; the prompt's frames that share a first-codebook
    sound hold that sound's residuals in the prompt's own voice, so the content stays the
    AR's while the voice detail comes from the prompt (`match_latents` on the whole latent
    also pulls the first codebook's part, the words, towards the prompt)."""
    if first.shape != latent.shape or reference_first.shape != reference.shape:
        raise ValueError(
            f"first {tuple(first.shape)} and reference_first {tuple(reference_first.shape)} "
            f"must match latent {tuple(latent.shape)} and reference {tuple(reference.shape)}"
        )
    residual = match_latents(
        latent - first,
        reference - reference_first,
        k,
        weight,
        keys=first,
        reference_keys=reference_first,
    )
    return first + residual
