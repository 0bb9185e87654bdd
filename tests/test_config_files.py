"""Config files: a run is a short delta over one base."""

from __future__ import annotations

from pathlib import Path

import pytest

from echovox.config_files import load_yaml

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(
    [*(ROOT / "codec" / "configs").glob("*.yaml"), *(ROOT / "lm" / "configs").glob("*.yaml")]
    + [*(ROOT / "recipes").glob("*/*.yaml")]
)


def test_a_base_is_overridden_key_by_key_at_every_depth(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "a.yaml").write_text(
        "model: {preset: tiny, optim: {lr: 0.001, warmup_steps: 50}}\n"
        "train: {mel_n_ffts: [64, 128], l1_weight: 2.0}\nseed: 3\n"
    )
    (tmp_path / "run.yaml").write_text(
        "base: base/a.yaml\nmodel: {optim: {lr: 0.0005}}\ntrain: {mel_n_ffts: [256]}\nseed: 4\n"
    )
    got = load_yaml(tmp_path / "run.yaml")
    assert got == {
        "model": {"preset": "tiny", "optim": {"lr": 0.0005, "warmup_steps": 50}},
        "train": {"mel_n_ffts": [256], "l1_weight": 2.0},  # a list is replaced, not appended
        "seed": 4,
    }


def test_bad_configs_are_named(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\nseed: 1\n")
    (tmp_path / "b.yaml").write_text("base: c.yaml\nseed: 2\n")
    with pytest.raises(ValueError, match="at most two files"):
        load_yaml(tmp_path / "a.yaml")
    (tmp_path / "orphan.yaml").write_text("base: gone.yaml\n")
    with pytest.raises(FileNotFoundError, match="gone.yaml"):
        load_yaml(tmp_path / "orphan.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping of sections"):
        load_yaml(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_yaml(tmp_path / "bad.yaml")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_configs_are_a_base_or_one_delta_over_it(path):
    assert load_yaml(path)  # a base of a base is refused


def test_configs_live_in_one_folder_per_kind():
    assert SHIPPED
    for folder in ("codec", "lm"):
        assert not list((ROOT / folder).glob("*.yaml")), (
            f"{folder}/*.yaml: move to {folder}/configs"
        )
