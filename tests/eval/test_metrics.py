"""Word errors and speaker identification on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest

from echovox.eval.metrics import (
    CharErrors,
    SpeakerCentroids,
    WordErrors,
    char_errors,
    corpus_rate,
    corpus_stderr,
    normalize_for_wer,
    normalizer_name,
    word_errors,
)


def test_english_is_normalised_as_whisper_does():
    # numbers as digits, whichever way they are written
    assert normalize_for_wer("Twenty-one sheep.") == "21 sheep"
    assert normalize_for_wer("twenty one SHEEP") == normalize_for_wer("21 sheep") == "21 sheep"
    # contractions expanded, titles spelt out, case and punctuation gone
    assert normalize_for_wer("Don't go, Mr. Smith!") == "do not go mister smith"
    assert normalize_for_wer("do not go mister smith") == "do not go mister smith"
    assert normalize_for_wer("'Hello,' she said... \"HELLO!\"") == "hello she said hello"
    # fillers dropped; a lone "." of an ellipsis is no word
    assert normalize_for_wer("Uh, okay.") == "okay"
    assert normalize_for_wer("...") == normalize_for_wer("?!") == ""
    assert normalize_for_wer("Hi", "en-GB") == normalize_for_wer("Hi", "en") == "hi"
    assert normalizer_name("en-us").startswith("whisper EnglishTextNormalizer")


def test_other_languages_keep_the_echovox_normaliser():
    assert normalizer_name("fr-fr") != normalizer_name("en-us")
    assert normalize_for_wer("Bonjour, Marie !", "fr-fr") == "bonjour marie"
    assert normalize_for_wer("l'eau", "fr-fr") == "l'eau"  # an apostrophe inside a word stays


def test_word_errors_on_hand_made_strings():
    same = word_errors("The cat sat on 2 mats.", "the cat sat on two mats")
    assert same == WordErrors(0, 0, 0, 6) and same.wer == 0.0
    assert word_errors("I don't know.", "I do not know").wer == 0.0
    e = word_errors("the cat sat on the mat", "the bat sat on mat")
    assert (e.substitutions, e.deletions, e.insertions, e.n_ref) == (1, 1, 0, 6)
    assert e.wer == pytest.approx(2 / 6)
    assert word_errors("a cat and a dog", "a cat and the a dog") == WordErrors(
        insertions=1, n_ref=5
    )
    empty = word_errors("one two three", "")
    assert empty.deletions == empty.n_ref and empty.wer == 1.0
    assert word_errors("the cat", "  ").wer == 1.0
    # insertions can push WER past 100 %
    assert word_errors("yes", "no no no").wer == 3.0
    with pytest.raises(ValueError, match="no words"):
        word_errors("?!", "hello")
    # corpus WER weighs by words, not by utterance
    assert corpus_rate([WordErrors(1, 0, 0, 1), WordErrors(0, 0, 0, 9)]) == pytest.approx(0.1)
    assert corpus_rate([]) is None
    assert WordErrors(1, 0, 0, 4).to_json() == {
        "substitutions": 1, "deletions": 0, "insertions": 0, "n_ref": 4, "wer": 0.25
    }  # fmt: skip


def test_char_errors_on_known_strings():
    # "the cat" against "the bat": one substitution in 7 characters (the space counts)
    c = char_errors("The cat!", "the bat")
    assert c == CharErrors(1, 0, 0, 7) and c.cer == pytest.approx(1 / 7)
    # a word split costs one inserted space; a merge one deleted space
    assert char_errors("cannot", "can not") == CharErrors(insertions=1, n_ref=6)
    assert char_errors("sea shell", "seashell") == CharErrors(deletions=1, n_ref=9)
    # normalised alike: no error for a number or a contraction written another way
    assert char_errors("Twenty-one sheep.", "21 sheep").cer == 0.0
    assert char_errors("Don't!", "do not").cer == 0.0
    assert char_errors("abc", "") == CharErrors(deletions=3, n_ref=3)
    assert char_errors("ab", "abab").cer == 1.0
    assert CharErrors(1, 1, 0, 8).to_json()["cer"] == 0.25
    with pytest.raises(ValueError, match="no words"):
        char_errors("...", "a")
    assert corpus_rate([CharErrors(2, 0, 0, 10), CharErrors(0, 0, 0, 30)]) == pytest.approx(0.05)


def test_corpus_stderr_by_hand():
    # equal lengths: the per-item rates' standard error of the mean (0.1, 0.3 -> 0.1)
    assert corpus_stderr([WordErrors(1, 0, 0, 10), WordErrors(3, 0, 0, 10)]) == pytest.approx(0.1)
    # unequal lengths: R = 4 / 20, residuals 1 - 0.2 * 5 = 0 and 3 - 0.2 * 15 = 0
    assert corpus_stderr([WordErrors(1, 0, 0, 5), WordErrors(3, 0, 0, 15)]) == 0.0
    # R = 3 / 20, residuals 3 - 1.5 = 1.5 and -1.5: sqrt(4.5 / 2) / 10
    se = corpus_stderr([CharErrors(3, 0, 0, 10), CharErrors(0, 0, 0, 10)])
    assert se == pytest.approx(0.15)
    assert corpus_stderr([WordErrors(1, 0, 0, 5)]) is None  # one item has no spread
    assert corpus_stderr([WordErrors(1, 0, 0, 5), WordErrors()]) is None  # no empty references


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
