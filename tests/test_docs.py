"""The docs a newcomer reads first stay short, and their links lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "app" / "pretrained" / "echovox-tiny" / "README.md"


def test_readme_and_model_card_are_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150
    assert len(CARD.read_text().splitlines()) <= 200


def test_readme_links_exist():
    text = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (ROOT / target).exists(), target


def test_the_experiment_log_is_not_on_the_first_screen():
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:60])
    assert "experiments.md" not in first_screen
