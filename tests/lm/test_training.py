import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from echovox.config_files import load_yaml
from echovox.lm.checkpoint import load_pretrained, load_symbols, save_pretrained
from echovox.lm.data import (
    Collator,
    DurationBucketSampler,
    Sharding,
    TokenItem,
    toy_rows,
    write_token_dataset,
)
from echovox.lm.generate import SamplingSettings, generate_ar, generate_nar
from echovox.lm.lightning import (
    BatchSettings,
    LMTask,
    OptimSettings,
    lr_factor,
    topk_accuracy,
)

REPO = Path(__file__).resolve().parents[2]
TOY = dict(n_phonemes=40, codebook_size=32, n_codebooks=4)


def test_lr_schedule_warms_up_then_decays():
    s = OptimSettings(warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, s, 100) == pytest.approx(0.1)
    assert lr_factor(9, s, 100) == pytest.approx(1.0)
    assert lr_factor(10, s, 100) == pytest.approx(1.0)
    assert lr_factor(55, s, 100) == pytest.approx(0.55)
    assert lr_factor(100, s, 100) == pytest.approx(0.1)
    assert lr_factor(500, s, 100) == pytest.approx(0.1)
    noam = OptimSettings(warmup_steps=10, schedule="noam")
    assert lr_factor(39, noam, 0) == pytest.approx(math.sqrt(10 / 40))


