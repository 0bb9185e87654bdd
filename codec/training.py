"""Lightning training for the frame-rate codec: data, the LightningModule and the run config.

The model (`FrameCodec`) knows nothing of Lightning; this module wraps it with the training
loop: reconstruction only (the spectral loss) for `train.warmup_steps`, then, if the weights
ask for it, alternating discriminator and generator steps, the losses mixed by fixed weights
or by the EnCodec loss balancer.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from echovox.audio import AudioError, load_audio

from .config import FrameCodecConfig
from .discriminators import CombinedDiscriminator
from .frame import FrameCodec
from .losses import (
    Balancer,
    SpectralLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
CODEC_PARTS = ("encoder", "quantizer", "decoder")  # the FrameCodec submodules train.freeze names
# The run's discriminators, written beside its latest export (out_dir/model) so that a GAN
# fine-tune with `init_from` that directory continues the adversary instead of facing a trained
# generator with an untrained one. Not written into the kept step exports: the default-width
# discriminators are 41M parameters (165 MB a copy), six times the codec.
DISCRIMINATOR_NAME = "discriminator.safetensors"


@dataclass
class TrainConfig:
    """Optimisation and loss settings (the model has its own `FrameCodecConfig`)."""

    # generator: AdamW, linear warm-up over lr_warmup_steps, then a cosine decay to
    # min_lr_ratio * lr at trainer.max_steps (Vocos's recipe, which a 2-core pilot followed)
    lr: float = 5e-4
    lr_warmup_steps: int = 200
    min_lr_ratio: float = 0.05
    betas: tuple[float, float] = (0.8, 0.99)
    weight_decay: float = 0.01
    grad_clip: float = 1.0  # max gradient norm of the generator; 0 disables clipping
    disc_lr: float = 2e-4
    # generator steps of reconstruction only before the discriminators start (if adv_weight
    # or fm_weight is set): a discriminator facing an untrained decoder learns nothing useful
    warmup_steps: int = 1000
    # batches after the warm-up that train the discriminators alone, the generator held fixed
    # (in eval mode, so no EMA codebook update): for a GAN fine-tune whose discriminators
    # start from scratch, so that the generator's first GAN steps do not follow an untrained
    # adversary
    disc_warmup_steps: int = 0
    adversarial_loss: str = "hinge"  # or "lsgan"
    # loss weights. spectral: losses.SpectralLoss (log-mel L1 + multi-resolution STFT). adv,
    # fm: the adversarial and feature-matching losses, 0 for a reconstruction-only run
    spectral_weight: float = 1.0
    adv_weight: float = 0.0
    fm_weight: float = 0.0
    commitment_weight: float = 1.0  # added directly: it does not touch the output
    # with the discriminators on, mix the losses by the EnCodec balancer (each weight sets
    # its loss's share of the gradient on the output, whatever the loss's scale) instead of
    # by fixed weights; reconstruction-only steps always use the plain weighted sum
    balancer: bool = True
    balancer_total_norm: float = 1.0
    balancer_ema_decay: float = 0.999
    spectral_n_ffts: tuple[int, ...] = (256, 512, 1024, 2048)
    spectral_n_mels: tuple[int, ...] = (20, 40, 80, 128)
    stft_disc_n_ffts: tuple[int, ...] = (1024, 2048, 512)
    stft_disc_channels: int = 32
    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    period_channels: int = 32
    period_max_channels: int = 1024
    log_utilisation_every: int = 50
    # parts of the codec held fixed. ["encoder", "quantizer"] fine-tunes the decoder alone:
    # every token stays bit-identical, so an AR/NAR trained on this codec's tokens stays valid
    # while the decoder improves. Frozen parts get no gradient and stay in eval mode (no EMA
    # codebook updates, no quantizer dropout).
    freeze: tuple[str, ...] = ()

    @property
    def adversarial_weights(self) -> bool:
        return self.adv_weight > 0 or self.fm_weight > 0

    def lr_at(self, step: int, max_steps: int) -> float:
        """The generator's learning rate at generator step `step` of `max_steps`."""
        if step < self.lr_warmup_steps:
            return self.lr * (step + 1) / self.lr_warmup_steps
        span = max(1, max_steps - self.lr_warmup_steps)
        progress = min(1.0, (step - self.lr_warmup_steps) / span)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * cosine)

    def __post_init__(self) -> None:
        unknown = set(self.freeze) - set(CODEC_PARTS)
        if unknown:
            raise ValueError(f"train.freeze: unknown parts {sorted(unknown)}; known: {CODEC_PARTS}")
        if set(self.freeze) == set(CODEC_PARTS):
            raise ValueError("train.freeze: freezing every part leaves nothing to train")


