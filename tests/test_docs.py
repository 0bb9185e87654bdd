"""The docs a newcomer reads first stay short, and their links lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "app" / "pretrained"


def test_readme_and_model_cards_are_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150
    models = sorted(p for p in PRETRAINED.iterdir() if (p / "config.json").is_file())
    assert [m.name for m in models] == ["echovox-codec-16k", "echovox-tiny"]
    for model in models:  # every shipped model has a card, and it fits a few screens
        assert len((model / "README.md").read_text().splitlines()) <= 200, model.name


def test_readme_links_exist():
    text = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (ROOT / target).exists(), target


def test_the_experiment_log_is_not_on_the_first_screen():
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:60])
    assert "experiments.md" not in first_screen
