"""`echovox recipe ...`: run a recipe's numbered stages. Heavy imports stay inside functions;
`run`, with many options, is a dataclass of them whose instance runs when called."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Run:
    """Run stages STAGE..STOP_STAGE of the recipe in RECIPE (a recipe YAML file).

    Stages are idempotent: a finished stage leaves exp_dir/.done/stageN.done and is skipped;
    a killed stage resumes at its first unfinished shard.

    Args:
        recipe: the recipe YAML, e.g. recipes/synthetic/config.yaml. (Not named `config`:
            jsonargparse reserves --config for its own config files.)
        stage: first stage to run (default: the recipe's first).
        stop_stage: last stage to run (default: the recipe's last).
        force: rerun stages even when their .done marker exists, discarding their shards.
        num_proc: processes on this machine, or auto: one per GPU (1 without GPUs).
        rank: this node's index when a stage is spread over a cluster.
        world_size: number of nodes (or GPUs, one invocation each) sharing a stage.
        exp_dir: override the config's exp_dir.
        corpus_root: override the config's corpus.root.
        codec: override the config's tokenize.codec (a codec folder or pretrained id).
    """

    recipe: str
    stage: int | None = None
    stop_stage: int | None = None
    force: bool = False
    num_proc: int | str | None = None
    rank: int | None = None
    world_size: int | None = None
    exp_dir: str | None = None
    corpus_root: str | None = None
    codec: str | None = None

    def __call__(self) -> None:
        from .runner import run as run_recipe

        overrides = {
            "work.num_proc": self.num_proc,
            "work.rank": self.rank,
            "work.world_size": self.world_size,
            "exp_dir": self.exp_dir,
            "corpus.root": self.corpus_root,
            "tokenize.codec": self.codec,
        }
        overrides = {k: v for k, v in overrides.items() if v is not None}
        run_recipe(self.recipe, self.stage, self.stop_stage, force=self.force, overrides=overrides)


def stages(recipe: str) -> None:
    """List the stages of the recipe in RECIPE and which are done.

    Args:
        recipe: the recipe YAML.
    """
    from .config import load_config
    from .runner import STAGES
    from .stage import done_marker

    cfg = load_config(recipe)
    for st in STAGES[cfg.recipe]:
        state = "done" if done_marker(cfg.exp, st.number).exists() else "todo"
        if st.fn is None:
            state = f"not wired ({st.why})"
        print(f"{st.number}  {st.name:32s} {state}")


def codec_data(recipe: str, output: str, exp_dir: str | None = None) -> None:
    """Link a recipe's audio into OUTPUT/train and OUTPUT/val for `echovox codec train`.

    train/ gets every file of the speakers outside the test split (train and dev), val/ the
    first file of each test-split speaker, so the codec is validated, like the LM, on voices it
    never trained on. Needs stage 4 (the speaker splits). Files are symlinked, not copied.

    Args:
        recipe: the recipe YAML, e.g. recipes/synthetic/config.yaml.
        output: the folder to create (its train/ and val/ are rebuilt).
        exp_dir: override the config's exp_dir.
    """
    import shutil
    from pathlib import Path

    from .config import load_config
    from .stage import load_dataset_dir

    cfg = load_config(recipe, {"exp_dir": exp_dir} if exp_dir else None)
    phon = cfg.exp / "phonemes"
    if not phon.exists():
        raise SystemExit(f"echovox recipe codec_data: {phon} is missing: run stage 4 first")
    ds = load_dataset_dir(phon).select_columns(["speaker", "path", "split"])
    files: dict[str, set[str]] = {}
    test = set()
    for spk, path, split in zip(ds["speaker"], ds["path"], ds["split"]):
        files.setdefault(spk, set()).add(path)
        if split == "test":
            test.add(spk)
    out = Path(output)
    counts = {"train": 0, "val": 0}
    for part in counts:
        shutil.rmtree(out / part, ignore_errors=True)
        (out / part).mkdir(parents=True)
    for spk, paths in sorted(files.items()):
        chosen = sorted(paths)[:1] if spk in test else sorted(paths)
        part = "val" if spk in test else "train"
        for p in chosen:
            src = Path(p).resolve()
            (out / part / f"{spk}_{src.name}").symlink_to(src)
            counts[part] += 1
    n_test = len(test)
    print(
        f"{out}: train {counts['train']} files of {len(files) - n_test} speakers, "
        f"val {counts['val']} files of {n_test} test-split speakers"
    )


def codec_corpus(
    output: str = "data/codec",
    train_speakers: int = 700,
    per_train_speaker: int = 16,
    heldout_speakers: int = 24,
    per_heldout_speaker: int = 20,
    num_proc: int = 2,
) -> None:
    """Make the codec's corpus: varied synthetic speech of the training voice families and
    Debian's asterisk recordings to train on, and held-out voice families (with their texts)
    and a held-out asterisk language to evaluate on (see echovox.recipes.codec_corpus).
    Resumable: rerun the same command after a kill. The defaults make the corpus the
    speech_16k codec was trained on (about 14 h; 20-30 min with two processes).

    Args:
        output: the corpus folder (train/, eval/, val/, train.jsonl, eval.jsonl).
        train_speakers: synthetic speakers of the training families.
        per_train_speaker: sentences per training speaker.
        heldout_speakers: speakers of the held-out families (two per family by default).
        per_heldout_speaker: held-out sentences per held-out speaker.
        num_proc: synthesis processes.
    """
    import json

    from .codec_corpus import CorpusSpec, build

    spec = CorpusSpec(
        out=output,
        train_speakers=train_speakers,
        per_train_speaker=per_train_speaker,
        heldout_speakers=heldout_speakers,
        per_heldout_speaker=per_heldout_speaker,
        num_proc=num_proc,
    )
    print(json.dumps(build(spec)))


COMMANDS = {
    "run": Run,
    "stages": stages,
    "codec_data": codec_data,
    "codec_corpus": codec_corpus,
}
