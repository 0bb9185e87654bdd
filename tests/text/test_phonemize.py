import time

import pytest

from echovox.text import Phonemizer, TextFrontend
from echovox.text.symbols import WORD_BOUNDARY


@pytest.fixture(scope="module")
def phonemizer():
    return Phonemizer("en-us")


def test_tokens_keep_stress_words_and_punctuation(phonemizer):
    (tokens,) = phonemizer.phonemize(["hello world, how are you?"])
    assert tokens[:5] == ["h", "ə", "l", "ˈ", "oʊ"]
    assert tokens.count(WORD_BOUNDARY) == 4
    assert "," in tokens and tokens[-1] == "?"
    assert all(t.strip() == t and t for t in tokens)  # no stray spaces


def test_batch_keeps_alignment_with_empty_items(phonemizer):
    out = phonemizer.phonemize(["a", "", "b", "  "])
    assert len(out) == 4
    assert out[1] == [] and out[3] == []
    assert out[0] and out[2]


def test_words_map_to_phonemes(phonemizer):
    (words,) = phonemizer.phonemize_words(["the cat sat"])
    assert len(words) == 3
    assert words[1] == ["k", "ˈ", "æ", "t"]


def test_single_string_is_rejected(phonemizer):
    with pytest.raises(TypeError):
        phonemizer.phonemize("not a list")  # type: ignore[arg-type]


def test_unsupported_language_lists_supported():
    with pytest.raises(ValueError, match="en-us"):
        Phonemizer("xx-nonexistent")


def test_other_language_works():
    (tokens,) = Phonemizer("de").phonemize(["guten Tag"])
    assert tokens and WORD_BOUNDARY in tokens


def test_frontend_ids_are_in_vocabulary():
    frontend = TextFrontend()
    ids = frontend.ids("Dr. Smith paid $3.50 on Jan. 5th.")
    assert ids and all(0 <= i < len(frontend.symbols) for i in ids)
    assert frontend.symbols.unk_id not in ids


def test_packed_chunks_join_sentences_as_training_utterances_are():
    frontend = TextFrontend()
    text = "It was late. The rain had stopped! Was anyone there?"
    (packed,) = frontend.chunks(text, max_chars=200, pack=True)
    assert packed.tokens == frontend.phonemes(text)  # sentences joined by a word boundary
    assert packed.ids == frontend.symbols.encode(packed.tokens)
    assert len(frontend.chunks(text, max_chars=200)) == 3  # unpacked: one chunk a sentence
    small = frontend.chunks(text, max_chars=35, pack=True)  # the first two fit in 34
    assert [c.normalized for c in small] == [
        "It was late. The rain had stopped!",
        "Was anyone there?",
    ]


def test_huge_input_is_chunked_in_bounded_time():
    frontend = TextFrontend()
    sentence = "The 3 quick foxes paid $4.20 at 10:30, and then they ran home! "
    text = (sentence * (100_000 // len(sentence) + 1))[:100_000]
    t0 = time.perf_counter()
    chunks = frontend.chunks(text)
    elapsed = time.perf_counter() - t0
    assert len(chunks) > 1000
    assert all(len(c.normalized) <= 250 for c in chunks)
    assert elapsed < 60  # generous bound for a loaded 2-core CI machine; ~1 s typical
