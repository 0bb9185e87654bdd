from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from echovox.codec import Codec, FrameCodecConfig
from echovox.codec.losses import SpectralLoss
from echovox.codec.training import (
    DISCRIMINATOR_NAME,
    CodecLightningModule,
    RunConfig,
    TrainConfig,
    init_discriminator,
    lightning_max_steps,
    train,
)

CODEC_DIR = Path(__file__).resolve().parents[2] / "codec"

TINY_TRAIN = {
    "spectral_n_ffts": (128, 256, 512),
    "spectral_n_mels": (16, 32, 40),
    "adv_weight": 1.0,
    "fm_weight": 1.0,
    "stft_disc_n_ffts": (64, 128),
    "stft_disc_channels": 4,
    "periods": (2, 3),
    "period_channels": 4,
    "period_max_channels": 16,
}


@pytest.mark.slow
def test_overfit_one_clip(make_speech):
    """The tiny codec learns a 1 s clip: 200 CPU steps of the spectral loss take its
    resynthesis' log-mel distance to a fraction of where it started."""
    torch.manual_seed(0)
    cfg = FrameCodecConfig.from_name("tiny", quantizer_dropout=0.0)
    module = CodecLightningModule(cfg, TrainConfig(lr=3e-3, lr_warmup_steps=1, **TINY_TRAIN))
    model = module.model
    wav = torch.from_numpy(make_speech(1.0, 16000))[None, None]
    judge = SpectralLoss(16000, (512,), (40,))

    def score() -> float:
        model.eval()
        out = model.decode(model.encode(wav))[..., : wav.shape[-1]]
        model.train()
        return float(judge(out, wav))

    model.train()
    model(wav)  # k-means initialisation
    before = score()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.8, 0.99))
    for _ in range(200):
        out = model(wav)
        loss = module.generator_losses(wav, out.audio, adversarial=False)["spectral"]
        opt.zero_grad()
        (loss + out.commitment_loss).backward()
        opt.step()
    after = score()
    assert after < 0.4 * before, (before, after)


def _tiny_run(tmp_path, audio_dir, **trainer) -> RunConfig:
    run = RunConfig.from_dict(
        {
            "model": {"preset": "tiny", "kmeans_iters": 1},
            "train": {"warmup_steps": 1, "log_utilisation_every": 1, **TINY_TRAIN},
            "data": {
                "train_dir": str(audio_dir),
                "val_dir": str(audio_dir),
                "segment_seconds": 0.25,
                "batch_size": 2,
                "items_per_epoch": 6,
                "val_items": 2,
                "val_segment_seconds": 0.5,
            },
            "trainer": {
                "max_steps": 3,
                "accelerator": "cpu",
                "devices": 1,
                "log_every_n_steps": 1,
                "val_every_n_steps": 2,
                "ckpt_every_n_steps": 1,
                **trainer,
            },
            "out_dir": str(tmp_path / "run"),
        }
    )
    return run


def _metrics(out: Path) -> list[dict[str, str]]:
    files = sorted(out.glob("logs/version_*/metrics.csv"))
    with open(files[-1]) as f:
        return list(csv.DictReader(f))


def test_gan_training_steps_export_and_resume(tmp_path, audio_dir):
    run = _tiny_run(tmp_path, audio_dir)
    exported = train(run)
    rows = _metrics(Path(run.out_dir))
    d_losses = [r["train/d_loss"] for r in rows if r.get("train/d_loss")]
    fm = [r["train/fm"] for r in rows if r.get("train/fm")]
    assert len(d_losses) == 2 and len(fm) == 2  # step 1 is warm-up, steps 2-3 are GAN steps
    assert any(r.get("codebook/0/perplexity") for r in rows)
    assert any(r.get("codebook/3/dead_fraction") for r in rows)
    assert any(r.get("val/spectral") for r in rows)
    codec = Codec.from_pretrained(exported, device="cpu")
    assert codec.encode(torch.randn(1, 1, 800) * 0.1).shape == (1, 4, 5)

    # resume: Lightning's checkpoint restores the generator step count and the balancer
    ckpt = Path(run.out_dir) / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True, map_location="cpu")
    assert int(state["state_dict"]["gen_steps"]) == 3
    assert set(state["balancer"]["sum"]) == {"spectral", "adv", "fm"}
    run.trainer.max_steps = 4
    train(run, ckpt_path=str(ckpt))
    state = torch.load(ckpt, weights_only=True, map_location="cpu")
    assert int(state["state_dict"]["gen_steps"]) == 4


