"""Stage 6's training YAMLs (the recipe's paths, the configured checkpoint folders kept apart),
lm.kinds and stage 7's model.ar / model.nar."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from recipe_helpers import REPO, synthetic_config

from echovox.config_files import load_yaml
from echovox.recipes.config import RecipeConfigError, config_from_dict
from echovox.recipes.train import (
    export_dir,
    lm_dir,
    lm_export,
    run_yaml,
    stage_assemble,
    stage_train_lm,
)


def test_run_yaml_keeps_resume_and_ranked_checkpoints_apart(tmp_path):
    cfg = synthetic_config(tmp_path)
    for kind in ("ar", "nar"):
        setattr(cfg.lm, f"{kind}_config", str(REPO / f"lm/configs/{kind}.yaml"))
        written = yaml.safe_load(run_yaml(cfg, kind).read_text())
        folders = {
            cb["init_args"]["dirpath"]: cb["init_args"].get("monitor")
            for cb in written["trainer"]["callbacks"]
            if cb["class_path"].endswith("ModelCheckpoint")
        }
        out = lm_dir(cfg, kind)
        # resuming reads checkpoints/; the validation-ranked saves go to best/, not beside them
        assert folders == {str(out / "checkpoints"): None, str(out / "best"): "val/loss"}
        assert written["data"]["train"] == str(cfg.exp / "tokens" / "train")


def test_run_yaml_sends_other_checkpoint_folders_to_the_resume_folder(tmp_path):
    """A folder of another name becomes checkpoints/, which a forced rerun clears."""
    cfg = synthetic_config(tmp_path)
    own = load_yaml(REPO / "lm/configs/ar_tiny.yaml")
    own["trainer"]["callbacks"][0]["init_args"]["dirpath"] = "somewhere/ckpts"
    (tmp_path / "own.yaml").write_text(yaml.safe_dump(own))
    cfg.lm.ar_config = str(tmp_path / "own.yaml")
    written = yaml.safe_load(run_yaml(cfg, "ar").read_text())
    args = written["trainer"]["callbacks"][0]["init_args"]
    assert args["dirpath"] == str(lm_dir(cfg, "ar") / "checkpoints")


@pytest.mark.parametrize("kinds", [[], ["ar", "ar"], ["ar", "vocoder"], "ar"])
def test_lm_kinds_must_name_ar_or_nar_once(kinds):
    with pytest.raises(RecipeConfigError, match="lm.kinds"):
        config_from_dict({"recipe": "synthetic", "lm": {"kinds": kinds}})


@pytest.fixture
def started(monkeypatch):
    """The commands stage 6 starts, recorded instead of run."""
    commands = []

    class FakeRun:
        returncode = 0

        def __init__(self, cmd, **_):
            commands.append(cmd)

        def wait(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakeRun)
    return commands


def test_stage_6_trains_only_the_listed_models(tmp_path, started):
    cfg = synthetic_config(tmp_path)
    cfg.lm.kinds = ["ar"]
    cfg.lm.ar_config = str(REPO / "lm/configs/ar.yaml")
    (cfg.exp / "tokens" / "train").mkdir(parents=True)
    report = stage_train_lm(cfg)
    assert len(started) == 1 and str(run_yaml(cfg, "ar")) in started[0]
    assert report.name == "train AR" and "nar_checkpoints" not in report.counts
    assert not lm_dir(cfg, "nar").exists()


def test_each_model_gets_the_shared_overrides_then_its_own(tmp_path, started):
    cfg = synthetic_config(tmp_path)
    for kind in ("ar", "nar"):
        setattr(cfg.lm, f"{kind}_config", str(REPO / f"lm/configs/{kind}.yaml"))
    cfg.lm.overrides = ["--trainer.precision=bf16-mixed", "--trainer.max_steps=9"]
    cfg.lm.nar_overrides = ["--trainer.max_steps=2"]
    (cfg.exp / "tokens" / "train").mkdir(parents=True)
    stage_train_lm(cfg)
    passed = {
        kind: json.loads(next(a for a in cmd if a.startswith("--overrides="))[12:])
        for kind, cmd in zip(("ar", "nar"), started)
    }
    assert passed["ar"] == cfg.lm.overrides
    # the NAR's own step count comes last, so LightningCLI takes it over the shared one
    assert passed["nar"] == cfg.lm.overrides + ["--trainer.max_steps=2"]


@pytest.mark.parametrize("field", ["overrides", "ar_overrides", "nar_overrides"])
def test_lm_overrides_must_be_lists_of_strings(field):
    with pytest.raises(RecipeConfigError, match=f"lm.{field} must be a list of strings"):
        config_from_dict({"recipe": "synthetic", "lm": {field: "--trainer.max_steps=9"}})


def test_stage_7_names_the_missing_export(tmp_path):
    cfg = synthetic_config(tmp_path)
    cfg.lm.kinds = ["ar"]
    with pytest.raises(FileNotFoundError, match="run stage 6 first"):
        stage_assemble(cfg)  # no AR export yet
    (export_dir(cfg, "ar")).mkdir(parents=True)
    (export_dir(cfg, "ar") / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="or set model.nar"):
        stage_assemble(cfg)
    cfg.model.nar = str(tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match="model.nar: no LM export"):
        stage_assemble(cfg)
    assert lm_export(cfg, "nar") == tmp_path / "elsewhere"
    assert lm_export(cfg, "ar") == export_dir(cfg, "ar")


def test_stage_7_hands_the_model_settings_to_the_assembler(tmp_path, monkeypatch):
    import echovox.model_dir as model_dir

    cfg = config_from_dict(
        {
            "recipe": "synthetic",
            "exp_dir": str(tmp_path / "exp"),
            "tokenize": {"codec": str(tmp_path / "codec")},
            "model": {
                "nar_decoding": "expected",
                "voice_match": {"weight": 0.5, "k": 4},
                "sampling": {"temperature": 0.7},
            },
        }
    )
    for kind in ("ar", "nar"):
        export_dir(cfg, kind).mkdir(parents=True)
        (export_dir(cfg, kind) / "config.json").write_text("{}")
    seen = {}

    def assemble(out, **kwargs):
        seen.update(kwargs)
        out.mkdir(parents=True)
        return out

    monkeypatch.setattr(model_dir, "assemble_model_dir", assemble)
    stage_assemble(cfg)
    settings = seen["settings"]
    assert settings.voice_match == model_dir.VoiceMatchConfig(weight=0.5, k=4)
    assert settings.nar_decoding == "expected" and settings.sampling == {"temperature": 0.7}
    assert settings.name == cfg.model.name and settings.text.language == cfg.text.language
