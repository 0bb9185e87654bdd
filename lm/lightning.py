"""Lightning wrappers for training the AR and NAR models; the model code knows nothing of them.

`LMTask` trains either model (kind="ar" or "nar") and logs the loss and the top-10 accuracy
per codebook to whatever logger the Trainer has (TensorBoard in the shipped configs).
`TokenDataModule` serves token datasets through the duration-bucketed sampler and records the
data position in every checkpoint, so a resumed run continues with the next unseen batch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from .alignment import (
    attention_png,
    beta_binomial_log_prior,
    forward_sum_loss,
    phoneme_ctc_loss,
    prior_weight,
)
from .ar import ARModel, lengths_to_mask
from .checkpoint import save_pretrained
from .config import ARConfig, NARConfig
from .data import Collator, DurationBucketSampler, SpeakerPrompts, TokenBatch, TokenDataset
from .nar import NARModel


@dataclass
class OptimSettings:
    """AdamW with linear warm-up, then cosine decay to `min_lr_ratio` * lr at `total_steps`
    (schedule="cosine"), or inverse-square-root decay after warm-up (schedule="noam").
    total_steps 0 means the Trainer's estimate of the run's optimizer steps."""

    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.01
    warmup_steps: int = 200
    total_steps: int = 0
    min_lr_ratio: float = 0.05
    schedule: Literal["cosine", "noam"] = "cosine"


@dataclass
class StageSettings:
    """The NAR's draw of one stage (codebook 2..Q) to train in each step.

    seed: seeds the draw, made from (seed, step), so a resumed run draws the same stages.
    weights: relative odds of each stage 2..Q (Q - 1 non-negative numbers); None: all alike.
        The words are mostly in the low stages (codec resynthesis with 1, 2, 4 and 8
        codebooks: docs/experiments.md), which a uniform draw trains in one step of Q - 1."""

    seed: int = 0
    weights: list[float] | None = None


@dataclass
class AlignSettings:
    """Alignment learning for the AR (lm/alignment.py); zeros leave it off.

    prior_scale: weight of the beta-binomial log-prior added to the alignment heads' scores
        (the model needs align_layers/align_heads), constant until prior_anneal_start, then
        linearly down to 0 at prior_anneal_end (optimizer steps).
    forward_sum_weight: weight of the forward-sum (CTC over attention) loss on the alignment
        heads (Neekhara et al. use about 0.005 beside a cross-entropy of their scale; the
        cross-entropy of a 1024-code codebook is larger, so larger weights are worth trying).
    phoneme_ctc_weight: weight of the phoneme CTC loss (the model needs phoneme_ctc).
    attention_png: at each validation, write the first alignment head's attention for the
        first validation item to <log dir>/attention/step-N.png (and the prior it had)."""

    prior_scale: float = 0.0
    prior_anneal_start: int = 0
    prior_anneal_end: int = 0
    forward_sum_weight: float = 0.0
    phoneme_ctc_weight: float = 0.0
    attention_png: bool = True


def _as_settings(cls: type, value: Any) -> Any:
    """A settings dataclass given as itself, as a dict (a checkpoint's hyperparameters hold
    them so) or as None (its defaults)."""
    return cls(**value) if isinstance(value, dict) else value or cls()


def lr_factor(step: int, s: OptimSettings, total: int) -> float:
    """Multiplier of the base learning rate at optimizer step `step`."""
    warm = max(1, s.warmup_steps)
    if step < warm:
        return (step + 1) / warm
    if s.schedule == "noam":
        return math.sqrt(warm / (step + 1))
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def topk_accuracy(logits: Tensor, targets: Tensor, mask: Tensor, k: int) -> Tensor:
    """Share of masked positions whose target is among the k largest logits.
    logits [..., V], targets and mask [...]."""
    k = min(k, logits.shape[-1])
    hit = (logits.topk(k, dim=-1).indices == targets[..., None]).any(-1)
    return (hit & mask).sum() / mask.sum().clamp(min=1)


def model_config(
    kind: str,
    preset: str,
    model_overrides: dict[str, Any] | None = None,
    symbol_table: str | None = None,
):
    """(ARConfig or NARConfig, SymbolTable or None) from an LMTask's hyperparameters: also how
    a Lightning checkpoint's model is rebuilt without instantiating the task."""
    overrides = dict(model_overrides or {})
    symbols = None
    if symbol_table is not None:
        from echovox.text import SymbolTable

        symbols = (
            SymbolTable.default() if symbol_table == "default" else SymbolTable.load(symbol_table)
        )
        overrides.setdefault("n_phonemes", len(symbols))
        overrides.setdefault("phoneme_pad_id", symbols.pad_id)
    config_cls = ARConfig if kind == "ar" else NARConfig
    return config_cls.from_name(preset, **overrides), symbols


