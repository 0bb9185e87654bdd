"""Transformer layers shared by the AR and NAR models, and the preallocated KV cache.

Why an own compact block instead of transformers' Llama blocks: batch-1 AR decoding on a CPU is
bound by per-step overhead as much as by memory bandwidth. HF's attention layers rebuild masks,
go through cache objects with dynamic concatenation and apply rotary embeddings per layer, each
a handful of small ops per token. Here one decode step per layer is about a dozen ops: a fused
LayerNorm, one fused QKV projection, two in-place cache writes into a preallocated buffer,
`F.scaled_dot_product_attention` over a view of the cache, and a GELU MLP. Positions are
sinusoidal tables added once at the input (as in VALL-E) rather than rotary per layer, which
saves about six ops per layer per token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def sinusoid_table(n_positions: int, dim: int) -> Tensor:
    """[n_positions, dim] sine/cosine position table (Vaswani et al.)."""
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(n_positions, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table


@dataclass
class KVCache:
    """Preallocated keys and values for every layer, addressed by slot.

    k, v: [n_layers, B, H, S_max, Dh]; valid: [B, S_max] marks slots that hold real tokens (a
    padded prefill leaves invalid slots in the middle, which attention must skip).
    `length` is the next free slot; every item of the batch writes the same slot per step.
    `dense` is True while no slot is invalid, so a step can skip the mask entirely.
    `layers` holds each layer's (k, v) views [B, H, S_max, Dh], made once so that a decode
    step does not index the layer out of the big tensors again (a few ops per layer per step).
    """

    k: Tensor
    v: Tensor
    valid: Tensor
    length: int = 0
    dense: bool = True
    text_len: int = 0  # slots before this hold the text (the AR's prefill writes it first)
    layers: list[tuple[Tensor, Tensor]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # select, not unbind: unbind's views may not be written in place while grad is on
        self.layers = [(self.k[i], self.v[i]) for i in range(self.k.shape[0])]

    @classmethod
    def allocate(
        cls, n_layers: int, batch: int, n_heads: int, max_len: int, head_dim: int, like: Tensor
    ) -> KVCache:
        shape = (n_layers, batch, n_heads, max_len, head_dim)
        return cls(
            k=torch.zeros(shape, dtype=like.dtype, device=like.device),
            v=torch.zeros(shape, dtype=like.dtype, device=like.device),
            valid=torch.zeros(batch, max_len, dtype=torch.bool, device=like.device),
        )

    @property
    def max_len(self) -> int:
        return self.k.shape[3]


class Linear(nn.Module):
    """y = x @ weight + bias with the weight stored [in, out].

    Why not nn.Linear: its weight is [out, in], and a batch-1 decode step is a GEMV bound by
    how fast the weights stream from memory. With the [in, out] layout the matrix product walks
    the weight row by row; measured on this 2-core CPU, 5.9 G parameters/s against 3.4 for
    nn.Linear's layout, which is most of the decode speed-up. Training speed is unchanged.
    (float16 is the other way round: F.linear on [out, in] float16 weights streams about
    12 G parameters/s here and x @ [in, out] float16 is 50x slower, hence `half_weights`.)
    """

    def __init__(self, d_in: int, d_out: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(d_in, d_out))
        self.bias = nn.Parameter(torch.zeros(d_out)) if bias else None
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(-1, x.shape[-1])
        if self.bias is None:
            y = flat @ self.weight
        else:
            y = torch.addmm(self.bias, flat, self.weight)
        return y.view(*x.shape[:-1], y.shape[-1])


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.qkv = Linear(d_model, 3 * d_model)
        self.out = Linear(d_model, d_model)
        self.dropout = dropout
        # training: keep this call's raw scores (q.k / sqrt(d), before any mask or bias) in
        # `scores` [B, H, T, S], for losses on the attention itself (lm/alignment.py)
        self.capture = False
        self.scores: Tensor | None = None

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None,
        cache: KVCache | None = None,
        layer: int = 0,
        start: int = 0,
    ) -> Tensor:
        """x: [B, T, D]; mask: bool [B or 1, 1 or H, T, S] (True = may attend), a float bias
        of that shape (-inf = may not attend), or None.

        With a cache, x's keys/values are written to slots start..start+T and attention runs
        over slots 0..start+T.
        """
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if cache is not None:
            end = start + T
            cache.k[layer, :, :, start:end] = k
            cache.v[layer, :, :, start:end] = v
            k = cache.k[layer, :, :, :end]
            v = cache.v[layer, :, :, :end]
        if self.capture:
            y = self._explicit(q, k, v, mask)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
            )
        return self.out(y.transpose(1, 2).reshape(B, T, D))

    def _explicit(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
        """Attention written out, keeping the raw scores (what SDPA computes, in float32)."""
        scores = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(self.head_dim)
        self.scores = scores
        if mask is not None:
            bias = (
                mask
                if mask.dtype != torch.bool
                else torch.zeros_like(scores).masked_fill(~mask, float("-inf"))
            )
            scores = scores + bias
        probs = F.dropout(scores.softmax(-1), self.dropout if self.training else 0.0, self.training)
        return (probs @ v.float()).to(v.dtype)


class Block(nn.Module):
    """Pre-norm transformer block. With `adaptive`, the LayerNorms take scale and shift from a
    conditioning vector (adaptive layer norm, the NAR's stage conditioning)."""

    def __init__(
        self, d_model: int, n_heads: int, d_ffn: int, dropout: float, adaptive: bool = False
    ) -> None:
        super().__init__()
        self.adaptive = adaptive
        self.norm1 = nn.LayerNorm(d_model, elementwise_affine=not adaptive)
        self.norm2 = nn.LayerNorm(d_model, elementwise_affine=not adaptive)
        self.attn = SelfAttention(d_model, n_heads, dropout)
        self.fc1 = Linear(d_model, d_ffn)
        self.fc2 = Linear(d_ffn, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None,
        cond: Tensor | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
        start: int = 0,
    ) -> Tensor:
        """x: [B, T, D]; cond: [B, 1, 4D] scale/shift pairs for the two norms when adaptive."""
        if self.adaptive:
            s1, b1, s2, b2 = cond.chunk(4, dim=-1)
            h = self.norm1(x) * (1 + s1) + b1
        else:
            h = self.norm1(x)
        x = x + self.drop(self.attn(h, mask, cache, layer, start))
        h = self.norm2(x) * (1 + s2) + b2 if self.adaptive else self.norm2(x)
        return x + self.drop(self.fc2(self.drop(F.gelu(self.fc1(h)))))

    def step(
        self,
        x: Tensor,
        mask: Tensor | None,
        cache: KVCache,
        layer: int,
        slot: int,
        half: dict[str, tuple[Tensor, Tensor]] | None = None,
    ) -> Tensor:
        """One cached decode step of a non-adaptive block in eval mode. x: [B, D] -> [B, D].

        The same math as `forward` with T = 1, written as direct addmm calls on 2-D tensors:
        at batch 1 every dropped reshape and dispatch is measurable (this is the AR's hot loop;
        the cache-equivalence test keeps it equal to `forward`). `half` holds float16 copies of
        the projections (see `half_weights`); norms, attention and the residual stay float32."""
        B, D = x.shape
        a = self.attn
        H, Dh = a.n_heads, a.head_dim
        h = F.layer_norm(x, (D,), self.norm1.weight, self.norm1.bias)
        qkv = _project(h, a.qkv, half, "qkv").view(B, 3, H, Dh)
        k, v = cache.layers[layer]  # [B, H, S_max, Dh]
        k.select(2, slot).copy_(qkv[:, 1])
        v.select(2, slot).copy_(qkv[:, 2])
        y = F.scaled_dot_product_attention(
            qkv[:, 0, :, None], k.narrow(2, 0, slot + 1), v.narrow(2, 0, slot + 1), attn_mask=mask
        )
        x = x + _project(y.view(B, D), a.out, half, "out")
        h = F.layer_norm(x, (D,), self.norm2.weight, self.norm2.bias)
        return x + _project(F.gelu(_project(h, self.fc1, half, "fc1")), self.fc2, half, "fc2")

    def half_weights(self) -> dict[str, tuple[Tensor, Tensor]]:
        """float16 copies of the projections, [out, in] (F.linear's layout), for `step`."""
        lins = {"qkv": self.attn.qkv, "out": self.attn.out, "fc1": self.fc1, "fc2": self.fc2}
        return {
            k: (m.weight.detach().t().half().contiguous(), m.bias.detach().half())
            for k, m in lins.items()
        }


def _project(
    x: Tensor, lin: Linear, half: dict[str, tuple[Tensor, Tensor]] | None, name: str
) -> Tensor:
    if half is None:
        return torch.addmm(lin.bias, x, lin.weight)
    w, b = half[name]
    return F.linear(x.half(), w, b).float()


def init_weights(module: nn.Module) -> None:
    """GPT-2 style init of the projections: small normal weights make the untrained model's
    logits near-uniform. Embeddings keep N(0, 1) so tokens are not drowned by the position table."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, Linear)):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
