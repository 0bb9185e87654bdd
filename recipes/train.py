"""Stages 6-8: train the AR and NAR models on the recipe's tokens, assemble the synthesis
model directory, and evaluate it on the held-out speakers.

Stage 6 runs `echovox lm train` once per model, each in its own process with its own log, on a
copy of the configured training YAML whose data and output paths point into `exp_dir/lm/<kind>`.
AR and NAR do not depend on each other, so by default they train at the same time (one core or
GPU each). Each run resumes from its own last checkpoint, so rerunning the stage after a kill
continues both where they stopped. `lm.kinds` trains only one of them; stage 7 then takes the
other from `model.ar` / `model.nar` (an export made elsewhere, e.g. by an earlier recipe).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .config import LM_KINDS as KINDS
from .stage import StageReport

# the training YAMLs' checkpoint folders: resuming saves, and the best validation losses
CHECKPOINT_DIRS = ("checkpoints", "best")


def lm_dir(cfg, kind: str) -> Path:
    return cfg.exp / "lm" / kind


def export_dir(cfg, kind: str) -> Path:
    return lm_dir(cfg, kind) / "export"


def lm_export(cfg, kind: str) -> Path:
    """The export stage 7 assembles: model.<kind> where set, else stage 6's."""
    chosen = getattr(cfg.model, kind)
    return Path(chosen) if chosen else export_dir(cfg, kind)


def model_dir(cfg) -> Path:
    return cfg.exp / "model"


def run_yaml(cfg, kind: str) -> Path:
    """Write exp_dir/lm/<kind>/train.yaml: the configured YAML, its base merged in, with this
    recipe's paths."""
    import yaml

    from echovox.config_files import load_yaml

    src = Path(getattr(cfg.lm, f"{kind}_config"))
    if not src.is_file():
        raise FileNotFoundError(f"lm.{kind}_config not found: {src}")
    data: dict[str, Any] = load_yaml(src)
    kind_in_yaml = (data.get("model") or {}).get("kind")
    if kind_in_yaml != kind:
        raise ValueError(f"lm.{kind}_config {src} trains model.kind={kind_in_yaml!r}, not {kind!r}")
    out = lm_dir(cfg, kind)
    tokens = cfg.exp / "tokens"
    data.setdefault("data", {}).update(train=str(tokens / "train"), val=str(tokens / "dev"))
    _codec_from_tokens(data, tokens)
    trainer = data.setdefault("trainer", {})
    for key in ("devices", "num_nodes"):
        if getattr(cfg.lm, key) is not None:
            trainer[key] = getattr(cfg.lm, key)
    logger = trainer.get("logger")
    if isinstance(logger, dict):
        logger.setdefault("init_args", {})["save_dir"] = str(out)
    for cb in trainer.get("callbacks") or []:
        if isinstance(cb, dict) and cb.get("class_path", "").endswith("ModelCheckpoint"):
            # inside the run's folder: a `best` folder (the validation-ranked saves) stays
            # best/, every other one becomes checkpoints/ (the resuming saves), so that a
            # forced rerun knows what to clear
            args = cb.setdefault("init_args", {})
            name = Path(args.get("dirpath") or "").name
            args["dirpath"] = str(out / (name if name in CHECKPOINT_DIRS else CHECKPOINT_DIRS[0]))
    out.mkdir(parents=True, exist_ok=True)
    path = out / "train.yaml"
    # every rank of a multi-node launch writes the same file: a rename keeps it whole
    tmp = out / f".train.yaml.{os.getpid()}"
    tmp.write_text(f"# written by the recipe's stage 6 from {src}\n" + yaml.safe_dump(data))
    os.replace(tmp, path)
    return path


def _codec_from_tokens(data: dict, tokens: Path) -> None:
    """The frame rate (so prompt seconds become the right frame counts) and the codebooks come
    from the codec the tokens were made with (tokens/codec.json), never from the YAML."""
    from echovox.checkpoint import read_json

    if not (tokens / "codec.json").is_file():
        return
    codec = read_json(tokens / "codec.json")
    data["data"]["frame_rate"] = float(codec["frame_rate"])
    model = data.setdefault("model", {})
    overrides = model.get("model_overrides") or {}
    overrides.update(n_codebooks=int(codec["n_q"]), codebook_size=int(codec["codebook_size"]))
    model["model_overrides"] = overrides


