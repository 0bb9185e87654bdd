"""Word errors and speaker identification on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest

from echovox.eval.metrics import (
    SpeakerCentroids,
    WordErrors,
    corpus_wer,
    normalize_for_wer,
    word_errors,
)


def test_normalize_for_wer_spells_numbers_and_drops_punctuation():
    assert normalize_for_wer("Dr. Smith paid $3, didn't he?") == (
        "doctor smith paid three dollars didn't he"
    )
    assert normalize_for_wer("'Twenty-one,' she said.") == "twenty one she said"
    assert normalize_for_wer("21 SHEEP") == normalize_for_wer("twenty one sheep")
    assert normalize_for_wer("...") == ""


def test_word_errors_on_hand_made_strings():
    same = word_errors("The cat sat on 2 mats.", "the cat sat on two mats")
    assert same == WordErrors(0, 0, 0, 6) and same.wer == 0.0
    e = word_errors("the cat sat on the mat", "the bat sat on mat")
    assert (e.substitutions, e.deletions, e.insertions, e.n_ref) == (1, 1, 0, 6)
    assert e.wer == pytest.approx(2 / 6)
    assert word_errors("one two", "one and two") == WordErrors(insertions=1, n_ref=2)
    empty = word_errors("one two three", "")
    assert empty == WordErrors(deletions=3, n_ref=3) and empty.wer == 1.0
    assert word_errors("one two", "  ").wer == 1.0
    # insertions can push WER past 100 %
    assert word_errors("yes", "no no no").wer == 3.0
    with pytest.raises(ValueError, match="no words"):
        word_errors("?!", "hello")
    # corpus WER weighs by words, not by utterance
    assert corpus_wer([WordErrors(1, 0, 0, 1), WordErrors(0, 0, 0, 9)]) == pytest.approx(0.1)
    assert corpus_wer([]) is None


def test_speaker_identification_on_hand_made_embeddings():
    c = SpeakerCentroids(
        {"a": [np.array([1.0, 0.0, 0.0]), np.array([0.8, 0.2, 0.0])], "b": [np.array([0, 1.0, 0])]}
    )
    hit = c.identify(np.array([0.9, 0.1, 0.0]), "a")
    assert hit.correct and hit.predicted == "a" and hit.own > hit.best_other
    miss = c.identify(np.array([0.1, 1.0, 0.0]), "a")
    assert not miss.correct and miss.predicted == "b"
    # leaving out the speaker's own enrolment moves its centroid
    left = c.centroid("a", leave_out=np.array([0.8, 0.2, 0.0]))
    np.testing.assert_allclose(left, [1.0, 0.0, 0.0])
    assert c.identify(np.array([1.0, 0, 0]), "b", leave_out=np.array([0, 1.0, 0])) is None

    tie = SpeakerCentroids({"a": [np.array([1.0, 0.0])], "b": [np.array([0.0, 1.0])]})
    r = tie.identify(np.array([1.0, 1.0]), "a")
    assert r.own == pytest.approx(r.best_other) and r.predicted is None and not r.correct
    three = SpeakerCentroids(
        {"a": [np.array([1.0, 0, 0])], "b": [np.array([0, 1.0, 0])], "c": [np.array([0, 0, 1.0])]}
    )
    # two other speakers tied above the true one: wrong, and no single prediction
    r = three.identify(np.array([0.1, 1.0, 1.0]), "a")
    assert not r.correct and r.predicted is None
    assert SpeakerCentroids({"a": [np.ones(2)]}).identify(np.ones(2), "a") is None
