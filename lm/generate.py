"""Batched generation: the AR model writes codebook 1, the NAR fills codebooks 2..Q.

    settings = SamplingSettings(temperature=1.0, top_k=50, seed=0)
    ar_out = generate_ar(ar, phonemes, prompt_codes, settings, n_prompt_phonemes=...)
    codes = generate_nar(nar, phonemes, prompt_codes, ar_out.codes)   # list of [Q, T_i]
    probs = generate_nar_distributions(nar, ...).probs   # list of [Q, T_i, K], for
                                                         # Codec.decode_expected

`phonemes[i]` is the prompt's phoneme ids followed by the target's ([L_i]); `prompt_codes[i]`
is the prompt's codec codes [Q, P_i]. Items may have any lengths: they are padded and masked.

Stopping guards, because endless generation, babbling and repetition are what users of VALL-E
implementations complain about most: an item stops at EOS, or after `max_frames_per_phoneme`
frames per target phoneme (and `max_frames`); EOS is banned until `min_frames` (and
`min_frames_per_phoneme`) so nothing comes back empty; and a token that has repeated
`max_repeat_run` times in a row is banned for the next step.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from .ar import ARModel
from .nar import NARModel
from .sampling import (
    apply_temperature,
    ban_tokens,
    greedy,
    repetition_aware_sample,
    sample_categorical,
    top_k_filter,
    top_p_filter,
)


@dataclass
class SamplingSettings:
    """How the AR model samples and when it stops.

    temperature: 0 means greedy (argmax); top_k: 0 disables; top_p: 1 disables.
    repetition_window / repetition_threshold: VALL-E 2's repetition-aware sampling; a drawn token
        that already fills more than `threshold` of the last `window` tokens is redrawn from the
        full distribution. window 0 disables. VALL-E 2 reports window 10 and threshold 0.1.
    max_frames_per_phoneme: frame budget per target phoneme (about 3x normal speech at 75 Hz).
    max_frames: absolute cap on generated frames (None: only the model's position table).
    min_frames, min_frames_per_phoneme: EOS is banned before max(min_frames, rate * phonemes).
    max_repeat_run: a token repeated this many times in a row is banned for the next step.
    seed: seeds the sampler (None: torch's global generator).
    cfg_scale: classifier-free guidance on the prompt. Each step also runs the AR on the target's
        phonemes alone, without the prompt's text and audio, and draws from the logits
        uncond + cfg_scale * (cond - uncond); above 1 the output follows what the prompt adds
        (voice, recording conditions) more closely, at about twice the AR's work. 1 disables.
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_window: int = 10
    repetition_threshold: float = 0.1
    max_frames_per_phoneme: float = 20.0
    max_frames: int | None = None
    min_frames: int = 1
    min_frames_per_phoneme: float = 1.0
    max_repeat_run: int = 50
    seed: int | None = 0
    cfg_scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.cfg_scale >= 0:  # also refuses NaN
            raise ValueError(f"cfg_scale must be >= 0 (1 disables guidance), got {self.cfg_scale}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_frames_per_phoneme <= 0:
            raise ValueError("max_frames_per_phoneme must be > 0")
        if self.max_repeat_run < 1 or self.min_frames < 0 or self.repetition_window < 0:
            raise ValueError("max_repeat_run must be >= 1; min_frames, window >= 0")


@dataclass
class ARResult:
    """codes[i]: [T_i] generated first-codebook codes (prompt excluded, EOS excluded);
    stop_reasons[i]: "eos" or "max_frames"; prefill_seconds / decode_seconds: wall time of
    the prompt pass and of the token-by-token loop (for throughput reports)."""

    codes: list[Tensor]
    stop_reasons: list[str]
    prefill_seconds: float = 0.0
    decode_seconds: float = 0.0


def _pad_1d(seqs: list[Tensor], pad: int, device: torch.device, extra: int = 0) -> Tensor:
    out = torch.full((len(seqs), max(len(s) for s in seqs) + extra), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out.to(device)


def _generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(int(seed))


def _check_inputs(
    phonemes: list[Tensor], prompt_codes: list[Tensor], n_phonemes: int, codebook_size: int
) -> None:
    if not phonemes or len(phonemes) != len(prompt_codes):
        raise ValueError(
            f"need one prompt per item: {len(phonemes)} phoneme sequences, "
            f"{len(prompt_codes)} prompts"
        )
    for i, (ph, pc) in enumerate(zip(phonemes, prompt_codes)):
        if ph.ndim != 1 or len(ph) == 0:
            raise ValueError(f"item {i}: phonemes must be a non-empty [L] tensor, got {ph.shape}")
        if int(ph.min()) < 0 or int(ph.max()) >= n_phonemes:
            raise ValueError(f"item {i}: phoneme ids outside [0, {n_phonemes})")
        if pc.numel() and (int(pc.min()) < 0 or int(pc.max()) >= codebook_size):
            raise ValueError(f"item {i}: prompt codes outside the codebook [0, {codebook_size})")


@torch.inference_mode()
def generate_ar(
    model: ARModel,
    phonemes: list[Tensor],
    prompt_codes: list[Tensor],
    settings: SamplingSettings | None = None,
    *,
    n_prompt_phonemes: list[int] | None = None,
    use_cache: bool = True,
    half_weights: bool = False,
) -> ARResult:
    """Continue each prompt's first codebook until EOS or a guard stops it.

    phonemes: per item [L_i] ids, prompt then target. prompt_codes: per item [Q, P_i] or [P_i]
    (only the first codebook is used; P_i may be 0). n_prompt_phonemes: per item, how many of
    the phonemes belong to the prompt, so the frame budget scales with the target's phonemes
    only (default: all phonemes count); with settings.cfg_scale != 1 it also tells the
    unconditional branch which phonemes to drop (without it that branch keeps them all and
    drops only the prompt's audio). use_cache=False recomputes the full sequence each step
    (the reference path the benchmark compares against). half_weights: decode with float16
    copies of the weights (see ARModel.setup_caches; about 2x faster on a CPU).
    """
    with _eval_mode(model):
        return _generate_ar(
            model,
            phonemes,
            prompt_codes,
            settings or SamplingSettings(),
            n_prompt_phonemes,
            use_cache,
            half_weights,
        )


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module):
    """Generate in eval mode (no dropout) and give the model back in the mode it came in."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _generate_ar(
    model: ARModel,
    phonemes: list[Tensor],
    prompt_codes: list[Tensor],
    s: SamplingSettings,
    n_prompt_phonemes: list[int] | None,
    use_cache: bool,
    half_weights: bool,
) -> ARResult:
    c = model.config
    device = model.head.weight.device
    prompts = [p[0] if p.ndim == 2 else p for p in prompt_codes]
    _check_inputs(phonemes, prompts, c.n_phonemes, c.codebook_size)
    B = len(phonemes)
    n_prompt_ph = n_prompt_phonemes or [0] * B
    max_new, min_new = _frame_budgets(c, s, phonemes, prompts, n_prompt_ph)
    steps = max(max_new)
    bos = torch.full((1,), c.bos_id, dtype=torch.long)
    audio_seqs = [torch.cat([bos, p.long().cpu()]) for p in prompts]
    rows_in = phonemes
    if s.cfg_scale != 1.0:
        if not use_cache:
            raise ValueError("cfg_scale != 1 needs the KV cache (use_cache=True)")
        # rows B..2B-1: the unconditional branch, the target's phonemes with no prompt at all
        rows_in = phonemes + [ph[n:] if len(ph) > n else ph for ph, n in zip(phonemes, n_prompt_ph)]
        audio_seqs = audio_seqs + [bos] * B
    gen = _generator(s.seed, device)
    t0 = time.perf_counter()
    logits = _ARLogits(model, rows_in, audio_seqs, steps, use_cache, half_weights, s.cfg_scale)
    first = logits.first()
    t1 = time.perf_counter()
    out, lengths, hit_eos = _sample_tokens(logits, first, s, (max_new, min_new), steps, gen)
    t2 = time.perf_counter()
    codes = [out[i, : lengths[i]].clone() for i in range(B)]
    reasons = ["eos" if hit_eos[i] else "max_frames" for i in range(B)]
    return ARResult(codes, reasons, prefill_seconds=t1 - t0, decode_seconds=t2 - t1)


def _frame_budgets(c, s: SamplingSettings, phonemes, prompts, n_prompt_ph):
    """Per item, the most frames it may write (a budget per target phoneme, max_frames and
    the position table's room) and the fewest before EOS is allowed."""
    max_new, min_new = [], []
    for ph, n, p in zip(phonemes, n_prompt_ph, prompts):
        nt = max(1, len(ph) - n)  # the target's phonemes
        cap = math.ceil(s.max_frames_per_phoneme * nt)
        if s.max_frames is not None:
            cap = min(cap, s.max_frames)
        cap = min(cap, c.max_frames - len(p))
        if cap < 1:
            raise ValueError(
                f"prompt of {len(p)} frames leaves no room (max_frames={c.max_frames})"
            )
        max_new.append(cap)
        min_new.append(min(cap, max(s.min_frames, math.ceil(s.min_frames_per_phoneme * nt))))
    return max_new, min_new


class _ARLogits:
    """The AR's next-token logits for a batch of rows, step by step: with the KV cache (one
    prefill, then one token a step) or, use_cache=False, a full forward pass a step (the
    reference path the benchmark compares against). Under classifier-free guidance the
    second half of the rows is the unconditional branch, and the two are mixed as
    uncond + cfg_scale * (cond - uncond)."""

    def __init__(self, model, rows_in, audio_seqs, steps, use_cache, half_weights, cfg_scale):
        c = model.config
        device = model.head.weight.device
        self.model, self.use_cache, self.cfg_scale = model, use_cache, cfg_scale
        self.guided = cfg_scale != 1.0
        self.phon = _pad_1d(rows_in, c.phoneme_pad_id, device)
        self.phon_lens = torch.tensor([len(p) for p in rows_in], device=device)
        self.audio_lens = torch.tensor([len(a) for a in audio_seqs], device=device)
        if use_cache:
            self.audio = _pad_1d(audio_seqs, c.audio_pad_id, device)
            model.setup_caches(
                len(audio_seqs),
                self.phon.shape[1] + self.audio.shape[1] + steps,
                half_weights=half_weights,
            )
            self.positions = self.audio_lens.clone()
        else:
            self.audio = _pad_1d(audio_seqs, c.audio_pad_id, device, extra=steps)
            self.cur_lens = self.audio_lens.clone()
            self.rows = torch.arange(len(audio_seqs), device=device)

    def _mix(self, logits: Tensor) -> Tensor:
        if not self.guided:
            return logits
        B = logits.shape[0] // 2
        cond, uncond = logits[:B], logits[B:]
        return uncond + self.cfg_scale * (cond - uncond)

    def _full(self) -> Tensor:
        T = int(self.cur_lens.max())
        out = self.model(self.phon, self.phon_lens, self.audio[:, :T], self.cur_lens).logits
        return out[self.rows, self.cur_lens - 1]

    def first(self) -> Tensor:
        """The logits after the prompts."""
        if not self.use_cache:
            return self._full()
        return self._mix(self.model.prefill(self.phon, self.phon_lens, self.audio, self.audio_lens))

    def next(self, feed: Tensor) -> Tensor:
        """The logits after feeding one token per item ([B])."""
        if not self.use_cache:
            self.audio[self.rows, self.cur_lens] = feed
            self.cur_lens += 1
            return self._full()
        if self.guided:  # both branches continue with the token drawn from the guided logits
            feed = torch.cat([feed, feed])
        max_frames = self.model.config.max_frames
        logits = self._mix(self.model.decode_one(feed, self.positions.clamp(max=max_frames)))
        self.positions += 1
        return logits


def _sample_tokens(source: _ARLogits, logits: Tensor, s: SamplingSettings, budgets, steps, gen):
    """The decode loop: draw a token per item per step until every item has hit EOS or its
    frame budget. budgets: ([B] most frames, [B] fewest frames before EOS), lists of ints.
    Returns the drawn tokens [B, steps], and per item its length before EOS and whether it
    hit EOS (lists).

    The stopping guards' bookkeeping runs on Python ints: the drawn tokens come to the host
    once a step anyway (the loop must know when to stop), and at batch 1 a dozen tensor ops
    of bookkeeping cost as much as a transformer layer. Bans are applied only on the steps
    where some row needs one, which leaves the logits exactly as banning nothing would."""
    c = source.model.config
    max_new, min_new = budgets
    B, device = len(max_new), logits.device
    out = torch.zeros(B, steps, dtype=torch.long, device=device)
    state = _LoopState(B)
    W, eos_until = s.repetition_window, max(min_new)
    for step in range(steps):
        state.finish_budgets(step, max_new)
        if step < eos_until:
            logits = ban_tokens(logits, c.eos_id, _flags([step < m for m in min_new], device))
        repeats = [r >= s.max_repeat_run for r in state.run]
        if any(repeats):
            last = torch.tensor([max(t, 0) for t in state.last], device=device)
            logits = ban_tokens(logits, last, _flags(repeats, device))
        if s.temperature == 0:
            tok = greedy(logits)
        else:
            tok = repetition_aware_sample(
                logits,
                out[:, max(0, step - W) : step],
                temperature=s.temperature,
                top_k=s.top_k,
                top_p=s.top_p,
                threshold=s.repetition_threshold,
                generator=gen,
            )
        out[:, step] = tok
        toks = tok.tolist()
        state.record(toks, c.eos_id)
        if all(state.finished) or step == steps - 1:
            break
        if any(state.finished):  # keep finished rows finite
            tok = torch.tensor([0 if f else t for f, t in zip(state.finished, toks)], device=device)
        logits = source.next(tok)
    return out, state.lengths, state.hit_eos


def _flags(values: list[bool], device: torch.device) -> Tensor:
    return torch.tensor(values, dtype=torch.bool, device=device)


class _LoopState:
    """Per item: finished, hit EOS, length before EOS, the last token and how many times in
    a row it has come (for the repeat guard)."""

    def __init__(self, B: int) -> None:
        self.finished = [False] * B
        self.hit_eos = [False] * B
        self.lengths = [0] * B
        self.last = [-1] * B
        self.run = [0] * B

    def finish_budgets(self, step: int, max_new: list[int]) -> None:
        self.finished = [f or step >= m for f, m in zip(self.finished, max_new)]

    def record(self, toks: list[int], eos_id: int) -> None:
        for i, t in enumerate(toks):
            is_eos = t == eos_id and not self.finished[i]
            self.hit_eos[i] |= is_eos
            if not (self.finished[i] or is_eos):
                self.lengths[i] += 1
            self.finished[i] |= is_eos
            self.run[i] = self.run[i] + 1 if t == self.last[i] else 1
            self.last[i] = t


@torch.inference_mode()
def generate_nar(
    model: NARModel,
    phonemes: list[Tensor],
    prompt_codes: list[Tensor],
    first_codebook: list[Tensor],
    *,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int | None = 0,
) -> list[Tensor]:
    """Fill codebooks 2..Q of each target in Q-1 batched passes.

    phonemes: per item [L_i] (prompt then target); prompt_codes: per item [Q, P_i];
    first_codebook: per item [T_i] (the AR's output). temperature 0 is greedy.
    Returns per item [Q, T_i]."""
    with _eval_mode(model):
        sampling = _NARSampling(temperature, top_k, top_p, seed)
        return _generate_nar(model, phonemes, prompt_codes, first_codebook, sampling, False).codes


@dataclass
class NARResult:
    """codes: per item [Q, T_i], row 0 the first codebook as given, rows 1.. the picks.
    probs: per item [Q, T_i, K], the NAR's softmax for codebooks 2..Q (each stage conditioned
    on the picks of the stages before it) and row 0 one-hot of the first codebook."""

    codes: list[Tensor]
    probs: list[Tensor]


@torch.inference_mode()
def generate_nar_distributions(
    model: NARModel,
    phonemes: list[Tensor],
    prompt_codes: list[Tensor],
    first_codebook: list[Tensor],
    *,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int | None = 0,
) -> NARResult:
    """`generate_nar` that also keeps each stage's distribution, for `Codec.decode_expected`.
    The distributions are the plain softmax (temperature 1): the model's own estimate, which
    the expected latent needs; the sampling arguments only choose the codes that condition
    the next stages."""
    with _eval_mode(model):
        sampling = _NARSampling(temperature, top_k, top_p, seed)
        return _generate_nar(model, phonemes, prompt_codes, first_codebook, sampling, True)


@dataclass(frozen=True)
class _NARSampling:
    """How the NAR picks the codes that condition its next stages (temperature 0: greedy)."""

    temperature: float
    top_k: int
    top_p: float
    seed: int | None


def _generate_nar(
    model: NARModel,
    phonemes: list[Tensor],
    prompt_codes: list[Tensor],
    first_codebook: list[Tensor],
    sampling: _NARSampling,
    keep_probs: bool,
) -> NARResult:
    c = model.config
    Q, K = c.n_codebooks, c.codebook_size
    device = model.heads.device
    _check_inputs(phonemes, prompt_codes, c.n_phonemes, K)
    for i, (pc, fc) in enumerate(zip(prompt_codes, first_codebook)):
        if pc.ndim != 2 or pc.shape[0] != Q:
            raise ValueError(f"item {i}: prompt codes must be [Q={Q}, P], got {tuple(pc.shape)}")
        if fc.ndim != 1 or len(fc) == 0:
            raise ValueError(f"item {i}: first codebook must be a non-empty [T] tensor")
        if int(fc.min()) < 0 or int(fc.max()) >= K:
            raise ValueError(f"item {i}: first-codebook codes outside [0, {K})")
    B = len(phonemes)
    gen = _generator(sampling.seed, device)
    phon = _pad_1d(phonemes, c.phoneme_pad_id, device)
    phon_lens = torch.tensor([len(p) for p in phonemes], device=device)
    P = max(pc.shape[1] for pc in prompt_codes)
    T = max(len(f) for f in first_codebook)
    prompt = torch.full((B, Q, max(P, 1)), K, dtype=torch.long, device=device)
    target = torch.full((B, Q, T), K, dtype=torch.long, device=device)
    for i, (pc, fc) in enumerate(zip(prompt_codes, first_codebook)):
        prompt[i, :, : pc.shape[1]] = pc.to(device)
        target[i, 0, : len(fc)] = fc.to(device)
    prompt_lens = torch.tensor([pc.shape[1] for pc in prompt_codes], device=device)
    target_lens = torch.tensor([len(f) for f in first_codebook], device=device)
    probs = None
    if keep_probs:  # [B, Q, T, K]; row 0 one-hot of the given first codebook
        probs = torch.zeros(B, Q, T, K, device=device)
        probs[:, 0].scatter_(-1, target[:, 0].clamp(max=K - 1)[..., None], 1.0)
    for stage in range(1, Q):
        logits = model(phon, phon_lens, prompt, prompt_lens, target, target_lens, stage).logits
        if probs is not None:
            probs[:, stage] = torch.softmax(logits.float(), dim=-1)
        flat = logits.reshape(B * T, K)
        if sampling.temperature == 0:
            pick = greedy(flat)
        else:
            flat = apply_temperature(flat, sampling.temperature)
            flat = top_p_filter(top_k_filter(flat, sampling.top_k), sampling.top_p)
            pick = sample_categorical(flat, gen)
        target[:, stage] = pick.view(B, T)
    lens = [len(f) for f in first_codebook]
    return NARResult(
        codes=[target[i, :, :n].clone() for i, n in enumerate(lens)],
        probs=[] if probs is None else [probs[i, :, :n].clone() for i, n in enumerate(lens)],
    )