class LMTask(L.LightningModule):
    """Trains the AR (kind="ar") or NAR (kind="nar") model.

    Args:
        kind: "ar" or "nar".
        preset: model preset name (tiny, small, valle).
        model_overrides: config fields that replace the preset's (n_codebooks, codebook_size...).
        symbol_table: path to the text front end's SymbolTable JSON, or "default" for
            SymbolTable.default(); sets n_phonemes and the pad id and is exported with the weights.
        optim: optimizer and schedule.
        align: the AR's alignment learning (AlignSettings).
        stages: the NAR's per-step stage draw (StageSettings: seed, weights).
        init_from: an exported LM directory (`echovox lm export`, safetensors) whose weights
            start the run: fine-tuning with a new optimizer and schedule, where resuming a
            checkpoint would continue the old ones. A whole model directory (`echovox
            assemble_model`, e.g. app/pretrained/echovox-tiny) gives its AR or NAR, by this task's
            kind. Its kind and config must be this task's, except for dropout.
            A resumed run takes its weights from the checkpoint instead.
    """

    def __init__(
        self,
        kind: Literal["ar", "nar"] = "ar",
        preset: str = "tiny",
        model_overrides: dict[str, Any] | None = None,
        symbol_table: str | None = None,
        optim: OptimSettings | None = None,
        align: AlignSettings | dict | None = None,
        stages: StageSettings | dict | None = None,
        init_from: str | None = None,
    ) -> None:
        super().__init__()
        # the optimizer settings go in as a plain dict: checkpoints must load with
        # torch.load(weights_only=True), which refuses arbitrary classes
        self.save_hyperparameters(ignore=["optim", "align", "stages"])
        self.hparams["optim"] = dataclasses.asdict(optim or OptimSettings())
        self.align = _as_settings(AlignSettings, align)
        self.stages = _as_settings(StageSettings, stages)
        self.hparams["align"] = dataclasses.asdict(self.align)
        self.hparams["stages"] = dataclasses.asdict(self.stages)
        config, self.symbols = model_config(kind, preset, model_overrides, symbol_table)
        self.kind = kind
        self.model: ARModel | NARModel = ARModel(config) if kind == "ar" else NARModel(config)
        if init_from is not None:
            self._load_initial_weights(init_from)
        self.optim = optim or OptimSettings()
        self._check_align()
        self.stage_weights = self._check_stage_weights(self.stages.weights)

    ACCURACY_TOP_K = 10  # k of the logged top-k accuracy

    @property
    def config(self) -> ARConfig | NARConfig:
        return self.model.config

    def _check_align(self) -> None:
        a, c = self.align, self.model.config
        needs_heads = a.prior_scale > 0 or a.forward_sum_weight > 0
        if needs_heads and (self.kind != "ar" or not c.align_layers):
            raise ValueError(
                "align.prior_scale and align.forward_sum_weight need an AR with alignment heads "
                "(model_overrides: align_layers, align_heads)"
            )
        if a.phoneme_ctc_weight > 0 and (self.kind != "ar" or not c.phoneme_ctc):
            raise ValueError("align.phoneme_ctc_weight needs an AR with phoneme_ctc: true")
        for layer in getattr(c, "align_layers", []):  # keep their scores for the losses
            self.model.blocks[layer].attn.capture = a.forward_sum_weight > 0 or a.attention_png

    def _check_stage_weights(self, weights: list[float] | None) -> Tensor | None:
        if weights is None:
            return None
        n = self.model.config.n_codebooks - 1
        if self.kind != "nar":
            raise ValueError("stages.weights is a NAR setting: the AR writes only codebook 1")
        w = torch.tensor(weights, dtype=torch.float64)
        if len(w) != n or not torch.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError(
                f"stages.weights needs {n} non-negative numbers, not all 0 (stages 2..{n + 1}), "
                f"got {weights}"
            )
        return w

    def _load_initial_weights(self, directory: str) -> None:
        from echovox.checkpoint import CheckpointError

        from .checkpoint import load_lm, model_kind

        source = load_lm(directory, self.kind)
        # dropout is a training setting, not part of the weights' shape or meaning: a model
        # trained without it may be fine-tuned with it (and the other way round)
        same = dataclasses.replace(source.config, dropout=self.model.config.dropout)
        if model_kind(source) != self.kind or same != self.model.config:
            raise CheckpointError(
                f"init_from {directory}: it holds a {model_kind(source)} model with "
                f"{source.config}, this task trains a {self.kind} model with {self.model.config}"
            )
        self.model.load_state_dict(source.state_dict())

    # ---------------------------------------------------------------- steps
    def _ar_sequences(self, batch: TokenBatch) -> tuple[Tensor, Tensor]:
        """(inputs, targets), both [B, T + 1]: BOS then codebook 1, and codebook 1 then EOS,
        with -100 (not scored) on padding and on a prompt utterance put in front."""
        c: ARConfig = self.model.config
        codes = batch.codes[:, 0]  # [B, T]
        B, T = codes.shape
        real = lengths_to_mask(batch.code_lens, T)
        inputs = torch.full((B, T + 1), c.audio_pad_id, dtype=torch.long, device=codes.device)
        inputs[:, 0] = c.bos_id
        inputs[:, 1:] = codes.masked_fill(~real, c.audio_pad_id)
        targets = torch.full((B, T + 1), -100, dtype=torch.long, device=codes.device)
        targets[:, :T] = codes.masked_fill(~real, -100)
        if batch.loss_starts is not None:
            before = torch.arange(T, device=codes.device)[None] < batch.loss_starts[:, None]
            targets[:, :T] = targets[:, :T].masked_fill(before, -100)
        targets[torch.arange(B, device=codes.device), batch.code_lens] = c.eos_id
        return inputs, targets

    def _ar_step(self, batch: TokenBatch, stage_name: str) -> Tensor:
        inputs, targets = self._ar_sequences(batch)
        audio_lens = batch.code_lens + 1
        L, T = batch.phonemes.shape[1], inputs.shape[1]
        weight = prior_weight(
            self.global_step,
            self.align.prior_scale,
            self.align.prior_anneal_start,
            self.align.prior_anneal_end,
        )
        prior = None
        if weight > 0:
            prior = weight * beta_binomial_log_prior(batch.phoneme_lens, audio_lens, L, T)
        out = self.model(batch.phonemes, batch.phoneme_lens, inputs, audio_lens, prior)
        loss = F.cross_entropy(
            out.logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100
        )
        self._log_metrics(stage_name, loss, out.logits, targets.clamp(min=0), targets != -100, 0)
        return loss + self._alignment_losses(batch, out, audio_lens, stage_name, weight)

    def _align_scores(self, L: int) -> Tensor | None:
        """The alignment heads' raw audio-to-text scores [B, n_layers * Ha, T, L], if kept."""
        c = self.model.config
        parts = []
        for layer in c.align_layers:
            scores = self.model.blocks[layer].attn.scores
            if scores is not None:
                parts.append(scores[:, : c.align_heads, L:, :L])
        return torch.cat(parts, dim=1) if parts else None

    def _alignment_losses(
        self, batch: TokenBatch, out, audio_lens: Tensor, stage_name: str, weight: float
    ) -> Tensor:
        a = self.align
        total = torch.zeros((), device=batch.phonemes.device)
        logs: dict[str, Any] = {}
        if a.forward_sum_weight > 0:
            scores = self._align_scores(batch.phonemes.shape[1])
            fs = forward_sum_loss(scores, batch.phoneme_lens, audio_lens)
            total = total + a.forward_sum_weight * fs
            logs[f"{stage_name}/forward_sum"] = fs
        if a.phoneme_ctc_weight > 0:
            ctc = phoneme_ctc_loss(
                out.phoneme_logits, audio_lens, batch.phonemes, batch.phoneme_lens
            )
            total = total + a.phoneme_ctc_weight * ctc
            logs[f"{stage_name}/phoneme_ctc"] = ctc
        if logs:
            logs[f"{stage_name}/prior_weight"] = weight
            self.log_dict(logs, batch_size=len(batch), sync_dist=stage_name != "train")
        return total

    @torch.no_grad()
    def _log_metrics(
        self, stage_name: str, loss: Tensor, logits: Tensor, targets: Tensor, mask: Tensor, q: int
    ) -> None:
        """Loss, top-k and top-1 accuracy of codebook q (0-based; logged 1-based)."""
        k = self.ACCURACY_TOP_K
        metrics = {
            f"{stage_name}/loss": loss,
            f"{stage_name}/acc_top{k}_q{q + 1}": topk_accuracy(logits, targets, mask, k),
            f"{stage_name}/acc_top1_q{q + 1}": topk_accuracy(logits, targets, mask, 1),
        }
        self.log_dict(
            metrics, batch_size=len(targets), sync_dist=stage_name != "train", prog_bar=False
        )
        self.log(f"{stage_name}_loss", loss, prog_bar=True, logger=False, batch_size=len(targets))

    def _nar_stage(self, stage_name: str, batch_idx: int) -> int:
        Q = self.model.config.n_codebooks
        if stage_name == "train":  # one stage per batch, drawn from (seed, step): resumable
            g = torch.Generator().manual_seed(self.stages.seed * 1_000_003 + self.global_step)
            if self.stage_weights is not None:
                return 1 + int(torch.multinomial(self.stage_weights, 1, generator=g))
            return int(torch.randint(1, Q, (1,), generator=g))
        return 1 + batch_idx % (Q - 1)  # validation cycles through the stages

    def _nar_step(self, batch: TokenBatch, stage_name: str, batch_idx: int) -> Tensor:
        stage = self._nar_stage(stage_name, batch_idx)
        codes, code_lens = batch.nar_target()
        out = self.model(
            batch.phonemes,
            batch.phoneme_lens,
            batch.prompt_codes(),
            batch.prompt_lens,
            codes,
            code_lens,
            stage,
        )
        real = lengths_to_mask(code_lens, codes.shape[2])
        targets = codes[:, stage].masked_fill(~real, -100)
        loss = F.cross_entropy(
            out.logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100
        )
        self._log_metrics(stage_name, loss, out.logits, codes[:, stage], real, stage)
        return loss

    def _step(self, batch: TokenBatch, stage_name: str, batch_idx: int) -> Tensor:
        if self.kind == "ar":
            return self._ar_step(batch, stage_name)
        return self._nar_step(batch, stage_name, batch_idx)

    def training_step(self, batch: TokenBatch, batch_idx: int) -> Tensor:
        return self._step(batch, "train", batch_idx)

    def validation_step(self, batch: TokenBatch, batch_idx: int) -> Tensor:
        loss = self._step(batch, "val", batch_idx)
        if batch_idx == 0 and self.kind == "ar" and self.align.attention_png:
            self._save_attention(batch)
        return loss

    def _save_attention(self, batch: TokenBatch) -> None:
        """The first alignment head's attention over the first item's own text and frames."""
        scores = self._align_scores(batch.phonemes.shape[1])
        if scores is None or self.trainer is None or not self.trainer.is_global_zero:
            return
        n, t = int(batch.phoneme_lens[0]), int(batch.code_lens[0]) + 1
        probs = scores[0, 0, :t, :n].float().softmax(-1)
        root = Path(self.trainer.log_dir or self.trainer.default_root_dir) / "attention"
        attention_png(probs, root / f"step-{self.global_step:06d}.png")

    # ---------------------------------------------------------------- optimizer
    def configure_optimizers(self):
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            # norms, biases, embeddings and position weights are not decayed (GPT-2 practice)
            (decay if p.ndim >= 2 and "emb" not in name else no_decay).append(p)
        s = self.optim
        opt = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": s.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=s.lr,
            betas=s.betas,
        )
        total = s.total_steps or int(self.trainer.estimated_stepping_batches)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, s, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # ---------------------------------------------------------------- export
    def configure_model(self) -> None:
        """Under FSDPStrategy: shard each transformer block, then the rest, over the
        data-parallel ranks. Other strategies have no device mesh: nothing to do."""
        mesh = self.device_mesh
        if mesh is None or getattr(self, "_sharded", False):
            return
        from torch.distributed.fsdp import fully_shard

        from .layers import Block

        dp = mesh["data_parallel"]
        blocks = [m for m in self.model.modules() if isinstance(m, Block)]
        for module in blocks:
            fully_shard(module, mesh=dp)
        fully_shard(self.model, mesh=dp)
        self._sharded = True
        if self.global_rank == 0:
            print(f"FSDP: {len(blocks)} blocks and the model sharded over {dp.size()} ranks")

    def full_state_dict(self) -> dict[str, Tensor] | None:
        """The whole model's weights when they are sharded (FSDP), gathered from every rank:
        all ranks must call it. None when they are not sharded."""
        from torch.distributed.tensor import DTensor

        if not any(isinstance(p, DTensor) for p in self.model.parameters()):
            return None
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return get_model_state_dict(self.model, options=options)

    def export(self, directory: str | Path, state: dict[str, Tensor] | None = None) -> Path:
        """safetensors weights + config.json (+ symbols.json) for inference. state: the
        gathered weights of a sharded model (full_state_dict)."""
        notes = f"Trained for {self.global_step} optimizer steps with echovox.lm.lightning.LMTask."
        model = self.model
        if state is not None:
            model = type(self.model)(self.model.config)
            model.load_state_dict(state)
        return save_pretrained(model, directory, symbols=self.symbols, notes=notes)


