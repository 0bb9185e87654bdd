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