def test_max_time_stops_training_and_exports(tmp_path, audio_dir):
    """trainer.max_time: a wall-clock budget ends the run cleanly, well before max_steps, and
    the codec is still exported (how a fixed GPU lease is spent)."""
    run = _tiny_run(tmp_path, audio_dir, max_steps=100_000, max_time="00:00:00:02")
    exported = train(run)
    steps = int(
        torch.load(Path(run.out_dir) / "checkpoints" / "last.ckpt", weights_only=True)[
            "state_dict"
        ]["gen_steps"]
    )
    assert 0 < steps < 100_000
    assert (
        Codec.from_pretrained(exported, device="cpu").encode(torch.zeros(1, 1, 800)).shape[1] == 4
    )
    # a resumed run gets its own budget: Lightning's Timer would restore the 2 s already spent
    # and stop before the first step
    train(run, ckpt_path=str(Path(run.out_dir) / "checkpoints" / "last.ckpt"))
    resumed = torch.load(Path(run.out_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert int(resumed["state_dict"]["gen_steps"]) > steps


def test_lightning_step_count():
    assert lightning_max_steps(10, 20) == 10
    assert lightning_max_steps(30, 20, adversarial=False) == 30  # one optimizer throughout
    assert lightning_max_steps(30, 20) == 40  # 20 warm-up steps + 10 steps of two optimizers
    assert lightning_max_steps(30, 20, 5) == 45  # and 5 discriminator-only batches between


def test_discriminator_warmup_holds_the_generator(tmp_path, audio_dir, monkeypatch):
    """train.disc_warmup_steps: a fine-tune whose discriminators start from scratch first trains
    them alone; the generator (weights and EMA codebooks) stays put through those batches, then
    the GAN steps follow, and the counter survives a resume."""
    first = _tiny_run(tmp_path / "a", audio_dir, max_steps=2)
    exported = train(first)
    (exported / DISCRIMINATOR_NAME).unlink()  # as in an export shipped without them
    ft = _tiny_run(tmp_path / "b", audio_dir, max_steps=2, keep_exports=True)
    ft.init_from = str(exported)
    ft.train = TrainConfig(**{**vars(ft.train), "warmup_steps": 0, "disc_warmup_steps": 3})

    seen = []
    original = CodecLightningModule._discriminator_warmup_step

    def spy(self, wav, opt_d):
        gen = {k: v.clone() for k, v in self.model.state_dict().items()}
        disc = {k: v.clone() for k, v in self.discriminator.state_dict().items()}
        original(self, wav, opt_d)
        gen_same = all(torch.equal(v, gen[k]) for k, v in self.model.state_dict().items())
        disc_moved = any(
            not torch.equal(v, disc[k]) for k, v in self.discriminator.state_dict().items()
        )
        seen.append((int(self.gen_steps), gen_same, disc_moved, self.model.training))

    monkeypatch.setattr(CodecLightningModule, "_discriminator_warmup_step", spy)
    train(ft)
    assert seen == [(0, True, True, True)] * 3  # train mode is restored after each
    rows = _metrics(Path(ft.out_dir))
    assert len([r for r in rows if r.get("train/d_loss")]) == 5  # 3 alone + 2 GAN steps
    assert len([r for r in rows if r.get("train/fm")]) == 2
    # one export per generator step, none for the warm-up batches
    assert sorted(d.name for d in (Path(ft.out_dir) / "exports").iterdir()) == [
        "step-000001",
        "step-000002",
    ]
    ckpt = Path(ft.out_dir) / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True, map_location="cpu")["state_dict"]
    assert (int(state["gen_steps"]), int(state["disc_warmup_done"])) == (2, 3)
    ft.trainer.max_steps = 3
    train(ft, ckpt_path=str(ckpt))
    assert len(seen) == 3  # the resumed run does not warm up again
    state = torch.load(ckpt, weights_only=True, map_location="cpu")["state_dict"]
    assert int(state["gen_steps"]) == 3


def test_decoder_fine_tune_keeps_every_token(tmp_path, audio_dir):
    """freeze [encoder, quantizer] + init_from: the decoder changes (GAN steps included), the
    encoder, codebooks and EMA statistics stay bit-identical, so the tokens do too."""
    first = _tiny_run(tmp_path / "a", audio_dir, max_steps=2)
    base = Codec.from_pretrained(train(first), device="cpu")
    ft = _tiny_run(tmp_path / "b", audio_dir, max_steps=3, keep_exports=True)
    ft.init_from = str(Path(first.out_dir) / "model")
    ft.train = TrainConfig(**{**vars(ft.train), "freeze": ("encoder", "quantizer")})
    tuned = Codec.from_pretrained(train(ft), device="cpu")
    before, after = base.state_dict(), tuned.state_dict()
    for name, value in before.items():
        same = torch.equal(value, after[name])
        assert same == (not name.startswith("decoder")), name
    wav = torch.randn(1, 1, 4000) * 0.1
    assert torch.equal(base.encode(wav), tuned.encode(wav))
    rows = _metrics(Path(ft.out_dir))
    assert [r for r in rows if r.get("train/fm")]  # the adversarial steps ran too

    # trainer.keep_exports: every periodic export stays, and their average keeps the tokens
    from echovox.codec.cli import COMMANDS

    kept = sorted(str(d) for d in (Path(ft.out_dir) / "exports").iterdir())
    assert [Path(d).name for d in kept] == ["step-000001", "step-000002", "step-000003"]
    averaged = Codec.from_pretrained(COMMANDS["average"](kept, str(tmp_path / "avg")), device="cpu")
    assert torch.equal(base.encode(wav), averaged.encode(wav))


def test_fine_tune_continues_the_discriminators(tmp_path, audio_dir):
    """A run exports its discriminators beside its codec (not into the kept step exports), and a
    fine-tune from that directory starts from them when their layout matches its own."""
    first = _tiny_run(tmp_path / "a", audio_dir, max_steps=2, keep_exports=True)
    exported = train(first)
    assert (exported / DISCRIMINATOR_NAME).is_file()
    assert not list((Path(first.out_dir) / "exports").glob(f"*/{DISCRIMINATOR_NAME}"))

    same = CodecLightningModule(first.model, first.train).discriminator
    assert init_discriminator(same, exported).startswith("discriminators: continued")
    from safetensors.torch import load_file

    saved = load_file(str(exported / DISCRIMINATOR_NAME))
    assert all(torch.equal(v, saved[k]) for k, v in same.state_dict().items())

    wider = TrainConfig(**{**vars(first.train), "stft_disc_channels": 8})
    other = CodecLightningModule(first.model, wider).discriminator
    before = {k: v.clone() for k, v in other.state_dict().items()}
    assert "another layout" in init_discriminator(other, exported)
    assert all(torch.equal(v, before[k]) for k, v in other.state_dict().items())
    assert "from scratch" in init_discriminator(other, tmp_path)  # no file there


def test_fine_tune_config_errors(tmp_path, audio_dir):
    with pytest.raises(ValueError, match="unknown parts"):
        TrainConfig(freeze=("encoder", "vocoder"))
    with pytest.raises(ValueError, match="nothing to train"):
        TrainConfig(freeze=("encoder", "quantizer", "decoder"))
    first = _tiny_run(tmp_path / "a", audio_dir, max_steps=1)
    train(first)
    other = RunConfig.from_dict({"model": {"preset": "tiny", "decoder_dim": 32}})
    other.init_from = str(Path(first.out_dir) / "model")
    other.out_dir = str(tmp_path / "c")
    with pytest.raises(ValueError, match="different codec architecture.*decoder_dim"):
        train(other)


@pytest.mark.parametrize("name", ["tiny.yaml", "speech_16k.yaml"])
def test_shipped_configs_parse(name):
    run = RunConfig.from_yaml(CODEC_DIR / "configs" / name)
    assert run.model.sample_rate == 16000
    CodecLightningModule(run.model, run.train)  # the config builds a module


def test_reconstruction_only_run_has_no_discriminators(tmp_path, audio_dir):
    """adv_weight = fm_weight = 0 (the speech_16k base): no discriminators are built, trained
    or written, and the learning rate follows its warm-up and cosine decay."""
    run = _tiny_run(tmp_path, audio_dir, max_steps=4)
    run.train = TrainConfig(
        **{**vars(run.train), "adv_weight": 0.0, "fm_weight": 0.0, "lr_warmup_steps": 2}
    )
    exported = train(run)
    assert not (exported / DISCRIMINATOR_NAME).exists()
    rows = _metrics(Path(run.out_dir))
    assert not [r for r in rows if r.get("train/d_loss")]
    lrs = [float(r["train/lr"]) for r in rows if r.get("train/lr")]
    lr = run.train.lr
    assert lrs[:2] == pytest.approx([lr / 2, lr]) and lrs[-1] < lrs[1]
    end = run.train.lr_at(4, 4)
    assert end == pytest.approx(lr * run.train.min_lr_ratio)


def test_bad_run_config_is_explained(tmp_path):
    with pytest.raises(ValueError, match="unknown keys"):
        RunConfig.from_dict({"train": {"lr_typo": 1}})
    with pytest.raises(ValueError, match="unknown top-level"):
        RunConfig.from_dict({"modle": {}})
    with pytest.raises(ValueError, match="unknown frame codec preset"):
        RunConfig.from_dict({"model": {"preset": "nope"}})
    with pytest.raises(FileNotFoundError):
        RunConfig.from_yaml(tmp_path / "missing.yaml")


def test_run_config_starts_from_its_base(tmp_path):
    (tmp_path / "a.yaml").write_text(
        "model: {preset: tiny, decoder_dim: 32}\n"
        "train: {lr: 0.001, spectral_weight: 2.0, spectral_n_ffts: [64, 128]}\n"
        "trainer: {max_steps: 10}\nout_dir: exp/a\nseed: 3\n"
    )
    (tmp_path / "b.yaml").write_text("base: a.yaml\ntrain: {lr: 0.0005}\nout_dir: exp/b\n")
    run = RunConfig.from_yaml(tmp_path / "b.yaml")
    assert run.model.decoder_dim == 32 and run.trainer.max_steps == 10  # untouched sections
    assert run.train.lr == 0.0005 and run.train.spectral_weight == 2.0  # merged key by key
    assert (run.seed, run.out_dir) == (3, "exp/b")


def test_audio_segments_crop_randomly_and_pad(audio_dir):
    from echovox.codec.training import AudioSegments

    ds = AudioSegments(audio_dir, 8000, 0.25, items=4)
    a, b = ds[0], ds[0]
    assert a.shape == b.shape == (1, 2000)
    assert not torch.equal(a, b)  # a new random crop on every draw
    long = AudioSegments(audio_dir, 8000, 5.0, random_crop=False)
    assert len(long) == 3 and long[0].shape == (1, 40000)  # 1.2 s files zero-padded
    assert float(long[0][0, 20000:].abs().max()) == 0.0


def test_audio_segments_vary_the_level_without_clipping(audio_dir, tmp_path):
    from echovox.codec.training import AudioSegments, list_audio

    whole = AudioSegments(audio_dir, 16000, 1.2, random_crop=False)[0]
    loud = AudioSegments(audio_dir, 16000, 1.2, items=40, gain_db=(20.0, 30.0))
    peaks = [float(loud[i].abs().max()) for i in range(10)]
    assert max(peaks) <= 0.99 + 1e-6 and min(peaks) > float(whole.abs().max())
    # folders linked into the data folder are searched too
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "linked").symlink_to(audio_dir)
    assert len(list_audio(tmp_path / "data")) == 3