@dataclass
class BatchSettings:
    """max_frames: frames per training batch, padding included. val_max_frames: frames per
    validation batch (None: max_frames); the NAR validates one stage per batch, cycling
    through them, so a large training batch on a small validation set would leave stages
    unscored, and keeping this at the size a model was first validated with keeps its
    validation losses comparable. num_buckets: duration buckets of the sampler.
    max_batch_size: cap on utterances per batch (None: only max_frames)."""

    max_frames: int = 4000
    val_max_frames: int | None = None
    num_buckets: int = 10
    max_batch_size: int | None = None


@dataclass
class PromptSettings:
    """seconds: length of the NAR's prompt. mode: where the NAR's prompt comes from (see
    `Collator`): "span", a random span of the utterance that stays in the target
    (echovox-tiny's NAR), or "prefix", the utterance's start, cut from the target as at
    synthesis. ar_seconds: 0 trains the AR on single utterances (plain continuation, as
    echovox-tiny's AR); above 0, each utterance gets another utterance of its speaker of at
    most this many seconds in front, as a prompt is at synthesis, and the loss covers the
    utterance's own frames only (`Collator`, `SpeakerPrompts`); the batches then hold up to
    that much more than max_frames."""

    seconds: float = 3.0
    mode: Literal["span", "prefix"] = "span"
    ar_seconds: float = 0.0


