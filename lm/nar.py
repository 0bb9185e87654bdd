"""The non-autoregressive model: a bidirectional transformer that predicts codebook j of the
target frames, for stages j = 2..Q, from

    [phonemes: L_max][prompt frames, all Q codebooks summed: P_max][target frames, codebooks < j
    summed: T_max]

Each segment is right-padded and padded keys are masked. Text positions start at 0; prompt and
target are one audio stream, so target positions continue after each item's own prompt length.
The stage enters every block through adaptive layer norm (scale and shift from a stage
embedding) and picks the output head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .ar import lengths_to_mask
from .config import NARConfig
from .layers import Block, Linear, init_weights, sinusoid_table


@dataclass
class NAROutput:
    """logits: [B, T, K] for codebook `stage` of the target frames."""

    logits: Tensor


class NARModel(nn.Module):
    def __init__(self, config: NARConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        Q, K = c.n_codebooks, c.codebook_size
        self.text_emb = nn.Embedding(c.n_phonemes, c.d_model)
        # one table for all codebooks, codebook q at rows q*(K+1) .. q*(K+1)+K (K = padding);
        # a single lookup embeds [B, Q, T] at once
        self.audio_emb = nn.Embedding(Q * (K + 1), c.d_model)
        self.register_buffer("code_offsets", torch.arange(Q)[:, None] * (K + 1), False)
        self.text_alpha = nn.Parameter(torch.ones(1))
        self.audio_alpha = nn.Parameter(torch.ones(1))
        # stage index s = j - 1 in 1..Q-1 (0-based codebook being predicted)
        self.stage_emb = nn.Embedding(Q, c.d_model)
        self.blocks = nn.ModuleList(
            Block(c.d_model, c.n_heads, c.d_ffn, c.dropout, adaptive=True)
            for _ in range(c.n_layers)
        )
        self.cond = nn.ModuleList(Linear(c.d_model, 4 * c.d_model) for _ in range(c.n_layers))
        self.norm = nn.LayerNorm(c.d_model, elementwise_affine=False)
        self.final_cond = Linear(c.d_model, 2 * c.d_model)
        self.heads = nn.Parameter(torch.empty(Q, K, c.d_model))  # row 0 unused (codebook 1 is AR)
        self.register_buffer("text_pos", sinusoid_table(c.max_phonemes, c.d_model), False)
        self.register_buffer("audio_pos", sinusoid_table(c.max_frames, c.d_model), False)
        init_weights(self)
        nn.init.normal_(self.heads, std=0.02)
        # zero-init the adaptive LN projections: every block starts as a plain pre-norm block
        for lin in [*self.cond, self.final_cond]:
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def _embed_codes(self, codes: Tensor, n_used: Tensor) -> Tensor:
        """codes [B, Q, T] -> [B, T, D], the sum of codebooks q < n_used[b]."""
        Q = self.config.n_codebooks
        codes = codes.clamp(0, self.config.codebook_size)  # padding may hold any id
        emb = self.audio_emb(codes + self.code_offsets)  # [B, Q, T, D]
        use = torch.arange(Q, device=codes.device)[None, :] < n_used[:, None]  # [B, Q]
        return (emb * use[:, :, None, None].to(emb.dtype)).sum(1)

    def forward(
        self,
        phonemes: Tensor,
        phoneme_lens: Tensor,
        prompt_codes: Tensor,
        prompt_lens: Tensor,
        target_codes: Tensor,
        target_lens: Tensor,
        stage: Tensor | int,
    ) -> NAROutput:
        """phonemes [B, L]; prompt_codes [B, Q, P]; target_codes [B, Q', T] with Q' >= stage
        (only codebooks < stage are read); stage: int or [B], the 0-based codebook to predict,
        in 1..Q-1. Lengths are [B]. Returns logits [B, T, K]."""
        c = self.config
        B, L = phonemes.shape
        P, T = prompt_codes.shape[2], target_codes.shape[2]
        Q = c.n_codebooks
        if prompt_codes.shape[1] != Q:
            raise ValueError(f"prompt has {prompt_codes.shape[1]} codebooks, the NAR expects {Q}")
        stage = torch.as_tensor(stage, device=phonemes.device).expand(B)
        if bool((stage < 1).any() or (stage >= Q).any()):
            raise ValueError(f"stage must be in 1..{Q - 1} (0-based codebook), got {stage}")
        if c.max_phonemes < L or c.max_frames < P + T:
            raise ValueError(f"input too long: {L} phonemes, {P}+{T} frames for {c}")
        if target_codes.shape[1] < Q:  # allow passing only the codebooks known so far
            pad = target_codes.new_full((B, Q - target_codes.shape[1], T), c.codebook_size)
            target_codes = torch.cat([target_codes, pad], dim=1)

        x_text = self.text_emb(phonemes) + self.text_alpha * self.text_pos[:L]
        prompt_emb = self._embed_codes(prompt_codes, torch.full_like(stage, Q))
        x_prompt = prompt_emb + self.audio_alpha * self.audio_pos[:P]
        target_pos = prompt_lens[:, None] + torch.arange(T, device=phonemes.device)[None]
        target_pos = target_pos.clamp(max=c.max_frames - 1)
        x_target = (
            self._embed_codes(target_codes, stage) + self.audio_alpha * self.audio_pos[target_pos]
        )
        x = torch.cat([x_text, x_prompt, x_target], dim=1)

        key_valid = torch.cat(
            [
                lengths_to_mask(phoneme_lens, L),
                lengths_to_mask(prompt_lens, P),
                lengths_to_mask(target_lens, T),
            ],
            dim=1,
        )
        mask = key_valid[:, None, None, :]  # bidirectional: every query sees every real key
        s = self.stage_emb(stage)[:, None]  # [B, 1, D]
        for block, cond in zip(self.blocks, self.cond):
            x = block(x, mask, cond=cond(s))
        scale, shift = self.final_cond(s).chunk(2, dim=-1)
        h = self.norm(x[:, L + P :]) * (1 + scale) + shift  # [B, T, D]
        # the logits in float32 even under a lower-precision autocast: bfloat16's 8-bit mantissa
        # rounds logits of about 10 by up to 0.03, which moves every probability of the softmax
        # (decoded as expected vectors) by up to 3 %; the heads are 1/30 of the model's work
        with torch.autocast(h.device.type, enabled=False):
            logits = torch.bmm(h.float(), self.heads[stage].float().transpose(1, 2))  # [B, T, K]
        return NAROutput(logits=logits)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
