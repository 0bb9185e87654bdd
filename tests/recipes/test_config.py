from __future__ import annotations

import pytest
from recipe_helpers import REPO

from echovox.recipes.config import RecipeConfigError, config_from_dict, load_config
from echovox.recipes.runner import STAGES

SHIPPED = sorted((REPO / "recipes").glob("**/*.yaml"))


def test_there_are_shipped_configs():
    names = {p.parent.name for p in SHIPPED}
    assert {"librilight", "synthetic", "folder"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_config_parses(path):
    cfg = load_config(path)
    assert cfg.recipe in STAGES
    assert cfg.segment.min_seconds < cfg.segment.max_seconds


def test_unknown_key_is_an_error():
    with pytest.raises(RecipeConfigError, match="unknown keys.*max_secs"):
        config_from_dict({"recipe": "librilight", "segment": {"max_secs": 3}})
    with pytest.raises(RecipeConfigError, match="recipe must be one of"):
        config_from_dict({"recipe": "nope"})


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("recipe: [unclosed\n")
    with pytest.raises(RecipeConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(RecipeConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_overrides_reach_nested_fields():
    cfg = load_config(
        REPO / "recipes/librilight/config.yaml", {"work.rank": 3, "corpus.root": "/x"}
    )
    assert cfg.work.rank == 3 and cfg.corpus.root == "/x"