class TokenDataModule(L.LightningDataModule):
    """Token datasets (see lm/data.py) in duration-bucketed batches.

    Args:
        train: path of the training token dataset (save_to_disk folder).
        val: path of the validation token dataset, or None.
        batches: batch sizes and buckets (BatchSettings).
        prompts: the NAR's and the AR's prompts (PromptSettings).
        frame_rate: codec frames per second (turns the prompts' seconds into frames).
        num_workers: DataLoader worker processes.
        seed: seeds batch order and prompt spans.
    """

    def __init__(
        self,
        train: str,
        val: str | None = None,
        batches: BatchSettings | None = None,
        prompts: PromptSettings | None = None,
        frame_rate: float = 75.0,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        batches = batches or BatchSettings()
        prompts = prompts or PromptSettings()
        self.train_path, self.val_path = train, val
        self.max_frames, self.num_buckets = batches.max_frames, batches.num_buckets
        self.max_batch_size = batches.max_batch_size
        val_max = batches.val_max_frames
        self.val_max_frames = batches.max_frames if val_max is None else val_max
        self.prompt_frames = max(1, round(prompts.seconds * frame_rate))
        self.prompt_mode = prompts.mode
        if prompts.ar_seconds < 0:
            raise ValueError(f"prompts.ar_seconds must be >= 0, got {prompts.ar_seconds}")
        self.ar_prompt_frames = round(prompts.ar_seconds * frame_rate)
        self.num_workers, self.seed = num_workers, seed
        self._resume: dict | None = None
        self.train_sampler: DurationBucketSampler | None = None

    @property
    def _task(self) -> LMTask | None:
        return self.trainer.lightning_module if self.trainer else None

    def _dataset(self, path: str) -> TokenDataset:
        task = self._task
        c = task.model.config if task else None
        # an AR prompt utterance put in front takes up to ar_prompt_frames of the model's room
        room = self.ar_prompt_frames if task is not None and task.kind == "ar" else 0
        return TokenDataset(
            path,
            n_codebooks=c.n_codebooks if c else None,
            codebook_size=c.codebook_size if c else None,
            n_phonemes=c.n_phonemes if c else None,
            max_frames=c.max_frames - room if c else None,
            max_phonemes=c.max_phonemes if c else None,
            # the NAR sees prompt + target frames at once
            prompt_frames=self.prompt_frames if task is not None and task.kind == "nar" else 0,
        )

    def _collator(self, ds: TokenDataset) -> Collator:
        task = self._task
        pad = task.model.config.phoneme_pad_id if task is not None else 0
        ar_prompts, sep = None, None
        if self.ar_prompt_frames > 0 and task is not None and task.kind == "ar":
            if task.symbols is None:
                raise ValueError(
                    "prompts.ar_seconds needs the model's symbol_table: prompt and utterance "
                    "are joined by its word separator '_'"
                )
            ar_prompts, sep = SpeakerPrompts(ds, self.ar_prompt_frames), task.symbols.id("_")
        return Collator(pad, self.prompt_frames, self.seed, self.prompt_mode, ar_prompts, sep)

    def _loader(
        self, ds: TokenDataset, sampler: DurationBucketSampler
    ) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(
            ds,
            batch_sampler=sampler,
            collate_fn=self._collator(ds),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        ds = self._dataset(self.train_path)
        self.train_sampler = DurationBucketSampler(
            ds.lengths,
            self.max_frames,
            num_buckets=self.num_buckets,
            seed=self.seed,
            max_batch_size=self.max_batch_size,
        )
        if self._resume is not None:
            self.train_sampler.set_epoch(self._resume["epoch"])
            self.train_sampler.skip(self._resume["epoch"], self._resume["batches_done"])
            self._resume = None
        return self._loader(ds, self.train_sampler)

    def val_dataloader(self):
        if self.val_path is None:
            return []
        ds = self._dataset(self.val_path)
        sampler = DurationBucketSampler(
            ds.lengths, self.val_max_frames, shuffle=False, seed=self.seed
        )
        return self._loader(ds, sampler)

    def state_dict(self) -> dict:
        """The data position: epoch and batches this rank has trained on in it. Read from the
        loop's own progress counters, because the sampler runs ahead (Lightning prefetches)."""
        if self.trainer is None:
            return {}
        progress = self.trainer.fit_loop.epoch_loop.batch_progress.current
        return {"epoch": self.trainer.current_epoch, "batches_done": progress.processed}

    def load_state_dict(self, state: dict) -> None:
        self._resume = dict(state) if state else None


class FSDPStrategy(L.pytorch.strategies.ModelParallelStrategy):
    """Fully sharded data parallel (torch's FSDP2, `fully_shard`): parameters, gradients and
    optimizer state sharded across every rank, each transformer block its own unit
    (LMTask.configure_model). `strategy: {class_path: echovox.lm.lightning.FSDPStrategy}`.
    Unlike Lightning's `fsdp` string (FSDP1, GPU only) this runs on CPU over gloo as well,
    which is how the two-process test exercises it. Checkpoints are saved whole (one .ckpt,
    as with DDP), so resuming and `echovox lm export` work unchanged."""

    def __init__(self, process_group_backend: str | None = None) -> None:
        super().__init__(
            data_parallel_size="auto",
            tensor_parallel_size=1,
            save_distributed_checkpoint=False,
            process_group_backend=process_group_backend,
        )

    def setup_environment(self) -> None:
        # Lightning's "auto" data-parallel size is the node count (it shards within a node by
        # tensor parallelism); here every rank of every node is a data-parallel shard
        if self._data_parallel_size == "auto":
            self._data_parallel_size = self.num_nodes * self.num_processes
        super().setup_environment()
