"""The stage tables of the shipped recipes, and `run`, which the CLI and tests call."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .config import RecipeConfig, load_config
from .stage import Stage, StageReport, run_stages


def _verify(cfg, force=False):
    from .corpus import stage_verify

    return stage_verify(cfg, force)


def _segment(cfg, force=False):
    from .segment import stage_segment

    return stage_segment(cfg, force)


def _transcribe(cfg, force=False):
    from .asr import stage_transcribe

    return stage_transcribe(cfg, force)


def _phonemize(cfg, force=False):
    from .phonemes import stage_phonemize

    if cfg.recipe == "synthetic":
        # the synthetic corpus's unseen voices are fixed when it is generated
        from .synthetic import heldout_speakers

        held = sorted(set(cfg.splits.heldout_speakers) | set(heldout_speakers(cfg.corpus.root)))
        cfg = replace(cfg, splits=replace(cfg.splits, heldout_speakers=held))
    return stage_phonemize(cfg, force)


def _tokenize(cfg, force=False):
    from .tokens import stage_tokenize

    return stage_tokenize(cfg, force)


def _train_lm(cfg, force=False):
    from .train import stage_train_lm

    return stage_train_lm(cfg, force)


def _assemble(cfg, force=False):
    from .train import stage_assemble

    return stage_assemble(cfg, force)


def _evaluate(cfg, force=False):
    from .train import stage_evaluate

    return stage_evaluate(cfg, force)


def _generate(cfg, force=False):
    from .synthetic import stage_generate

    return stage_generate(cfg, force)


def _import(cfg, force=False):
    from .importer import stage_import

    return stage_import(cfg, force)


TAIL = [
    Stage(4, "normalise + phonemise + split", _phonemize),
    Stage(5, "tokenize", _tokenize),
    Stage(6, "train AR + NAR", _train_lm),
    Stage(7, "assemble model", _assemble),
    Stage(8, "evaluate", _evaluate),
]
LIBRILIGHT = [
    Stage(1, "verify tree", _verify),
    Stage(2, "segment", _segment),
    Stage(3, "transcribe", _transcribe),
    *TAIL,
]
STAGES: dict[str, list[Stage]] = {
    "librilight": LIBRILIGHT,
    "synthetic": [Stage(0, "generate synthetic corpus", _generate), *LIBRILIGHT],
    "folder": [Stage(1, "import folder", _import), *TAIL],
}


def run(
    config: str | Path | RecipeConfig,
    stage: int | None = None,
    stop_stage: int | None = None,
    *,
    force: bool = False,
    overrides: dict | None = None,
) -> list[StageReport]:
    cfg = config if isinstance(config, RecipeConfig) else load_config(config, overrides)
    return run_stages(cfg, STAGES[cfg.recipe], stage, stop_stage, force=force)
