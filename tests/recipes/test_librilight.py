"""The LibriLight recipe on a tree in the released layout that grows by a subset: stages 1-5
process only what is new, the splits add up, and no stage writes a full copy of its input."""

from __future__ import annotations

import pytest
from recipe_helpers import librilight_file, needs_espeak

from echovox.recipes.config import config_from_dict
from echovox.recipes.runner import run
from echovox.recipes.stage import load_dataset_dir

pytestmark = [needs_espeak]

SENTENCES = [
    "The boat sailed across the quiet harbour at dawn.",
    "Nobody expected the old clock to strike thirteen.",
    "She folded the letter twice and hid it in a book.",
    "A cold wind came down from the northern hills.",
]


def _cfg(tmp_path, codec, **over):
    data = {
        "recipe": "librilight",
        "exp_dir": str(tmp_path / "exp"),
        "corpus": {"root": str(tmp_path / "ll"), "subsets": ["small", "medium"]},
        "segment": {"min_seconds": 1.0, "target_seconds": 2.0, "vad_fallback": "energy"},
        "asr": {"backend": "reference"},
        "splits": {"dev_speakers": 1, "test_speakers": 1, "exclude_speakers": []},
        "tokenize": {"codec": str(codec), "batch_size": 4},
        "work": {"num_proc": 1, "shard_size": 2},
    }
    data.update(over)
    return config_from_dict(data)


def _by_stage(reports):
    return {r.stage: r for r in reports}


def _split_rows(exp):
    return {s: len(load_dataset_dir(exp / "tokens" / s)) for s in ("train", "dev", "test")}


def test_growing_corpus_processes_only_what_is_new(tmp_path, tiny_codec_dir):
    root = tmp_path / "ll"
    voices = ["mb-us1", "mb-us2", "mb-us3"]
    for k, voice in enumerate(voices):
        librilight_file(root, f"small/10{k}/b{k}/ch0", SENTENCES[k : k + 2], voice)
    cfg = _cfg(tmp_path, tiny_codec_dir)
    first = _by_stage(run(cfg, 1, 5))
    assert sorted(first) == [1, 2, 3, 4, 5] and all(r.complete for r in first.values())
    n_segments = len(load_dataset_dir(cfg.exp / "segments"))
    assert n_segments == 6  # one utterance per sentence
    splits_before = _split_rows(cfg.exp)
    assert sum(splits_before.values()) == 6 and all(splits_before.values())
    import json

    assignment = json.loads((cfg.exp / "splits.json").read_text())

    # nothing changed: every stage is skipped
    assert run(cfg, 1, 5) == []

    # the second subset arrives: a new speaker, and a new book of a known one
    librilight_file(root, "medium/200/b9/ch0", SENTENCES[2:4], "mb-en1")
    librilight_file(root, "medium/100/b8/ch0", SENTENCES[:1], "mb-us1")
    second = _by_stage(run(cfg, 1, 5))
    assert sorted(second) == [1, 2, 3, 4, 5]
    assert second[1].counts["items processed"] == 2  # two new files
    assert second[1].counts["shards reused"] == 3  # the three books of small
    assert second[2].counts["items processed"] == 2
    new_utts = 3
    for n in (3, 4, 5):
        assert second[n].counts["items processed"] == new_utts, n
        assert second[n].counts["shards reused"] == first[n].counts["shards processed"], n
    assert len(load_dataset_dir(cfg.exp / "segments")) == n_segments + new_utts

    # the split counts add up, and no known speaker moved
    rows = _split_rows(cfg.exp)
    assert sum(rows.values()) == len(load_dataset_dir(cfg.exp / "phonemes")) == 9
    assert len(load_dataset_dir(cfg.exp / "tokens/all")) == 9
    grown = json.loads((cfg.exp / "splits.json").read_text())
    assert {s: grown[s] for s in assignment} == assignment and grown["200"] == "train"
    assert rows["train"] == splits_before["train"] + new_utts

    # no stage wrote a full copy: every Arrow file lives in a stage's shards
    arrows = list(cfg.exp.rglob("*.arrow"))
    assert arrows and all("shards" in p.relative_to(cfg.exp).parts for p in arrows)
    for view in ("files", "segments", "manifest", "phonemes", "tokens/train", "tokens/dev"):
        assert (cfg.exp / view / "view.json").is_file()

    # a changed file (new mtime and size) is found, and only its book is redone
    librilight_file(root, "small/101/b1/ch0", SENTENCES[3:4], "mb-us2")
    third = _by_stage(run(cfg, 1, 3))
    assert third[1].counts["items processed"] == 1 and third[2].counts["items processed"] == 1
    assert third[3].counts["items processed"] == 1
    assert len(load_dataset_dir(cfg.exp / "manifest")) == 8  # 2 utterances became 1


def test_training_reads_the_split_views_and_their_length_index(tmp_path, tiny_codec_dir):
    """Fewer than three speakers: dev is drawn from training utterances, never empty."""
    from echovox.dataview import read_lengths
    from echovox.lm.data import TokenDataset

    root = tmp_path / "ll"
    librilight_file(root, "small/1/b/ch0", SENTENCES, "mb-us1")
    librilight_file(root, "small/2/b/ch0", SENTENCES[:2], "mb-us2")
    cfg = _cfg(tmp_path, tiny_codec_dir)
    reports = _by_stage(run(cfg, 1, 5))
    assert any("no dev speakers" in n for n in reports[5].notes)
    rows = _split_rows(cfg.exp)
    assert rows["dev"] >= 1 and rows["train"] >= 1 and sum(rows.values()) == 6
    train = TokenDataset(cfg.exp / "tokens/train", max_phonemes=500)
    lengths = read_lengths(cfg.exp / "tokens/train")
    assert train.lengths == lengths["n_frames"].tolist()
    assert train[0].codes.shape[1] == train.lengths[0]
    dev_ids = set(load_dataset_dir(cfg.exp / "tokens/dev")["id"])
    assert not dev_ids & set(load_dataset_dir(cfg.exp / "tokens/train")["id"])


@pytest.mark.parametrize("value", ["auto", 2])
def test_num_proc_auto_is_one_per_gpu(tmp_path, value):
    import torch

    cfg = _cfg(tmp_path, tmp_path, work={"num_proc": value})
    assert cfg.work.num_proc == (max(1, torch.cuda.device_count()) if value == "auto" else 2)