def test_topk_accuracy_on_hand_made_logits():
    logits = torch.tensor([[[3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [0.0, 5.0, 1.0]]])
    targets = torch.tensor([[0, 0, 2]])
    mask = torch.tensor([[True, True, False]])
    assert topk_accuracy(logits, targets, mask, 1) == pytest.approx(0.5)
    assert topk_accuracy(logits, targets, mask, 2) == pytest.approx(0.5)
    assert topk_accuracy(logits, targets, mask, 3) == pytest.approx(1.0)


def test_nar_stage_weights_set_how_often_each_stage_trains():
    def drawn(task, steps=700):
        counts = [0] * TOY["n_codebooks"]
        for step in range(steps):
            task.global_step_override = step
            counts[task._nar_stage("train", 0)] += 1
        return counts

    class Task(LMTask):  # global_step is read-only outside a Trainer
        global_step_override = 0

        @property
        def global_step(self):
            return self.global_step_override

    kw = dict(kind="nar", preset="tiny", model_overrides=TOY)
    weighted = drawn(Task(**kw, stages={"weights": [4, 1, 0]}))
    assert weighted[0] == weighted[3] == 0  # codebook 1 is the AR's; weight 0 never trains
    assert 500 < weighted[1] < 620 and 80 < weighted[2] < 200  # 4 : 1
    uniform = drawn(Task(**kw))
    assert uniform[0] == 0 and min(uniform[1:]) > 180
    # the same step draws the same stage: a resumed run trains what the killed one would have
    assert drawn(Task(**kw, stages={"weights": [4, 1, 0]})) == weighted
    assert Task(**kw, stages={"weights": [4, 1, 0]})._nar_stage("val", 5) == 3  # validation cycles
    for bad in ([1, 1], [1, -1, 1], [0, 0, 0], [1, float("nan"), 1]):
        with pytest.raises(ValueError, match="stages.weights"):
            LMTask(**kw, stages={"weights": bad})
    with pytest.raises(ValueError, match="NAR setting"):
        LMTask(kind="ar", preset="tiny", model_overrides=TOY, stages={"weights": [1, 1, 1]})


def _items(rows):
    return [
        TokenItem(r["id"], r["speaker"], torch.tensor(r["phonemes"]), torch.tensor(r["codes"]))
        for r in rows
    ]


def _fit(task: LMTask, items, steps: int, lr: float = 3e-3, prompt_mode: str = "span") -> float:
    """Plain loop over the LightningModule's own loss, without a Trainer (fast)."""
    task.log = task.log_dict = lambda *a, **k: None
    opt = torch.optim.AdamW(task.parameters(), lr=lr)
    collate = Collator(0, prompt_frames=4, prompt_mode=prompt_mode)
    g = torch.Generator().manual_seed(0)
    losses = []
    for step in range(steps):
        batch = collate([items[j] for j in torch.randint(0, len(items), (32,), generator=g)])
        task._nar_stage = lambda name, i, s=step: 1 + s % (TOY["n_codebooks"] - 1)
        loss = task._step(batch, "train", step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return sum(losses[-10:]) / 10


@pytest.mark.slow
def test_tiny_models_learn_the_toy_task_and_generate_it_back():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    items = _items(toy_rows(1000, seed=0, **TOY))
    ar = LMTask("ar", "tiny", TOY)
    nar = LMTask("nar", "tiny", TOY)
    assert _fit(ar, items, 250) < 0.1
    assert _fit(nar, items, 60) < 0.05
    # unseen utterances: the prompt is the first 2 phonemes' frames; the models must write the
    # rest, stop by EOS at the right length, and fill all codebooks
    test = _items(toy_rows(6, seed=99, **TOY))
    phonemes = [it.phonemes for it in test]
    prompts = [it.codes[:, :4] for it in test]
    out = generate_ar(ar.model, phonemes, prompts, SamplingSettings(temperature=0))
    assert out.stop_reasons == ["eos"] * 6
    full = generate_nar(nar.model, phonemes, prompts, out.codes)
    right = sum(torch.equal(f, it.codes[:, 4:]) for f, it in zip(full, test))
    assert right >= 5, f"only {right}/6 utterances reproduced"


def test_export_round_trip_with_symbols_and_codec_check(tmp_path):
    from echovox.checkpoint import CheckpointError
    from echovox.text import SymbolTable

    table = SymbolTable.default()
    task = LMTask("nar", "tiny", {"n_codebooks": 4, "codebook_size": 32}, symbol_table="default")
    assert task.model.config.n_phonemes == len(table)
    out = task.export(tmp_path / "nar")
    model = load_pretrained(out, expect_codec=(4, 32))
    assert not model.training
    for k, v in task.model.state_dict().items():
        assert torch.equal(v, model.state_dict()[k])
    assert load_symbols(out) == table
    assert "NAR" in (out / "README.md").read_text()
    with pytest.raises(CheckpointError, match="codec"):
        load_pretrained(out, expect_codec=(8, 32))
    with pytest.raises(CheckpointError, match="symbol table"):
        save_pretrained(task.model, tmp_path / "x", symbols=table.extended(["zz"]))
    (out / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="JSON"):
        load_pretrained(out)


def test_init_from_starts_training_from_an_export_and_checks_it(tmp_path):
    from echovox.checkpoint import CheckpointError

    source = LMTask("nar", "tiny", TOY)
    source.export(tmp_path / "nar")
    task = LMTask("nar", "tiny", TOY, init_from=str(tmp_path / "nar"))
    fresh = LMTask("nar", "tiny", TOY)
    for k, v in source.model.state_dict().items():
        assert torch.equal(task.model.state_dict()[k], v), k
    assert not torch.equal(fresh.model.heads, source.model.heads)  # not the default init
    with pytest.raises(CheckpointError, match="holds a nar model"):
        LMTask("ar", "tiny", TOY, init_from=str(tmp_path / "nar"))
    with pytest.raises(CheckpointError, match="holds a nar model"):
        LMTask("nar", "tiny", {**TOY, "codebook_size": 64}, init_from=str(tmp_path / "nar"))
    with pytest.raises(CheckpointError):
        LMTask("nar", "tiny", TOY, init_from=str(tmp_path / "missing"))
    # dropout is a training setting: a fine-tune may switch it on over the same weights
    tuned = LMTask("nar", "tiny", {**TOY, "dropout": 0.1}, init_from=str(tmp_path / "nar"))
    assert tuned.model.config.dropout == 0.1
    assert torch.equal(tuned.model.heads, source.model.heads)


def test_nar_prefix_mode_trains_on_the_frames_after_the_prompt():
    """In prefix mode the loss covers only the target frames: a NAR given the toy corpus
    learns it as well as in span mode, and a batch of 2-frame or 1-frame utterances is still
    scored on one frame each (a 1-frame one goes without a prompt)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    items = _items(toy_rows(200, seed=0, **TOY))
    task = LMTask("nar", "tiny", TOY)
    assert _fit(task, items, 40, prompt_mode="prefix") < 0.1
    task.log = task.log_dict = lambda *a, **k: None
    task._nar_stage = lambda name, i: 1
    short = [TokenItem("a", "s", torch.tensor([5, 6]), items[0].codes[:, :2].clone())]
    batch = Collator(0, prompt_frames=4, prompt_mode="prefix")(short)
    assert batch.nar_target()[1].tolist() == [1]
    assert math.isfinite(task._step(batch, "train", 0).item())
    one = [TokenItem("b", "s", torch.tensor([5]), items[0].codes[:, :1].clone())]
    batch = Collator(0, prompt_frames=4, prompt_mode="prefix")(one)
    assert batch.prompt_lens.tolist() == [0] and batch.nar_target()[1].tolist() == [1]
    assert math.isfinite(task._step(batch, "train", 0).item())


def test_ar_scores_only_the_utterance_after_a_prompt_utterance(tmp_path):
    from echovox.lm.data import SpeakerPrompts, TokenDataset

    rows = toy_rows(12, seed=0, **TOY)
    ds = TokenDataset(write_token_dataset(tmp_path / "tok", rows))
    items = [ds[i] for i in range(12)]
    batch = Collator(0, 4, ar_prompts=SpeakerPrompts(ds, 100), separator_id=3)(items)
    task = LMTask("ar", "tiny", TOY)
    inputs, targets = task._ar_sequences(batch)
    eos = task.model.config.eos_id
    for i, it in enumerate(items):
        start, n = int(batch.loss_starts[i]), int(batch.code_lens[i])
        assert start > 0  # 4 speakers of 3 short utterances: every one has a prompt
        assert bool((targets[i, :start] == -100).all())
        assert torch.equal(targets[i, start:n], it.codes[0]) and targets[i, n] == eos
        assert torch.equal(inputs[i, 1 : n + 1], batch.codes[i, 0, :n])  # the prompt is input
    plain = Collator(0, 4)(items)
    _, targets = task._ar_sequences(plain)
    assert int((targets != -100).sum()) == sum(it.codes.shape[1] + 1 for it in items)


def test_ar_prompt_seconds_trains_through_the_yaml_and_needs_a_symbol_table(tmp_path):
    from echovox.lm.cli import train

    data = {"prompts": {"ar_seconds": 0.5}}  # 20 frames at 40 Hz: every toy utterance
    steps = dict(max_steps=6, val_check_interval=6)
    with pytest.raises(ValueError, match="symbol_table"):
        train(str(_config(tmp_path, "no_table", data=data, **steps)), threads=1)
    model = {
        "symbol_table": "default",  # toy ids 5..39 are valid ids of it
        "model_overrides": {k: v for k, v in TOY.items() if k != "n_phonemes"},  # the table's
    }
    train(str(_config(tmp_path, "pairs", model=model, data=data, **steps)), threads=1)
    model = load_pretrained(tmp_path / "pairs" / "export")
    assert model.config.n_phonemes > TOY["n_phonemes"]


def test_shipped_yaml_configs_build(tmp_path, monkeypatch):
    from echovox.lm.cli import build_cli

    configs = sorted((REPO / "lm" / "configs").glob("*.yaml"))
    assert {p.stem for p in configs} >= {"ar", "nar", "ar_tiny", "nar_tiny"}
    monkeypatch.chdir(tmp_path)  # relative output paths land here
    for path in configs:
        cli = build_cli(str(path))
        assert cli.model.kind in ("ar", "nar"), path
        assert cli.trainer.max_steps > 0
        assert cli.model.symbols is not None  # trained with the front end's table


def _config(
    root: Path,
    name: str,
    kind: str = "ar",
    every: int = 5,
    model: dict | None = None,
    data: dict | None = None,
    **trainer,
) -> Path:
    """A tiny-model YAML over a toy corpus; `model`, `data` and `trainer` replace its keys."""
    if not (root / "train").exists():
        write_token_dataset(root / "train", toy_rows(64, seed=0, **TOY))
        write_token_dataset(root / "dev", toy_rows(8, seed=1, **TOY))
    cfg = load_yaml(REPO / "lm" / "configs" / f"{kind}_tiny.yaml")
    cfg["trainer"].update(
        {
            "max_steps": 20,
            "val_check_interval": 10,
            "log_every_n_steps": 2,
            "accelerator": "cpu",
            "enable_progress_bar": False,
            **trainer,
        }
    )
    cfg["trainer"]["logger"]["init_args"]["save_dir"] = str(root / name)
    ckpt = cfg["trainer"]["callbacks"][0]["init_args"]
    ckpt.update(dirpath=str(root / name / "checkpoints"), every_n_train_steps=every)
    cfg["model"].update(model_overrides=dict(TOY), symbol_table=None)
    cfg["model"].update(model or {})
    cfg["data"].update(train=str(root / "train"), val=str(root / "dev"))
    cfg["data"]["batches"] = {"max_frames": 200, "num_buckets": 10}
    cfg["data"].update(data or {})
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_train_command_logs_checkpoints_and_exports(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from echovox.lm.cli import export, train

    train(str(_config(tmp_path, "run")), threads=1)
    ckpts = tmp_path / "run" / "checkpoints"
    assert (ckpts / "last.ckpt").is_file()
    events = EventAccumulator(str(tmp_path / "run" / "tb" / "run"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/acc_top10_q1", "train/acc_top1_q1", "val/loss"} <= tags
    assert {"val/acc_top10_q1", "val/acc_top1_q1"} <= tags
    losses = [e.value for e in events.Scalars("train/loss")]
    assert losses[-1] < losses[0]
    model = load_pretrained(tmp_path / "run" / "export", expect_codec=(4, 32))
    out = generate_ar(model, [torch.tensor([5, 6, 7])], [torch.zeros(4, 2, dtype=torch.long)])
    assert len(out.codes[0]) >= 1
    # the export command turns a Lightning checkpoint into the same weights
    export(str(ckpts / "last.ckpt"), str(tmp_path / "again"))
    again = load_pretrained(tmp_path / "again")
    for k, v in model.state_dict().items():
        assert torch.equal(v, again.state_dict()[k])


def test_nar_fine_tune_from_an_export_with_prefix_prompts(tmp_path):
    """The YAML path of init_from and prompt_mode: a run starts from an export, its validation
    loss starts where the export's would, and its checkpoint exports after the export is gone."""
    import shutil

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from echovox.lm.cli import export, train

    def run(name, steps, **model):
        model = {"optim": {"lr": 3e-3, "warmup_steps": 5}, **model}
        data = {"prompts": {"mode": "prefix"}}
        config = _config(
            tmp_path, name, "nar", model=model, data=data, max_steps=steps, val_check_interval=steps
        )
        train(str(config), threads=1)

    run("base", 60)
    run("tune", 5, init_from=str(tmp_path / "base" / "export"))

    def val_losses(name):
        events = EventAccumulator(str(tmp_path / name / "tb" / "run"))
        events.Reload()
        return [e.value for e in events.Scalars("val/loss")]

    fresh = math.log(TOY["codebook_size"])
    assert val_losses("base")[-1] < 0.5 * fresh
    assert val_losses("tune")[0] < 0.5 * fresh  # it started from the export, not from scratch
    shutil.rmtree(tmp_path / "base")
    export(str(tmp_path / "tune" / "checkpoints" / "last.ckpt"), str(tmp_path / "out"))
    assert load_pretrained(tmp_path / "out").config.n_codebooks == TOY["n_codebooks"]


def _cli(config: Path) -> list[str]:
    return [sys.executable, "-m", "echovox.app.cli", "lm", "train", str(config), "--threads", "1"]


@pytest.mark.slow
def test_resume_after_kill_9_continues_exactly(tmp_path):
    from safetensors.torch import load_file

    steps = 40
    subprocess.run(
        _cli(_config(tmp_path, "whole", max_steps=steps)), check=True, cwd=REPO, capture_output=True
    )
    config = _config(tmp_path, "killed", max_steps=steps)
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen(
        _cli(config), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not last.exists():
        assert proc.poll() is None and time.time() < deadline, "training ended before the kill"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    state = torch.load(last, weights_only=True)
    assert 0 < state["global_step"] < steps
    assert state["TokenDataModule"]["batches_done"] > 0  # killed mid-epoch
    subprocess.run(_cli(config), check=True, cwd=REPO, capture_output=True)
    assert torch.load(last, weights_only=True)["global_step"] == steps
    # same step count, optimizer state and data position: bit-identical to the unbroken run
    a = load_file(tmp_path / "whole" / "export" / "model.safetensors")
    b = load_file(tmp_path / "killed" / "export" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_two_process_ddp_on_cpu_trains_and_saves(tmp_path):
    config = _config(tmp_path, "ddp", kind="nar", every=3, max_steps=6, devices=2, strategy="ddp")
    r = subprocess.run(_cli(config), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "distributed_backend=gloo" in r.stderr + r.stdout
    state = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["global_step"] == 6
    # each rank ran its own half of the batches, so an epoch took half as many steps
    from echovox.lm.data import TokenDataset

    lengths = TokenDataset(tmp_path / "train").lengths
    per_rank = len(DurationBucketSampler(lengths, 200, shard=Sharding(2, 0)))
    assert per_rank < len(DurationBucketSampler(lengths, 200))
    assert state["epoch"] == 6 // per_rank
    assert load_pretrained(tmp_path / "ddp" / "export").config.n_codebooks == 4


def test_validation_batches_have_their_own_size(tmp_path):
    """val_max_frames sizes the validation batches alone: a big training batch must not shrink
    the NAR's validation to a few batches, each scoring one stage."""
    from echovox.lm.lightning import TokenDataModule

    _config(tmp_path, "sizes")  # writes the toy corpus (64 utterances of 8-16 frames)
    corpus = str(tmp_path / "train")

    def batches(loader):
        return [len(b.code_lens) for b in loader]

    big = TokenDataModule(corpus, corpus, BatchSettings(max_frames=4000, num_buckets=1))
    small = TokenDataModule(
        corpus, corpus, BatchSettings(max_frames=4000, val_max_frames=40, num_buckets=1)
    )
    assert sum(batches(big.val_dataloader())) == sum(batches(small.val_dataloader())) == 64
    assert len(batches(small.val_dataloader())) > 2 * len(batches(big.val_dataloader()))
    assert all(n <= 40 // 8 for n in batches(small.val_dataloader()))
    assert batches(small.train_dataloader()) == [64]  # training keeps max_frames


def test_shipped_configs_rank_each_checkpoint_by_its_own_validation(tmp_path):
    """The shipped configs' monitored checkpoint is saved when a validation ends. A step-triggered
    save (every_n_train_steps) can run before that step's validation and carry the previous
    one's loss, so "the best checkpoint" could be one interval off."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from echovox.lm.cli import train

    config = _config(tmp_path, "gpu", "nar", max_steps=30, val_check_interval=5)
    cfg = yaml.safe_load(config.read_text())
    shipped = load_yaml(REPO / "lm" / "configs" / "nar.yaml")
    callbacks = [
        cb for cb in shipped["trainer"]["callbacks"] if cb["class_path"].endswith("ModelCheckpoint")
    ]
    for cb in callbacks:
        args = cb["init_args"]
        args["dirpath"] = str(tmp_path / "gpu" / Path(args["dirpath"]).name)
        if args.get("every_n_train_steps"):
            args["every_n_train_steps"] = 5
        if args.get("monitor"):
            args["save_top_k"] = -1  # keep every ranked checkpoint, to check each one's score
    cfg["trainer"]["callbacks"] = callbacks
    config.write_text(yaml.safe_dump(cfg))
    train(str(config), threads=1)
    events = EventAccumulator(str(tmp_path / "gpu" / "tb" / "run"))
    events.Reload()
    # a validation after the optimizer step that made global_step g is logged at step g - 1
    val = {e.step + 1: e.value for e in events.Scalars("val/loss")}
    ranked = sorted((tmp_path / "gpu" / "best").glob("*.ckpt"))
    assert len(ranked) == len(val) == 6
    for path in ranked:
        ckpt = torch.load(path, weights_only=True)
        (state,) = [v for k, v in ckpt["callbacks"].items() if "'monitor': 'val/loss'" in k]
        assert float(state["current_score"]) == pytest.approx(val[ckpt["global_step"]]), path
    assert (tmp_path / "gpu" / "checkpoints" / "last.ckpt").is_file()  # for resuming


def test_lightning_reaches_the_bucket_sampler_each_epoch(tmp_path):
    from echovox.lm.cli import build_cli

    cli = build_cli(str(_config(tmp_path, "epochs", max_steps=20)))
    cli.trainer.fit(cli.model, cli.datamodule)
    sampler = cli.datamodule.train_sampler
    per_epoch = len(sampler)
    assert per_epoch < 20  # the run spans several epochs
    # Lightning calls set_epoch on batch_sampler.sampler; it must land in our sampler so that
    # every epoch draws a new order
    assert sampler.epoch == (20 - 1) // per_epoch >= 1
    assert sampler.rank_batches(0) != sampler.rank_batches(1)


@pytest.mark.slow
def test_two_process_fsdp_on_cpu_trains_and_saves(tmp_path):
    """FSDP as a strategy option (lm/configs/*_valle.yaml name it beside ddp): two CPU
    processes over gloo shard the model, train, checkpoint and export."""
    strategy = {"class_path": "echovox.lm.lightning.FSDPStrategy"}
    config = _config(tmp_path, "fsdp", kind="ar", every=2, max_steps=4, devices=2,
                     strategy=strategy)  # fmt: skip
    r = subprocess.run(_cli(config), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "distributed_backend=gloo" in r.stderr + r.stdout
    assert "FSDP: 2 blocks and the model sharded over 2 ranks" in r.stdout
    # saved whole: a plain checkpoint (no DTensors) and an export of the full model
    state = torch.load(tmp_path / "fsdp" / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["global_step"] == 4
    model = load_pretrained(tmp_path / "fsdp" / "export")
    assert model.config.n_codebooks == 4
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert all(shapes[k[len("model."):]] == tuple(v.shape)
               for k, v in state["state_dict"].items() if k.startswith("model."))  # fmt: skip
