"""The stage tables of the shipped recipes, and `run`, which the CLI and tests call."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .config import RecipeConfig, load_config
from .stage import Stage, StageReport, dataset_fingerprint, digest, run_stages


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


# probes: a cheap fingerprint of each stage's input and settings. A stage whose probe changed
# since it was done runs again, and its content-keyed shards make that cost only what is new.


def _input(*names: str):
    def probe(cfg, settings) -> str:
        return digest([dataset_fingerprint(cfg.exp / n) for n in names] + [settings])

    return probe


def _files_stamp(*folders: Path) -> list:
    """Sizes and mtimes of the files in folders (an LM export, a model directory)."""
    return [
        (str(p), p.stat().st_size, p.stat().st_mtime_ns)
        for f in folders
        if f.is_dir()
        for p in sorted(f.rglob("*"))
        if p.is_file()
    ]


def _libriheavy_version(cfg):
    if not cfg.corpus.libriheavy:
        return None
    return _files_stamp(Path(cfg.corpus.libriheavy))


def _probe_tree(cfg):
    from .corpus import probe_tree

    return probe_tree(cfg)


def _probe_train(cfg):
    from .config import LM_KINDS

    yamls = [Path(getattr(cfg.lm, f"{k}_config")) for k in LM_KINDS]
    text = [y.read_text() if y.is_file() else None for y in yamls]
    return _input("tokens/train", "tokens/dev")(cfg, [cfg.lm, text])


def _probe_assemble(cfg):
    from .train import lm_export

    return digest([_files_stamp(lm_export(cfg, "ar"), lm_export(cfg, "nar")), cfg.model,
                   cfg.tokenize.codec])  # fmt: skip


def _probe_evaluate(cfg):
    return digest([_files_stamp(cfg.exp / "model"), cfg.eval])


PROBES = {
    2: lambda cfg: _input("files")(cfg, [cfg.segment, _libriheavy_version(cfg)]),
    3: lambda cfg: _input("segments")(cfg, [cfg.asr.backend, cfg.asr.model, cfg.text]),
    4: lambda cfg: _input("manifest")(cfg, [cfg.text, cfg.splits, cfg.filters]),
    5: lambda cfg: _input("phonemes")(cfg, [cfg.tokenize.codec, cfg.tokenize.n_q]),
}
TAIL = [
    Stage(4, "normalise + phonemise + split", _phonemize, probe=PROBES[4]),
    Stage(5, "tokenize", _tokenize, probe=PROBES[5]),
    Stage(6, "train AR + NAR", _train_lm, probe=_probe_train),
    Stage(7, "assemble model", _assemble, probe=_probe_assemble),
    Stage(8, "evaluate", _evaluate, probe=_probe_evaluate),
]
LIBRILIGHT = [
    Stage(1, "verify tree", _verify, probe=_probe_tree),
    Stage(2, "segment", _segment, probe=PROBES[2]),
    Stage(3, "transcribe", _transcribe, probe=PROBES[3]),
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
