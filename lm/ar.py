"""The autoregressive model: a decoder-only transformer over [phonemes ; BOS ; codebook-1 tokens].

Batches are laid out as two right-padded segments, [text: L_max][audio: T_max], with positions
restarting at 0 in each segment (VALL-E's separate text and audio positions). Padding therefore
never shifts a position, and a padded item computes exactly what it computes alone.

Attention: text tokens see all text tokens (the phonemes are known up front, so there is no
reason to hide later ones); audio tokens see all text and the audio before them.

Inference is split into `prefill` (text plus BOS plus the prompt's codes, written into the KV
cache in one pass) and `decode_one` (one new token per item, all items writing the same cache
slot, so the gaps that right-padding leaves in the cache stay masked out).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ARConfig
from .layers import Block, KVCache, Linear, init_weights, sinusoid_table


@dataclass
class AROutput:
    """logits: [B, T, K+1] over the audio positions (next code or EOS). phoneme_logits:
    [B, T, n_phonemes + 1] from the phoneme CTC head (blank last), when the model has one."""

    logits: Tensor
    phoneme_logits: Tensor | None = None


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """[B] lengths -> bool [B, max_len], True on real positions."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class ARModel(nn.Module):
    def __init__(self, config: ARConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.text_emb = nn.Embedding(c.n_phonemes, c.d_model)
        self.audio_emb = nn.Embedding(c.n_audio_tokens, c.d_model)
        # learned weights of the position tables, as in VALL-E's sine positional embedding
        self.text_alpha = nn.Parameter(torch.ones(1))
        self.audio_alpha = nn.Parameter(torch.ones(1))
        self.blocks = nn.ModuleList(
            Block(c.d_model, c.n_heads, c.d_ffn, c.dropout) for _ in range(c.n_layers)
        )
        self.norm = nn.LayerNorm(c.d_model)
        self.head = Linear(c.d_model, c.n_outputs, bias=False)
        self.phoneme_head = Linear(c.d_model, c.n_phonemes + 1) if c.phoneme_ctc else None
        # not persistent: rebuilt from the config, so checkpoints hold only learned weights
        self.register_buffer("text_pos", sinusoid_table(c.max_phonemes, c.d_model), False)
        self.register_buffer("audio_pos", sinusoid_table(c.max_frames + 1, c.d_model), False)
        init_weights(self)
        self.cache: KVCache | None = None
        self._half: tuple[tuple, list, Tensor] | None = None  # (weights' versions, blocks, head)
        self._use_half = False
        self._align_rows: Tensor | None = None  # see _align_step_rows

    # ---------------------------------------------------------------- embeddings and masks
    def _check_lengths(self, n_text: int, n_audio: int) -> None:
        if n_text > self.config.max_phonemes:
            raise ValueError(f"{n_text} phonemes exceed max_phonemes={self.config.max_phonemes}")
        if n_audio > self.config.max_frames + 1:
            raise ValueError(f"{n_audio} audio tokens exceed max_frames={self.config.max_frames}")

    def _embed(self, phonemes: Tensor, audio: Tensor) -> Tensor:
        """[B, L] phoneme ids and [B, T] audio ids -> [B, L + T, D]."""
        L, T = phonemes.shape[1], audio.shape[1]
        self._check_lengths(L, T)
        x_text = self.text_emb(phonemes) + self.text_alpha * self.text_pos[:L]
        x_audio = self.audio_emb(audio) + self.audio_alpha * self.audio_pos[:T]
        return torch.cat([x_text, x_audio], dim=1)

    @staticmethod
    def attention_mask(phoneme_lens: Tensor, L: int, audio_lens: Tensor, T: int) -> Tensor:
        """bool [B, 1, L+T, L+T]: text sees text, audio sees text and earlier audio, padding is
        never attended; every query may see itself so padded rows stay finite."""
        S = L + T
        idx = torch.arange(S, device=phoneme_lens.device)
        structure = (idx[None, :] < L) | (idx[None, :] <= idx[:, None])  # [S, S]
        key_valid = torch.cat(
            [lengths_to_mask(phoneme_lens, L), lengths_to_mask(audio_lens, T)], dim=1
        )
        allowed = structure[None] & key_valid[:, None, :]
        allowed |= torch.eye(S, dtype=torch.bool, device=idx.device)[None]
        return allowed[:, None]

    def align_mask(self, mask: Tensor, L: int, prior: Tensor | None = None) -> Tensor:
        """The mask of an alignment layer: `mask` [B, 1, S, S] for every head but the first
        align_heads, whose audio rows see the text columns only. With `prior` [B, T, L] (log
        probabilities, already weighted), a float bias [B, H, S, S] with the prior added to
        the alignment heads' audio-to-text scores; else a bool mask."""
        B, _, S, _ = mask.shape
        H, Ha = self.config.n_heads, self.config.align_heads
        m = mask.expand(B, H, S, S).clone()
        m[:, :Ha, L:, L:] = False
        if prior is None:
            return m
        bias = torch.zeros(m.shape, device=m.device).masked_fill(~m, float("-inf"))
        bias[:, :Ha, L:, :L] += prior[:, None, : S - L].to(bias.dtype)
        return bias

    def _layer_masks(self, mask: Tensor, L: int, prior: Tensor | None) -> list[Tensor]:
        """The mask each block gets: alignment layers their own (`align_mask`)."""
        c = self.config
        if not c.align_layers:
            return [mask] * c.n_layers
        special = self.align_mask(mask, L, prior)
        return [special if i in c.align_layers else mask for i in range(c.n_layers)]

    # ---------------------------------------------------------------- training / full forward
    def forward(
        self,
        phonemes: Tensor,
        phoneme_lens: Tensor,
        audio: Tensor,
        audio_lens: Tensor,
        prior: Tensor | None = None,
    ) -> AROutput:
        """phonemes: [B, L] (+ lengths [B]); audio: [B, T] = BOS then codes (+ lengths [B]).
        prior: [B, T, L] log-probabilities added to the alignment heads' scores (training).

        Returns logits for every audio position: position t predicts audio[t + 1] (or EOS).
        """
        L, T = phonemes.shape[1], audio.shape[1]
        x = self._embed(phonemes, audio)
        mask = self.attention_mask(phoneme_lens, L, audio_lens, T)
        for block, layer_mask in zip(self.blocks, self._layer_masks(mask, L, prior)):
            x = block(x, layer_mask)
        h = self.norm(x[:, L:])
        ctc = self.phoneme_head(h) if self.phoneme_head is not None else None
        return AROutput(logits=self.head(h), phoneme_logits=ctc)

    # ---------------------------------------------------------------- cached inference
    def setup_caches(self, batch_size: int, max_len: int, half_weights: bool = False) -> KVCache:
        """Preallocate the KV cache for `batch_size` sequences of up to `max_len` tokens.

        half_weights: decode steps multiply by float16 copies of the projection weights
        (about twice as fast on a CPU, where the step streams every weight from memory; logits
        differ from float32 by float16 rounding, so greedy output can differ slightly). The
        copies are made once and remade only when the weights change."""
        c = self.config
        like = self.head.weight
        self.cache = KVCache.allocate(
            c.n_layers, batch_size, c.n_heads, max_len, c.d_model // c.n_heads, like
        )
        self._use_half = half_weights
        if half_weights:
            versions = tuple(p._version for p in self.parameters())
            if self._half is None or self._half[0] != versions:
                with torch.no_grad():
                    blocks = [b.half_weights() for b in self.blocks]
                    head = self.head.weight.detach().t().half().contiguous()
                self._half = (versions, blocks, head)
        return self.cache

    def prefill(
        self, phonemes: Tensor, phoneme_lens: Tensor, audio: Tensor, audio_lens: Tensor
    ) -> Tensor:
        """Write text, BOS and prompt codes into the cache; return the logits [B, K+1] that
        follow each item's last audio token."""
        cache = self.cache
        if cache is None or cache.k.shape[1] != phonemes.shape[0]:
            raise RuntimeError("call setup_caches(batch_size, max_len) before prefill")
        L, T = phonemes.shape[1], audio.shape[1]
        if cache.max_len < L + T:
            raise ValueError(f"prefill of {L + T} tokens exceeds the cache ({cache.max_len})")
        x = self._embed(phonemes, audio)
        mask = self.attention_mask(phoneme_lens, L, audio_lens, T)
        for i, (block, layer_mask) in enumerate(zip(self.blocks, self._layer_masks(mask, L, None))):
            x = block(x, layer_mask, cache=cache, layer=i, start=0)
        valid = torch.cat([lengths_to_mask(phoneme_lens, L), lengths_to_mask(audio_lens, T)], 1)
        cache.valid.zero_()
        cache.valid[:, : L + T] = valid
        cache.length = L + T
        cache.dense = bool(valid.all())
        cache.text_len = L
        self._align_rows = self._align_step_rows() if self.config.align_layers else None
        last = L + audio_lens - 1  # [B]
        h = x[torch.arange(x.shape[0], device=x.device), last]
        return self.head(self.norm(h))

    def decode_one(self, tokens: Tensor, positions: Tensor) -> Tensor:
        """One step. tokens: [B] audio ids; positions: [B] their audio positions.

        Returns logits [B, K+1] for the next token."""
        cache = self.cache
        slot = cache.length
        if slot >= cache.max_len:
            raise RuntimeError(f"KV cache full ({cache.max_len} slots)")
        x = self.audio_emb(tokens) + self.audio_alpha * self.audio_pos[positions]  # [B, D]
        cache.valid[:, slot] = True
        # a dense cache (no padding) needs no mask: a single query may see every cached key
        mask = None if cache.dense else cache.valid[:, None, None, : slot + 1]
        masks = self._step_masks(mask, slot)
        if self.training:  # dropout: take the general path
            x = x[:, None]
            for i, block in enumerate(self.blocks):
                x = block(x, masks[i], cache=cache, layer=i, start=slot)
            x = x[:, 0]
        elif self._use_half:
            _, halves, head = self._half
            for i, block in enumerate(self.blocks):
                x = block.step(x, masks[i], cache, i, slot, halves[i])
            cache.length = slot + 1
            return F.linear(self.norm(x).half(), head).float()
        else:
            for i, block in enumerate(self.blocks):
                x = block.step(x, masks[i], cache, i, slot)
        cache.length = slot + 1
        return self.norm(x) @ self.head.weight

    def _align_step_rows(self) -> Tensor:
        """bool [B, H, 1, S_max]: which cache slots each head's query may see in a decode step
        of an alignment layer: valid slots, but for the alignment heads only the text slots
        (the first `cache.text_len`). Made once at prefill; each step opens its own slot."""
        cache, c = self.cache, self.config
        B, S = cache.valid.shape
        rows = cache.valid[:, None, None, :].expand(B, c.n_heads, 1, S).clone()
        rows[:, : c.align_heads, :, cache.text_len :] = False
        return rows

    def _step_masks(self, mask: Tensor | None, slot: int) -> list[Tensor | None]:
        """Each layer's mask for a decode step: alignment layers' alignment heads see only the
        text slots (see `_align_step_rows`; a slot past the text stays closed to them)."""
        c = self.config
        if not c.align_layers:
            return [mask] * c.n_layers
        rows = self._align_rows
        rows[:, c.align_heads :, :, slot] = True
        valid = rows.narrow(3, 0, slot + 1)
        return [valid if i in c.align_layers else mask for i in range(c.n_layers)]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