@dataclass
class DataConfig:
    train_dir: str = "data/codec/train"
    val_dir: str | None = None
    segment_seconds: float = 1.0
    batch_size: int = 8
    num_workers: int = 0
    items_per_epoch: int = 2000
    val_items: int = 16
    val_segment_seconds: float = 3.0
    # random level of each training crop, in dB (low, high): a codec must render quiet and loud
    # recordings alike, and one corpus rarely spans the levels users send
    gain_db: tuple[float, float] = (0.0, 0.0)


@dataclass
class TrainerConfig:
    max_steps: int = 10_000  # generator steps (see `lightning_max_steps`)
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: str = "auto"  # "ddp" for several GPUs
    precision: str = "32-true"  # "bf16-mixed" on a GPU
    log_every_n_steps: int = 50
    val_every_n_steps: int = 500
    ckpt_every_n_steps: int = 500
    torch_threads: int = 0  # 0: leave torch's default
    # wall-clock budget of this run, Lightning's "DD:HH:MM:SS" (e.g. "00:00:07:30"): training
    # stops cleanly at whichever of max_steps and max_time comes first, and the codec is
    # exported. A resumed run gets the whole budget again (see `RunBudget`)
    max_time: str | None = None
    # also keep every periodic export as OUT/exports/step-NNNNNN (for `echovox codec average`)
    keep_exports: bool = False


@dataclass
class RunConfig:
    model: FrameCodecConfig = field(default_factory=lambda: FrameCodecConfig.from_name("tiny"))
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    out_dir: str = "exp/codec"
    seed: int = 0
    # an exported codec directory whose weights start this run (a fine-tune: the optimizer and
    # step count start fresh; to resume an interrupted run use ckpt_path instead)
    init_from: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        d = dict(d or {})
        known = {"model", "train", "data", "trainer", "out_dir", "seed", "init_from"}
        if set(d) - known:
            raise ValueError(f"unknown top-level keys in run config: {sorted(set(d) - known)}")
        model = dict(d.get("model") or {})
        preset = model.pop("preset", "tiny")
        overrides = dict(model.pop("overrides", None) or {})
        overrides.update(model)
        try:
            mcfg = FrameCodecConfig.from_name(preset, **overrides)
        except TypeError as err:
            raise ValueError(f"model: {err}") from err
        return cls(
            model=mcfg,
            train=_build(TrainConfig, d.get("train"), "train"),
            data=_build(DataConfig, d.get("data"), "data"),
            trainer=_build(TrainerConfig, d.get("trainer"), "trainer"),
            out_dir=str(d.get("out_dir", "exp/codec")),
            seed=int(d.get("seed", 0)),
            init_from=str(d["init_from"]) if d.get("init_from") else None,
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> RunConfig:
        """A run config file; `base: OTHER.yaml` in it starts from that file
        (echovox.config_files)."""
        from echovox.config_files import load_yaml

        return cls.from_dict(load_yaml(path))


def _build(cls, d: dict | None, what: str):
    d = dict(d or {})
    names = {f.name for f in dataclasses.fields(cls)}
    if set(d) - names:
        raise ValueError(f"{what}: unknown keys {sorted(set(d) - names)}; known: {sorted(names)}")
    for f in dataclasses.fields(cls):
        if f.name in d and isinstance(d[f.name], list):
            d[f.name] = tuple(d[f.name])
    return cls(**d)


def lightning_max_steps(
    generator_steps: int, warmup_steps: int, disc_warmup_steps: int = 0, adversarial: bool = True
) -> int:
    """Lightning counts every optimizer step: 1 per batch during warm-up (generator only), 1
    per discriminator warm-up batch (discriminator only), 2 after them (discriminator +
    generator). This turns generator steps into Lightning's count."""
    if not adversarial or generator_steps <= warmup_steps:
        return generator_steps
    return 2 * generator_steps - warmup_steps + disc_warmup_steps


# data ----------------------------------------------------------------------------------------
def list_audio(root: str | Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"audio folder not found: {root}")
    # os.walk, not Path.rglob: a data folder is often assembled from links to other folders,
    # which rglob does not enter before Python 3.13
    files = sorted(
        Path(d) / name
        for d, _, names in os.walk(root, followlinks=True)
        for name in names
        if Path(name).suffix.lower() in AUDIO_SUFFIXES
    )
    if not files:
        raise AudioError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) under {root}")
    return files