def _command(cfg, kind: str) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "echovox.app.cli",
        "lm",
        "train",
        str(run_yaml(cfg, kind)),
        "--export_dir",
        str(export_dir(cfg, kind)),
        "--threads",
        str(max(1, cfg.lm.threads)),
    ]
    overrides = list(cfg.lm.overrides) + list(getattr(cfg.lm, f"{kind}_overrides"))
    if overrides:
        # one JSON list: a bare "--trainer.x=1" after the flag would parse as an option
        cmd.append("--overrides=" + json.dumps(overrides))
    return cmd


def stage_train_lm(cfg, force: bool = False) -> StageReport:
    """Stage 6: train the models lm.kinds names, AR and NAR by default (resuming each from its
    last checkpoint)."""
    t0 = time.time()
    kinds = [k for k in KINDS if k in cfg.lm.kinds]
    report = StageReport(6, "train " + " + ".join(k.upper() for k in kinds))
    if not (cfg.exp / "tokens" / "train").exists():
        raise FileNotFoundError(f"{cfg.exp / 'tokens' / 'train'} is missing: run stage 5 first")
    if force:
        for kind in kinds:  # a forced rerun starts fresh instead of resuming
            for folder in CHECKPOINT_DIRS:
                for ckpt in (lm_dir(cfg, kind) / folder).glob("*.ckpt"):
                    ckpt.unlink()
    jobs = []
    for kind in kinds:
        log = lm_dir(cfg, kind) / "train.log"
        cmd = _command(cfg, kind)
        print(f"stage 6: training {kind.upper()}; progress in {log}", flush=True)
        jobs.append((kind, cmd, log))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def start(cmd, log):
        return subprocess.Popen(cmd, stdout=log.open("a"), stderr=subprocess.STDOUT, env=env)

    failed = []
    if cfg.lm.parallel:
        running = [(kind, log, start(cmd, log)) for kind, cmd, log in jobs]
    else:  # one after the other: each starts only when the previous one succeeded
        running = ((kind, log, start(cmd, log)) for kind, cmd, log in jobs)
    for kind, log, proc in running:
        if proc.wait() != 0:
            failed.append(f"{kind.upper()} (exit {proc.returncode}; see {log})")
            if not cfg.lm.parallel:
                break
    if failed:
        raise RuntimeError("stage 6: training failed for " + ", ".join(failed))
    for kind in kinds:
        report.notes.append(f"{kind.upper()} export: {export_dir(cfg, kind)}")
        report.counts[f"{kind}_checkpoints"] = len(
            list((lm_dir(cfg, kind) / "checkpoints").glob("*.ckpt"))
        )
    report.seconds = time.time() - t0
    return report


def stage_assemble(cfg, force: bool = False) -> StageReport:
    """Stage 7: the model directory `Synthesizer.from_pretrained(exp_dir/model)` loads."""
    from echovox.model_dir import ModelSettings, assemble_model_dir

    t0 = time.time()
    report = StageReport(7, "assemble model")
    for kind in KINDS:
        path = lm_export(cfg, kind)
        borrowed = getattr(cfg.model, kind)
        if (path / "config.json").is_file():
            if borrowed:
                report.notes.append(f"{kind.upper()}: {path} (model.{kind})")
            continue
        if borrowed:
            raise FileNotFoundError(f"model.{kind}: no LM export (config.json) in {path}")
        raise FileNotFoundError(
            f"no trained {kind.upper()} export in {path}: run stage 6 first"
            + ("" if kind in cfg.lm.kinds else f" with {kind!r} in lm.kinds, or set model.{kind}")
        )
    if not cfg.tokenize.codec:
        raise ValueError("tokenize.codec is not set: the model needs the codec stage 5 used")
    codec = cfg.model.codec or cfg.tokenize.codec
    if codec != cfg.tokenize.codec:
        check_same_tokens(cfg.tokenize.codec, codec)
        report.notes.append(f"codec: {codec} (decoder fine-tune of {cfg.tokenize.codec})")
    m = cfg.model
    settings = ModelSettings.from_dict(
        {
            "name": m.name,
            "text": {"language": cfg.text.language},
            "prompt": {"seconds": m.prompt_seconds},
            "sampling": m.sampling,
            "nar_decoding": m.nar_decoding,
            "voice_match": m.voice_match,
            "spectral_match": m.spectral_match,
            "latent_contrast": m.latent_contrast,
        }
    )
    out = assemble_model_dir(
        model_dir(cfg),
        codec=codec,
        ar=lm_export(cfg, "ar"),
        nar=lm_export(cfg, "nar"),
        settings=settings,
        weights_dtype=m.weights_dtype,
    )
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    report.counts["bytes"] = size
    report.notes.append(f"model directory: {out} ({size / 1e6:.1f} MB)")
    report.seconds = time.time() - t0
    return report


