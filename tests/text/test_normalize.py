import logging

import pytest

from echovox.text import SUPPORTED_LANGUAGES, UnsupportedLanguageError, normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # cardinals, thousands, decimals, negatives
        ("I have 42 apples.", "I have forty-two apples."),
        ("Population 1,234,567.", "Population one million two hundred and thirty-four thousand"),
        ("Pi is 3.14.", "Pi is three point one four."),
        ("It was -5 outside", "It was minus five outside"),
        # ordinals
        ("the 3rd and 21st and 100th", "the third and twenty-first and one hundredth"),
        # years and decades
        ("In 2024 and 1984.", "In twenty twenty-four and nineteen eighty-four."),
        ("the 1990s", "the nineteen nineties"),
        # times
        ("at 10:30", "at ten thirty"),
        ("at 7 p.m. Then", "at seven p m. Then"),
        ("at 7:05am", "at seven oh five a m"),
        ("at 9:00", "at nine o'clock"),
        # digit strings
        ("Call 555-123-4567", "Call five five five, one two three, four five six seven"),
        ("code 007", "code zero zero seven"),
        # money and percent
        ("$3.50", "three dollars fifty cents"),
        ("$1", "one dollar"),
        ("€20", "twenty euros"),
        ("£1.05", "one pound five pence"),
        ("$2.5 million", "two point five million dollars"),
        ("$0.99", "ninety-nine cents"),
        ("45% and 3.5%", "forty-five percent and three point five percent"),
        # units
        ("80 kg", "eighty kilograms"),
        ("1 km", "one kilometer"),
        ("3.5 m", "three point five meters"),
        ("12cm", "twelve centimeters"),
        # abbreviations
        ("Dr. Smith and Mr. and Mrs. Jones", "doctor Smith and mister and missus Jones"),
        ("St. Peter on Main St. now", "Saint Peter on Main Street now"),
        ("5th Ave. is busy", "fifth avenue is busy"),
        ("apples, pears, etc.", "apples, pears, et cetera."),
        ("fruit, e.g. apples, i.e. food", "fruit, for example apples, that is food"),
        ("cats vs. dogs", "cats versus dogs"),
        # symbols
        ("Tom & Jerry", "Tom and Jerry"),
        ("me@home", "me at home"),
        ("2+2", "two plus two"),
        # unicode quotes, dashes, ellipses
        ("\u201cHi\u201d \u2018there\u2019", "\"Hi\" 'there'"),
        ("wait\u2014no", "wait, no"),
        ("so\u2026 yes", "so... yes"),
        ("caf\u00e9 na\u00efve", "cafe naive"),
        ("\uff11\uff12 apples", "twelve apples"),  # full-width digits
    ],
)
def test_english_cases(text, expected):
    assert normalize(text).startswith(expected)


def test_issue_example():
    assert (
        normalize("Dr. Smith paid $3.50 on Jan. 5th.")
        == "doctor Smith paid three dollars fifty cents on January fifth."
    )


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_is_a_value_error(text):
    with pytest.raises(ValueError, match="empty"):
        normalize(text)


def test_non_string_is_a_type_error():
    with pytest.raises(TypeError):
        normalize(None)  # type: ignore[arg-type]


def test_unsupported_language_lists_the_supported_ones():
    with pytest.raises(UnsupportedLanguageError) as err:
        normalize("hello", language="klingon")
    for lang in SUPPORTED_LANGUAGES:
        assert lang in str(err.value)


def test_unspeakable_characters_are_dropped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        out = normalize("hello \u4e2d\u6587 \U0001f600 world")
    assert out == "hello world"
    assert "dropped" in caplog.text


def test_only_unspeakable_characters_is_a_clear_error():
    with pytest.raises(ValueError, match="nothing speakable"):
        normalize("\U0001f600\U0001f600")


def test_other_language_numbers():
    assert normalize("Ich habe 3 Katzen.", language="de") == "Ich habe drei Katzen."
    assert "trois" in normalize("J'ai 3 chats.", language="fr-fr")


def test_huge_number_is_read_digit_by_digit():
    assert normalize("1" * 30).split() == ["one"] * 30