class AudioSegments(Dataset):
    """Fixed-length segments [1, S] from a folder of audio files.

    Training (`random_crop=True`): each item is a random file (weighted by duration) at a
    random offset, so an epoch is `items` draws, each scaled by a random gain in `gain_db`
    (lowered where it would clip). Evaluation: the first segment of each file, as recorded.
    Files are read span by span, so corpus size is not bounded by memory."""

    def __init__(
        self,
        root: str | Path,
        sample_rate: int,
        segment_seconds: float,
        items: int | None = None,
        random_crop: bool = True,
        gain_db: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        import soundfile as sf

        self.files = list_audio(root)
        self.durations = np.array([sf.info(str(p)).duration for p in self.files])
        self.sample_rate = sample_rate
        self.segment = int(segment_seconds * sample_rate)
        self.random_crop = random_crop
        self.items = items if items is not None else len(self.files)
        self.weights = self.durations / self.durations.sum()
        self.gain_db = tuple(gain_db)

    def __len__(self) -> int:
        return self.items

    def __getitem__(self, i: int) -> Tensor:
        seg_s = self.segment / self.sample_rate
        if self.random_crop:
            # drawn from torch's generator, which DataLoader reseeds per worker and per epoch,
            # so crops differ between epochs and workers yet follow the run's seed
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()) + i)
            k = int(rng.choice(len(self.files), p=self.weights))
            start = float(rng.uniform(0, max(0.0, self.durations[k] - seg_s)))
            gain = 10 ** (rng.uniform(*self.gain_db) / 20)
        else:
            k, start, gain = i % len(self.files), 0.0, 1.0
        wav = load_audio(self.files[k], self.sample_rate, start=start, end=start + seg_s)
        wav = wav[: self.segment] * gain
        peak = float(np.abs(wav).max()) if wav.size else 0.0
        if peak > 0.99:
            wav = wav * (0.99 / peak)
        if wav.size < self.segment:
            wav = np.pad(wav, (0, self.segment - wav.size))
        return torch.from_numpy(np.ascontiguousarray(wav))[None]


