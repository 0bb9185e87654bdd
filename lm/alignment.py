"""Alignment learning for the AR: where each audio frame is in the text.

A decoder-only TTS model has to discover for itself which phoneme each frame speaks, and it is
known to discover it late and only with much data. Two cheap remedies, neither of which needs
an external aligner or phoneme durations:

- Attention prior and forward-sum loss (Neekhara et al. 2024, "Improving Robustness of
  LLM-based Speech Synthesis by Learning Monotonic Alignment", after RAD-TTS's alignment
  framework). A few heads of the AR look only at the text from audio positions (alignment
  heads, `ARConfig.align_layers` / `align_heads`). During training their scores get a static
  beta-binomial prior near the diagonal, blended away as training goes on, and a CTC loss over
  their text distribution (the forward-sum loss) rewards every monotonic path through the text.
- Phoneme CTC (`ARConfig.phoneme_ctc`): a linear head on the audio positions' final states is
  trained with CTC to read the phoneme sequence back, so every frame's state must know where in
  the text it is (the idea of VALL-E R's phone prediction, without its forced alignments).

The functions here are pure: shapes in, tensors out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def beta_binomial_log_prior(
    text_lens: Tensor, audio_lens: Tensor, L: int, T: int, omega: float = 1.0
) -> Tensor:
    """log P(text position n | audio position t) under RAD-TTS's beta-binomial prior.

    For an item with N text tokens and M audio positions, row t is BetaBinomial(N - 1, a, b)
    with a = omega * (t + 1), b = omega * (M - t): its mass moves along the diagonal as t goes.
    Returns [B, T, L]; entries outside an item's N x M block are 0 (they are masked anyway).
    """
    device = text_lens.device
    n = torch.arange(L, device=device, dtype=torch.float64)[None, None, :]  # [1, 1, L]
    t = torch.arange(T, device=device, dtype=torch.float64)[None, :, None]  # [1, T, 1]
    N = text_lens.to(torch.float64)[:, None, None]
    M = audio_lens.to(torch.float64)[:, None, None]
    a = omega * (t + 1)
    b = (omega * (M - t)).clamp(min=omega)
    k, total = n, (N - 1).clamp(min=0)
    # log C(total, k) + log B(k + a, total - k + b) - log B(a, b), with B via lgamma
    rest = (total - k).clamp(min=0)
    lchoose = torch.lgamma(total + 1) - torch.lgamma(k + 1) - torch.lgamma(rest + 1)

    def lbeta(x: Tensor, y: Tensor) -> Tensor:
        return torch.lgamma(x) + torch.lgamma(y) - torch.lgamma(x + y)

    out = lchoose + lbeta(k + a, rest + b) - lbeta(a, b)
    inside = (n < N) & (t < M)
    return torch.where(inside, out, torch.zeros_like(out)).float()


def forward_sum_loss(
    scores: Tensor, text_lens: Tensor, audio_lens: Tensor, blank_logprob: float = -1.0
) -> Tensor:
    """CTC over attention: every monotonic path that visits each text token in order.

    scores: [B, H, T, L] raw attention scores (before softmax) from audio positions to text
    positions, for H heads. Each audio position's distribution is a log-softmax over its item's
    text tokens plus a blank of fixed score `blank_logprob` (RAD-TTS), and the CTC target is
    the text positions 1..N in order. Returns the mean over items and heads of the loss per
    text token."""
    B, H, T, L = scores.shape
    text_mask = torch.arange(L, device=scores.device)[None, :] < text_lens[:, None]  # [B, L]
    # a large finite score, not -inf: CTC's gradient turns -inf log-probabilities into NaN
    s = scores.float().masked_fill(~text_mask[:, None, None, :], -1e4)
    blank = torch.full((B, H, T, 1), blank_logprob, device=scores.device)
    logp = F.log_softmax(torch.cat([blank, s], dim=-1), dim=-1)  # [B, H, T, L + 1]
    logp = logp.permute(2, 0, 1, 3).reshape(T, B * H, L + 1)
    targets = torch.arange(1, L + 1, device=scores.device)[None].expand(B * H, L)
    loss = F.ctc_loss(
        logp,
        targets,
        input_lengths=audio_lens.repeat_interleave(H),
        target_lengths=text_lens.repeat_interleave(H),
        blank=0,
        reduction="mean",  # divides each item's loss by its text length, then averages
        zero_infinity=True,  # an item with fewer frames than tokens has no path: no gradient
    )
    return loss


def phoneme_ctc_loss(
    logits: Tensor, audio_lens: Tensor, phonemes: Tensor, phoneme_lens: Tensor
) -> Tensor:
    """CTC of the phoneme sequence from per-frame logits [B, T, V + 1] (blank = V)."""
    V = logits.shape[-1] - 1
    logp = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # [T, B, V + 1]
    return F.ctc_loss(
        logp,
        phonemes,
        input_lengths=audio_lens,
        target_lengths=phoneme_lens,
        blank=V,
        reduction="mean",
        zero_infinity=True,
    )


def prior_weight(step: int, scale: float, anneal_start: int, anneal_end: int) -> float:
    """The prior's weight at optimizer step `step`: `scale` until anneal_start, then linearly
    down to 0 at anneal_end (NeMo's T5-TTS anneals between about 5k and 8k steps)."""
    if scale <= 0 or step >= anneal_end:
        return 0.0
    if step <= anneal_start:
        return scale
    return scale * (anneal_end - step) / max(1, anneal_end - anneal_start)


def attention_png(probs: Tensor, path) -> None:
    """Write a [T, L] attention matrix (audio down, text across) as a grayscale PNG, each row
    scaled to its own maximum so a spread-out row is as visible as a sharp one."""
    attention_grid_png(probs[None, None], path)


def text_attention(model, phonemes: Tensor, codes: Tensor) -> Tensor:
    """Where each audio frame of one teacher-forced utterance looks in the text, per layer and
    head: [n_layers, H, M, N], each row the head's attention over the N text positions,
    renormalised to sum to 1 (M = frames + 1, BOS first). Works for any AR, with or without
    alignment heads (those attend to the text alone, as in training).

    phonemes: [N] ids; codes: [M - 1] first-codebook codes."""
    c = model.config
    N, M = phonemes.shape[0], codes.shape[0] + 1
    audio = torch.cat([codes.new_tensor([c.bos_id]), codes])[None]
    text_lens, audio_lens = torch.tensor([N]), torch.tensor([M])
    blocks = model.blocks
    was = [b.attn.capture for b in blocks]
    for b in blocks:
        b.attn.capture = True
    try:
        with torch.no_grad():
            model(phonemes[None], text_lens, audio, audio_lens)
        scores = torch.stack([b.attn.scores[0].float() for b in blocks])  # [layers, H, S, S]
    finally:
        for b, w in zip(blocks, was):
            b.attn.capture = w
            b.attn.scores = None
    # each layer's own mask, as the model applied it (alignment heads: the text only)
    masks = model._layer_masks(model.attention_mask(text_lens, N, audio_lens, M), N, None)
    rows = torch.stack(
        [sc.masked_fill(~m[0], float("-inf")).softmax(-1) for sc, m in zip(scores, masks)]
    )[:, :, N:]  # [layers, H, M, S]
    text = rows[..., :N]
    return text / text.sum(-1, keepdim=True).clamp(min=1e-9)


def diagonality(attention: Tensor, band: float = 0.1) -> Tensor:
    """Mean share of each row's mass within max(3, band * N) text positions of the straight
    line from the first to the last text position: [..., M, N] -> [...]. Uniform attention
    scores about 2 * band; an alignment that keeps pace with the text scores near 1."""
    M, N = attention.shape[-2:]
    centre = (torch.arange(M, dtype=torch.float32) + 0.5) * N / M
    width = max(3.0, band * N)
    near = (torch.arange(N, dtype=torch.float32)[None] - centre[:, None]).abs() <= width
    return (attention * near).sum(-1).mean(-1)


def attention_grid_png(attention: Tensor, path) -> None:
    """Write [n_layers, H, M, N] attention as one grayscale PNG: layers down, heads across,
    each tile audio down and text across with every row scaled to its own maximum (so a
    spread-out row is as visible as a sharp one)."""
    from pathlib import Path

    import numpy as np
    from PIL import Image

    a = attention.detach().float().cpu().numpy()
    a = a / np.maximum(a.max(axis=-1, keepdims=True), 1e-9)
    tiles = np.pad(255 * (1 - a), ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=128)
    L, H, h, w = tiles.shape
    grid = tiles.transpose(0, 2, 1, 3).reshape(L * h, H * w).astype(np.uint8)
    scale = max(1, 1600 // max(grid.shape))
    img = Image.fromarray(grid).resize(
        (grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    img.save(str(path))
