"""`echovox recipe ...`: run a recipe's numbered stages. Heavy imports stay inside functions."""

from __future__ import annotations


def run(
    recipe: str,
    stage: int | None = None,
    stop_stage: int | None = None,
    force: bool = False,
    num_proc: int | None = None,
    rank: int | None = None,
    world_size: int | None = None,
    exp_dir: str | None = None,
    corpus_root: str | None = None,
    codec: str | None = None,
) -> None:
    """Run stages STAGE..STOP_STAGE of the recipe in RECIPE (a recipe YAML file).

    Stages are idempotent: a finished stage leaves exp_dir/.done/stageN.done and is skipped;
    a killed stage resumes at its first unfinished shard.

    Args:
        recipe: the recipe YAML, e.g. recipes/synthetic/config.yaml. (Not named `config`:
            jsonargparse reserves --config for its own config files.)
        stage: first stage to run (default: the recipe's first).
        stop_stage: last stage to run (default: the recipe's last).
        force: rerun stages even when their .done marker exists, discarding their shards.
        num_proc: processes on this machine (tokenize: one per GPU when GPUs exist).
        rank: this node's index when a stage is spread over a cluster.
        world_size: number of nodes (or GPUs, one invocation each) sharing a stage.
        exp_dir: override the config's exp_dir.
        corpus_root: override the config's corpus.root.
        codec: override the config's tokenize.codec (a codec folder or pretrained id).
    """
    from .runner import run as run_recipe

    overrides = {
        "work.num_proc": num_proc,
        "work.rank": rank,
        "work.world_size": world_size,
        "exp_dir": exp_dir,
        "corpus.root": corpus_root,
        "tokenize.codec": codec,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    run_recipe(recipe, stage, stop_stage, force=force, overrides=overrides)


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


COMMANDS = {"run": run, "stages": stages}
