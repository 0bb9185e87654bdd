from echovox.text import normalize, split_sentences


def test_sentences():
    text = 'Hello there. How are you? I am fine! "Quoted." Next one... and more. Wait... What?'
    assert split_sentences(text) == [
        "Hello there.",
        "How are you?",
        "I am fine!",
        '"Quoted."',
        "Next one... and more.",
        "Wait...",
        "What?",
    ]


def test_abbreviations_do_not_split_after_normalisation():
    assert (
        len(split_sentences(normalize("Dr. Smith met Mr. Jones at 7 p.m. on Main St. today."))) == 1
    )


def test_long_sentences_are_split_and_words_kept():
    text = "one two three, four five six; " * 40 + "end."
    chunks = split_sentences(text, max_chars=50)
    assert all(0 < len(c) <= 50 for c in chunks)
    assert " ".join(chunks).split() == text.split()


def test_word_longer_than_chunk():
    chunks = split_sentences("x" * 95, max_chars=30)
    assert all(len(c) <= 30 for c in chunks) and "".join(chunks) == "x" * 95


def test_min_chars_joins_short_sentences():
    assert split_sentences("Hi. Yes. No. This one is longer.", min_chars=10) == [
        "Hi. Yes. No.",
        "This one is longer.",
    ]


def test_empty():
    assert split_sentences("   ") == []
