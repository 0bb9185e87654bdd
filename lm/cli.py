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


def export(checkpoint: str, output: str) -> None:
    """Turn a Lightning training checkpoint into an inference export (safetensors + JSON).

    Args:
        checkpoint: a .ckpt written by `echovox lm train`.
        output: directory to write config.json, model.safetensors (and symbols.json).
    """
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
    print(f"exported to {task.export(output)}")


COMMANDS = {"train": train, "export": export}
