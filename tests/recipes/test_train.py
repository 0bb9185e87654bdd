"""Stage 6's training YAMLs: the recipe's paths, the configured checkpoint folders kept apart."""

from __future__ import annotations

import yaml
from recipe_helpers import REPO, synthetic_config

from echovox.recipes.train import lm_dir, run_yaml


def test_run_yaml_keeps_resume_and_ranked_checkpoints_apart(tmp_path):
    cfg = synthetic_config(tmp_path)
    for kind in ("ar", "nar"):
        setattr(cfg.lm, f"{kind}_config", str(REPO / f"lm/train_{kind}_compact.yaml"))
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
    own = yaml.safe_load((REPO / "lm/train_ar_tiny.yaml").read_text())
    own["trainer"]["callbacks"][0]["init_args"]["dirpath"] = "somewhere/ckpts"
    (tmp_path / "own.yaml").write_text(yaml.safe_dump(own))
    cfg.lm.ar_config = str(tmp_path / "own.yaml")
    written = yaml.safe_load(run_yaml(cfg, "ar").read_text())
    args = written["trainer"]["callbacks"][0]["init_args"]
    assert args["dirpath"] == str(lm_dir(cfg, "ar") / "checkpoints")
