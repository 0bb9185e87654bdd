"""`echovox lm ...` commands. Heavy imports stay inside the functions: `echovox --help` is fast."""

from __future__ import annotations

import warnings
from pathlib import Path


def train(
    config_path: str,
    ckpt_path: str | None = "last",
    overrides: list[str] | None = None,
    export_dir: str | None = None,
    threads: int | None = None,
) -> None:
    """Train the AR or NAR model from a LightningCLI-style YAML (trainer, model, data sections).

    Rerunning the same command after a crash or kill -9 resumes from the last checkpoint with
    the same step count, optimizer state and data position.

    Args:
        config_path: YAML with `trainer:`, `model:` (echovox.lm.lightning.LMTask) and `data:`
            (echovox.lm.lightning.TokenDataModule) sections, e.g. lm/configs/ar.yaml; a
            `base: OTHER.yaml` in it starts from that file (echovox.config_files).
        ckpt_path: Lightning checkpoint to resume from; "last" takes the run's newest
            checkpoint when one exists and starts fresh otherwise; None always starts fresh.
        overrides: further LightningCLI arguments, e.g. ["--trainer.max_steps=100"].
        export_dir: where to write the inference export (safetensors + config.json);
            default: <first checkpoint dir>/../export.
        threads: torch CPU threads (default: torch's choice).
    """
    import torch
    from lightning.pytorch.callbacks import ModelCheckpoint

    # (not named `config`: jsonargparse reserves that name for its own --config option)
    if not Path(config_path).is_file():
        raise FileNotFoundError(f"config not found: {config_path}")
    if threads:
        torch.set_num_threads(threads)
    cli = build_cli(config_path, overrides)
    trainer = cli.trainer
    trainer.fit(cli.model, cli.datamodule, ckpt_path=ckpt_path)
    # The export holds the final weights. last.ckpt holds the last every-n-steps save: a save
    # after fit() would record Lightning's "epoch finished" state of a max_steps stop, and a
    # resume from it would skip the rest of that epoch's data.
    ckpts = [c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)]
    state = cli.model.full_state_dict()  # sharded (FSDP): every rank takes part in gathering
    if trainer.is_global_zero:
        if export_dir is None:
            base = (
                Path(ckpts[0].dirpath).parent
                if ckpts and ckpts[0].dirpath
                else Path(trainer.default_root_dir)
            )
            export_dir = str(base / "export")
        out = cli.model.export(export_dir, state)
        print(f"exported {cli.model.kind.upper()} model to {out}")


def build_cli(config_path: str, overrides: list[str] | None = None):
    """The LightningCLI (trainer, LMTask, TokenDataModule) of a training YAML, not yet run.
    The YAML's `base:` is merged in first: LightningCLI reads the resolved copy."""
    import tempfile

    import yaml
    from lightning.pytorch.cli import LightningCLI

    from echovox.config_files import load_yaml

    from .lightning import LMTask, TokenDataModule

    resolved = load_yaml(config_path)
    with tempfile.TemporaryDirectory(prefix="echovox-lm-") as tmp:
        path = Path(tmp) / Path(config_path).name
        path.write_text(yaml.safe_dump(resolved, sort_keys=False))
        with warnings.catch_warnings():
            # we are that Python caller: `args` comes from our own command line
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
            return LightningCLI(
                LMTask,
                TokenDataModule,
                args=["--config", str(path), *(overrides or [])],
                run=False,
                save_config_kwargs={"overwrite": True},
                # the bucketed sampler shards itself across ranks; Lightning must not wrap it
                trainer_defaults={"use_distributed_sampler": False},
                seed_everything_default=0,
            )


def _task_from_checkpoint(checkpoint: str):
    """The LMTask a Lightning training checkpoint holds, weights loaded."""
    import inspect

    import torch

    from .lightning import LMTask

    # weights_only: a checkpoint is user data, never unpickle arbitrary objects from it
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    known = set(inspect.signature(LMTask.__init__).parameters) - {"self"}
    hp = {
        k: v for k, v in state["hyper_parameters"].items() if k in known
    }  # LightningCLI adds keys
    optim = hp.pop("optim", None)
    hp.pop("init_from", None)  # the weights come from the checkpoint; that folder may be gone
    task = LMTask(**hp)
    if optim is not None:
        task.hparams["optim"] = optim
    task.load_state_dict(state["state_dict"])
    return task


def export(checkpoint: str, output: str) -> None:
    """Turn a Lightning training checkpoint into an inference export (safetensors + JSON).

    Args:
        checkpoint: a .ckpt written by `echovox lm train`.
        output: directory to write config.json, model.safetensors (and symbols.json).
    """
    print(f"exported to {_task_from_checkpoint(checkpoint).export(output)}")


def attention(checkpoint: str, data: str, output: str = "attention.png", items: int = 8) -> None:
    """Where an AR's heads look in the text: a PNG of every layer's and head's audio-to-text
    attention on the first of `items` utterances of a token dataset (teacher-forced), and one
    JSON line of each head's diagonality (`lm.alignment.diagonality`) averaged over them. An
    AR that has learnt to align has a head whose attention walks down the text with the frames.

    Args:
        checkpoint: an AR export folder or a Lightning .ckpt.
        data: a token dataset (e.g. a recipe's tokens/dev).
        output: the PNG to write (layers down, heads across; audio down, text across).
        items: utterances to average over, spread evenly through the dataset.
    """
    import json

    import torch

    from .alignment import attention_grid_png, diagonality, text_attention
    from .ar import ARModel
    from .checkpoint import load_pretrained
    from .data import TokenDataset

    if items < 1:
        raise ValueError(f"items must be at least 1, got {items}")
    path = Path(checkpoint)
    if not path.exists():
        raise FileNotFoundError(f"AR checkpoint not found: {checkpoint}")
    model = load_pretrained(path) if path.is_dir() else _task_from_checkpoint(checkpoint).model
    if not isinstance(model, ARModel):
        raise ValueError(f"{checkpoint} holds a NAR; attention maps are drawn for an AR")
    model.eval()
    ds = TokenDataset(data, n_codebooks=model.config.n_codebooks)
    picks = torch.linspace(0, len(ds) - 1, min(items, len(ds))).round().long().tolist()
    diag = None
    for n, i in enumerate(picks):
        item = ds[i]
        att = text_attention(model, item.phonemes, item.codes[0])
        if n == 0:
            attention_grid_png(att, output)
        d = diagonality(att)
        diag = d if diag is None else diag + d
    diag = diag / len(picks)
    best = int(diag.argmax())
    H = model.config.n_heads
    print(json.dumps({
        "checkpoint": checkpoint, "items": len(picks), "png": output,
        "diagonality": [[round(float(x), 3) for x in row] for row in diag],
        "best": {"layer": best // H, "head": best % H, "diagonality": round(float(diag.max()), 3)},
    }))  # fmt: skip


COMMANDS = {"train": train, "export": export, "attention": attention}