class CodecDataModule(L.LightningDataModule):
    def __init__(self, cfg: DataConfig, model: FrameCodecConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.model = model
        self.sample_rate = model.sample_rate

    def train_dataloader(self) -> DataLoader:
        ds = AudioSegments(
            self.cfg.train_dir,
            self.sample_rate,
            self.cfg.segment_seconds,
            self.cfg.items_per_epoch,
            gain_db=self.cfg.gain_db,
        )
        return DataLoader(
            ds,
            batch_size=self.cfg.batch_size,
            shuffle=True,
            num_workers=self.cfg.num_workers,
            drop_last=True,
            persistent_workers=self.cfg.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader | list:
        if not self.cfg.val_dir:
            return []
        ds = AudioSegments(
            self.cfg.val_dir, self.sample_rate, self.cfg.val_segment_seconds, random_crop=False
        )
        ds.items = min(len(ds.files), self.cfg.val_items)
        return DataLoader(ds, batch_size=min(4, self.cfg.val_items), num_workers=0)


# module --------------------------------------------------------------------------------------
class CodecLightningModule(L.LightningModule):
    """Training of a `FrameCodec` with manual optimisation (generator and discriminators)."""

    def __init__(
        self, model_config: FrameCodecConfig, train_config: TrainConfig, max_steps: int = 10_000
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.model_config = model_config
        self.cfg = train_config
        self.max_steps = max_steps  # generator steps: the end of the learning-rate schedule
        self.model = FrameCodec(model_config)
        sr = model_config.sample_rate
        # none for a reconstruction-only run: nothing to train, store or load
        self.discriminator = (
            CombinedDiscriminator(
                stft_n_ffts=train_config.stft_disc_n_ffts,
                stft_channels=train_config.stft_disc_channels,
                periods=train_config.periods,
                period_channels=train_config.period_channels,
                period_max_channels=train_config.period_max_channels,
            )
            if train_config.adversarial_weights
            else None
        )
        self.spectral_loss = SpectralLoss(
            sr, train_config.spectral_n_ffts, train_config.spectral_n_mels
        )
        weights = {
            "spectral": train_config.spectral_weight,
            "adv": train_config.adv_weight,
            "fm": train_config.fm_weight,
        }
        self.balancer = Balancer(
            weights,
            total_norm=train_config.balancer_total_norm,
            ema_decay=train_config.balancer_ema_decay,
        )
        # generator steps taken; saved in checkpoints so warm-up survives a resume
        self.register_buffer("gen_steps", torch.zeros((), dtype=torch.long))
        # discriminator-only warm-up batches taken (train.disc_warmup_steps), likewise
        self.register_buffer("disc_warmup_done", torch.zeros((), dtype=torch.long))
        for name in train_config.freeze:
            getattr(self.model, name).requires_grad_(False)

    def train(self, mode: bool = True) -> CodecLightningModule:
        super().train(mode)
        self._hold_frozen_in_eval()
        return self

    def _hold_frozen_in_eval(self) -> None:
        for name in self.cfg.freeze:
            getattr(self.model, name).eval()

    def configure_optimizers(self):
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        opt_g = torch.optim.AdamW(
            trainable, lr=self.cfg.lr, betas=self.cfg.betas, weight_decay=self.cfg.weight_decay
        )
        if self.discriminator is None:
            return opt_g
        opt_d = torch.optim.AdamW(
            self.discriminator.parameters(), lr=self.cfg.disc_lr, betas=self.cfg.betas
        )
        return [opt_g, opt_d]

    @property
    def adversarial(self) -> bool:
        return self.cfg.adversarial_weights and int(self.gen_steps) >= self.cfg.warmup_steps

    def generator_losses(self, wav: Tensor, fake: Tensor, adversarial: bool) -> dict[str, Tensor]:
        losses = {"spectral": self.spectral_loss(fake, wav)}
        if adversarial:
            with torch.no_grad():
                real = self.discriminator(wav)
            out = self.discriminator(fake)
            losses["adv"] = generator_adversarial_loss(out.logits, self.cfg.adversarial_loss)
            losses["fm"] = feature_matching_loss(real.features, out.features)
        return losses

    def training_step(self, batch: Tensor, batch_idx: int) -> None:
        opts = self.optimizers()
        opt_g, opt_d = opts if isinstance(opts, list) else (opts, None)
        self._hold_frozen_in_eval()  # Lightning may have restored train mode after validation
        wav = batch
        if self.adversarial and int(self.disc_warmup_done) < self.cfg.disc_warmup_steps:
            self._discriminator_warmup_step(wav, opt_d)
            return
        out = self.model(wav)
        fake = out.audio
        adversarial = self.adversarial
        logs: dict[str, Any] = {}

        if adversarial:
            logs["train/d_loss"] = self._discriminator_step(wav, fake.detach(), opt_d)

        losses = self.generator_losses(wav, fake, adversarial)
        if adversarial and self.cfg.balancer:
            grad = self.balancer(losses, fake)
            surrogate = (fake * grad.detach()).sum()  # d(surrogate)/d(fake) = balanced gradient
        else:
            w = self.balancer.weights
            surrogate = sum(w[k] * v for k, v in losses.items())
        total = surrogate + self.cfg.commitment_weight * out.commitment_loss
        lr = self.cfg.lr_at(int(self.gen_steps), self.max_steps)
        for group in opt_g.param_groups:
            group["lr"] = lr
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(total)
        if self.cfg.grad_clip > 0:
            self.clip_gradients(opt_g, self.cfg.grad_clip, gradient_clip_algorithm="norm")
        opt_g.step()
        self.gen_steps += 1

        for k, v in losses.items():
            logs[f"train/{k}"] = v.detach()
        logs["train/commitment"] = out.commitment_loss.detach()
        logs["train/lr"] = lr
        self.log_dict(logs, prog_bar=False, on_step=True, batch_size=wav.shape[0])
        self.log("spec", losses["spectral"].detach(), prog_bar=True, on_step=True, logger=False)
        if int(self.gen_steps) % self.cfg.log_utilisation_every == 0:
            self.log_dict(self.utilisation_logs(), on_step=True, batch_size=wav.shape[0])

    def _discriminator_warmup_step(self, wav: Tensor, opt_d) -> None:
        """One discriminator step against the generator held fixed (train.disc_warmup_steps)."""
        was_training = self.model.training
        self.model.eval()  # no EMA codebook update, no quantizer dropout
        with torch.no_grad():
            fake = self.model(wav).audio
        self.model.train(was_training)
        self._hold_frozen_in_eval()
        loss_d = self._discriminator_step(wav, fake, opt_d)
        self.disc_warmup_done += 1
        self.log("train/d_loss", loss_d, on_step=True, batch_size=wav.shape[0])

    def _discriminator_step(self, wav: Tensor, fake: Tensor, opt_d) -> Tensor:
        """One optimizer step of the discriminators on real `wav` and a detached `fake`;
        returns the detached loss."""
        d_real = self.discriminator(wav)
        d_fake = self.discriminator(fake)
        loss_d = discriminator_loss(d_real.logits, d_fake.logits, self.cfg.adversarial_loss)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(loss_d)
        opt_d.step()
        return loss_d.detach()

    def utilisation_logs(self) -> dict[str, float]:
        """Per-codebook perplexity and dead fraction from the EMA usage statistics."""
        logs = {}
        for i, u in enumerate(self.model.quantizer.utilisation()):
            logs[f"codebook/{i}/perplexity"] = u["perplexity"]
            logs[f"codebook/{i}/dead_fraction"] = u["dead_fraction"]
        return logs

    def validation_step(self, batch: Tensor, batch_idx: int) -> None:
        out = self.model(batch)
        one = self.model(batch, n_q=1)
        self.log_dict(
            {
                "val/spectral": self.spectral_loss(out.audio, batch),
                "val/spectral_1q": self.spectral_loss(one.audio, batch),
            },
            batch_size=batch.shape[0],
            prog_bar=True,
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["balancer"] = self.balancer.state_dict()
        checkpoint["model_config"] = self.model_config.to_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.balancer.load_state_dict(checkpoint.get("balancer", {}))
        # checkpoints from before train.disc_warmup_steps existed lack its counter
        checkpoint.get("state_dict", {}).setdefault(
            "disc_warmup_done", torch.zeros((), dtype=torch.long)
        )


class ExportCallback(L.Callback):
    """Writes the bare codec (safetensors + config.json) next to Lightning's checkpoints;
    with `keep_to`, each periodic export is also kept as keep_to/step-NNNNNN."""

    def __init__(self, directory: Path, every_n_steps: int, keep_to: Path | None = None) -> None:
        self.directory = Path(directory)
        self.every = max(1, every_n_steps)
        self.keep_to = Path(keep_to) if keep_to else None
        self._last_step: int | None = None

    def _export(
        self, pl_module: CodecLightningModule, trainer: L.Trainer, directory: Path | None = None
    ) -> None:
        if trainer.is_global_zero:
            pl_module.model.save_pretrained(directory or self.directory)
            if directory is None and pl_module.discriminator is not None:
                from echovox.checkpoint import save_weights

                save_weights(pl_module.discriminator, self.directory / DISCRIMINATOR_NAME)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = int(pl_module.gen_steps)
        # discriminator warm-up batches leave the generator step where it was: export once
        if step > 0 and step % self.every == 0 and step != self._last_step:
            self._last_step = step
            self._export(pl_module, trainer)
            if self.keep_to:
                self._export(pl_module, trainer, self.keep_to / f"step-{step:06d}")

    def on_train_end(self, trainer, pl_module) -> None:
        self._export(pl_module, trainer)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        # Ctrl-C or a crash late in a long CPU run should still leave a usable codec
        self._export(pl_module, trainer)


def _run_budget(duration: str) -> L.Callback:
    from lightning.pytorch.callbacks import Timer

    class RunBudget(Timer):
        """Lightning's Timer with a budget per run instead of per training.

        Lightning restores the elapsed time from the checkpoint, so `--max_time 00:01:00:00` on
        a resume from a run that already trained an hour stops at once. A budget is the time a
        lease or job has left (a GPU session, a Slurm limit), so each run counts from zero.
        """

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            pass  # keep the zero offset Timer starts with

    return RunBudget(duration=duration, interval="step")


def train(run: RunConfig, ckpt_path: str | None = None) -> Path:
    """Fit a codec; returns the directory of the exported model (out_dir/model)."""
    from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger

    if run.trainer.torch_threads:
        torch.set_num_threads(run.trainer.torch_threads)
    L.seed_everything(run.seed, workers=True)
    random.seed(run.seed)
    out = Path(run.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from echovox.checkpoint import write_json

    write_json(
        out / "run_config.json",
        {
            "model": run.model.to_dict(),
            "train": dataclasses.asdict(run.train),
            "data": dataclasses.asdict(run.data),
            "trainer": dataclasses.asdict(run.trainer),
            "seed": run.seed,
        },
    )
    module = CodecLightningModule(run.model, run.train, run.trainer.max_steps)
    if run.init_from:
        init_weights(module.model, run.init_from)
        if module.discriminator is not None:
            print(init_discriminator(module.discriminator, run.init_from))
    data = CodecDataModule(run.data, run.model)
    lsteps = lightning_max_steps(
        run.trainer.max_steps,
        run.train.warmup_steps,
        run.train.disc_warmup_steps,
        run.train.adversarial_weights,
    )
    has_val = bool(run.data.val_dir)
    trainer = L.Trainer(
        default_root_dir=str(out),
        max_steps=lsteps,
        max_epochs=-1,
        accelerator=run.trainer.accelerator,
        devices=run.trainer.devices,
        strategy=run.trainer.strategy,
        precision=run.trainer.precision,
        log_every_n_steps=run.trainer.log_every_n_steps,
        val_check_interval=run.trainer.val_every_n_steps if has_val else None,
        check_val_every_n_epoch=None,
        limit_val_batches=1.0 if has_val else 0,
        num_sanity_val_steps=0,
        logger=CSVLogger(str(out), name="logs"),
        callbacks=[
            ModelCheckpoint(
                dirpath=str(out / "checkpoints"),
                every_n_train_steps=max(1, run.trainer.ckpt_every_n_steps),
                save_last=True,
                save_top_k=1,
            ),
            ExportCallback(
                out / "model",
                run.trainer.ckpt_every_n_steps,
                keep_to=out / "exports" if run.trainer.keep_exports else None,
            ),
            TQDMProgressBar(refresh_rate=10),
            *([_run_budget(run.trainer.max_time)] if run.trainer.max_time else []),
        ],
        enable_model_summary=False,
    )
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    return out / "model"


def init_weights(model: FrameCodec, directory: str | Path) -> None:
    """Copy an exported codec's weights into `model`; the architectures must agree."""
    source = FrameCodec.load_directory(directory)
    diff = model.config.differences(source.config)
    if diff:
        detail = ", ".join(f"{k}: run {a!r} vs {b!r}" for k, (a, b) in diff.items())
        raise ValueError(f"init_from {directory} has a different codec architecture ({detail})")
    model.load_state_dict(source.state_dict())


def init_discriminator(discriminator: torch.nn.Module, directory: str | Path) -> str:
    """Load the discriminators a run exported beside its codec (`DISCRIMINATOR_NAME`) when
    their layout matches this run's; otherwise they start from scratch. Returns what it did."""
    from safetensors.torch import load_file

    path = Path(directory) / DISCRIMINATOR_NAME
    if not path.is_file():
        return f"discriminators: from scratch ({path} does not exist)"
    state = load_file(str(path))
    own = discriminator.state_dict()
    if state.keys() != own.keys() or any(state[k].shape != v.shape for k, v in own.items()):
        return (
            f"discriminators: from scratch ({path} has another layout: train.stft_disc_* "
            "and train.period* differ from the run that wrote it)"
        )
    discriminator.load_state_dict(state)
    return f"discriminators: continued from {path}"


__all__ = [
    "AudioSegments",
    "CodecDataModule",
    "CodecLightningModule",
    "DataConfig",
    "RunConfig",
    "TrainConfig",
    "TrainerConfig",
    "init_discriminator",
    "lightning_max_steps",
    "train",
]