def check_same_tokens(tokenized_with: str, codec: str) -> None:
    """Raise ValueError unless `codec` turns audio into the same tokens as `tokenized_with`:
    every weight outside the decoder (encoder, codebooks and their statistics) must be equal,
    else the LMs would meet tokens they were never trained on."""
    import torch

    from echovox.codec import Codec

    a = Codec.from_pretrained(tokenized_with, device="cpu").state_dict()
    b = Codec.from_pretrained(codec, device="cpu").state_dict()
    keys = {k for k in a.keys() | b.keys() if "decoder" not in k.split(".")}
    differ = sorted(k for k in keys if k not in a or k not in b or not torch.equal(a[k], b[k]))
    if differ:
        raise ValueError(
            f"model.codec {codec} does not make the tokens stage 5 made with {tokenized_with} "
            f"({len(differ)} encoder/quantizer tensors differ, e.g. {differ[0]}); only a "
            "decoder-only fine-tune (train.freeze: [encoder, quantizer]) may stand in"
        )


def build_eval_list(cfg, report: StageReport):
    """Stage 8's list in exp_dir/eval/list: LibriSpeech test-clean by VALL-E's protocol when
    eval.librispeech is set, else the recipe's test split. None when there is nothing to
    score."""
    from echovox.eval.testlist import (
        ListSpec,
        build_test_list,
        librispeech_utterances,
        synthetic_utterances,
    )

    e = cfg.eval
    if e.librispeech:
        root = Path(e.librispeech)
        if not root.is_dir():
            raise FileNotFoundError(
                f"eval.librispeech {root} does not exist. Stage 8 scores VALL-E's protocol "
                "on LibriSpeech test-clean (unpack test-clean.tar.gz from openslr.org/12 "
                "there), or set eval.librispeech: null to score the recipe's own test split"
            )
        utts, source = librispeech_utterances(root), f"librispeech {root}"
        report.notes.append(f"VALL-E protocol: {source}, {e.min_seconds}-{e.max_seconds} s "
                            f"targets, {e.prompt_seconds} s prompts")  # fmt: skip
    else:
        speakers = Path(cfg.corpus.root) / "speakers.json"
        use = speakers if cfg.recipe == "synthetic" and speakers.is_file() else None
        utts, source = synthetic_utterances(cfg.exp / "phonemes", use), str(cfg.exp)
    if not utts:
        report.notes.append("the test split is empty: nothing to evaluate")
        return None
    spec = ListSpec(per_speaker=e.per_speaker or None, seed=e.seed, modes=tuple(e.modes),
                    min_seconds=e.min_seconds, max_seconds=e.max_seconds,
                    prompt_seconds=e.prompt_seconds)  # fmt: skip
    return build_test_list(utts, cfg.exp / "eval" / "list", spec, source=source)


def stage_evaluate(cfg, force: bool = False) -> StageReport:
    """Stage 8: build a test list from the test split (the synthetic corpus's held-out voices)
    into exp_dir/eval/list and score exp_dir/model on it into exp_dir/eval/results."""
    import torch

    from echovox.eval.run import RunOptions, run_evaluation

    t0 = time.time()
    report = StageReport(8, "evaluate")
    if not (model_dir(cfg) / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir(cfg)} is missing: run stage 7 first")
    built = build_eval_list(cfg, report)
    if built is None:
        report.seconds = time.time() - t0
        return report
    e = cfg.eval
    threads = torch.get_num_threads()
    if e.threads:
        torch.set_num_threads(e.threads)
    try:
        run = run_evaluation(
            built.path,
            cfg.exp / "eval" / "results",
            RunOptions(
                model=str(model_dir(cfg)),
                asr=e.asr,
                asr_model=e.asr_model,
                speaker_encoder=e.speaker_encoder,
                speaker_model=e.speaker_model,
                seed=e.seed,
                batch_size=e.batch_size,
                language=cfg.text.language,
            ),
        )
    finally:
        torch.set_num_threads(threads)
    print(run.markdown)
    report.counts["items"] = len(built.items)
    report.counts["speakers"] = built.n_speakers
    report.notes.append(f"results: {run.json_path} and {run.markdown_path}")
    report.seconds = time.time() - t0
    return report
