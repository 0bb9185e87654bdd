from __future__ import annotations

from echovox.recipes.config import SplitConfig
from echovox.recipes.phonemes import assign_splits


def test_splits_are_by_speaker_and_deterministic():
    spk = [str(i) for i in range(50)]
    cfg = SplitConfig(dev_speakers=3, test_speakers=4, seed=1)
    a = assign_splits(spk, cfg)
    assert a == assign_splits(list(reversed(spk)), cfg)
    assert sum(v == "dev" for v in a.values()) == 3
    assert sum(v == "test" for v in a.values()) == 4
    assert sum(v == "train" for v in a.values()) == 43
    assert a != assign_splits(spk, SplitConfig(dev_speakers=3, test_speakers=4, seed=2))


def test_exclude_and_heldout():
    spk = [str(i) for i in range(10)]
    cfg = SplitConfig(dev_speakers=1, test_speakers=1, exclude_speakers=["3"],
                      heldout_speakers=["7", "8"])  # fmt: skip
    a = assign_splits(spk, cfg)
    assert "3" not in a
    assert a["7"] == a["8"] == "test"
    assert sum(v == "test" for v in a.values()) == 3


def test_growing_the_corpus_keeps_splits_of_existing_speakers():
    """Hash-ordered draws: adding speakers only moves a speaker if it was displaced from a
    dev/test slot by a newcomer earlier in hash order; train speakers never move out."""
    cfg = SplitConfig(dev_speakers=2, test_speakers=2)
    small = assign_splits([str(i) for i in range(20)], cfg)
    big = assign_splits([str(i) for i in range(40)], cfg)
    assert all(big[s] == "train" for s, v in small.items() if v == "train")


def test_train_keeps_a_speaker_when_few():
    notes = []
    a = assign_splits(["a", "b"], SplitConfig(dev_speakers=1, test_speakers=1), notes)
    assert sorted(a.values()) == ["test", "train"]
    assert notes and "training keeps one" in notes[0]
