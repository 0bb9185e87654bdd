"""Text normalisation: turn written text into the words a reader would say.

espeak-ng reads "$3.50" as "dollar three point five zero" and "10:30" digit by digit, so
everything with a conventional spoken form (money, times, years, ordinals, units, abbreviations)
is expanded here, before phonemisation. Number words come from num2words, which handles
cardinals, ordinals and years in many languages; the English-specific rules (what a "$" or
"p.m." says) are ours, because no maintained library covers them as a whole.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

from num2words import num2words

log = logging.getLogger(__name__)

ENGLISH = ("en-us", "en-gb")
# Languages whose numbers num2words can spell; espeak-ng speaks all of them. Text in these
# languages gets unicode clean-up and number expansion, not the English-only rules.
OTHER = {
    "de": "de",
    "es": "es",
    "fr-fr": "fr",
    "it": "it",
    "nl": "nl",
    "pt": "pt",
    "pl": "pl",
    "ru": "ru",
}
SUPPORTED_LANGUAGES: tuple[str, ...] = ENGLISH + tuple(OTHER)


class UnsupportedLanguageError(ValueError):
    pass


def canonical_language(language: str) -> str:
    """ "EN_us" -> "en-us"; a bare "en" means American English."""
    lang = language.strip().lower().replace("_", "-")
    return "en-us" if lang == "en" else lang


def check_language(language: str) -> str:
    lang = canonical_language(language)
    if lang not in SUPPORTED_LANGUAGES:
        raise UnsupportedLanguageError(
            f"unsupported language {language!r}; supported: {', '.join(SUPPORTED_LANGUAGES)}"
        )
    return lang


def check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError("text is empty or whitespace only: there is nothing to say")
    return text


# ---------------------------------------------------------------------------------------------
# unicode clean-up

_PUNCT_MAP = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2039": "'",
    "\u203a": "'",
    "\u2026": "...",
    "\u2013": " - ",  # en dash: ranges and asides
    "\u2014": ", ",  # em dash: a pause
    "\u2015": ", ",
    "\u2012": " - ",
    "\u2010": "-",
    "\u2011": "-",
    "\u2212": "-",  # minus sign
    "\u00a0": " ",
    "\u00d7": " times ",
    "\u00b0": " degrees ",
}
_PUNCT_RE = re.compile("|".join(map(re.escape, _PUNCT_MAP)))
# Characters that are not letters or digits but that we keep (espeak uses them as prosody cues
# or they are read by the rules below).
_KEEP = set(" .,;:!?'\"-()&@+%$/#=")
_CURRENCY_CHARS = set("€£$")


def _clean_unicode(text: str) -> str:
    text = _PUNCT_RE.sub(lambda m: _PUNCT_MAP[m.group(0)], text)
    # NFKC folds full-width forms, ligatures and superscripts into plain characters
    text = unicodedata.normalize("NFKC", text)
    text = "".join(" " if unicodedata.category(c) in ("Zs", "Cc", "Zl", "Zp") else c for c in text)
    return text


def _transliterate(text: str, english: bool) -> str:
    """Latin letters with diacritics become ASCII for English (espeak's English voice mangles
    them); characters espeak cannot say in this language (other scripts, emoji, symbols) are
    dropped with a warning instead of reaching espeak."""
    from unidecode import unidecode

    out: list[str] = []
    dropped: list[str] = []
    for c in text:
        if c.isascii():
            if c.isalnum() or c in _KEEP:
                out.append(c)
            else:
                dropped.append(c)
            continue
        if c in _CURRENCY_CHARS:
            out.append(c)
            continue
        cat = unicodedata.category(c)
        name = unicodedata.name(c, "")
        if cat.startswith("L") and "LATIN" in name:
            out.append(unidecode(c) if english else c)
        elif not english and cat.startswith("L"):
            out.append(c)  # e.g. Cyrillic for ru: espeak's voice for it reads it
        elif cat == "Nd":
            out.append(str(unicodedata.digit(c)))
        else:
            dropped.append(c)
    if dropped:
        shown = "".join(sorted(set(dropped)))[:40]
        log.warning("dropped %d character(s) that cannot be spoken: %r", len(dropped), shown)
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# English rules


def _words(n: int | float | str, lang: str = "en", to: str = "cardinal") -> str:
    return num2words(n, lang=lang, to=to).replace(",", "")


def _digits(s: str) -> str:
    """Read a digit string one digit at a time (phone numbers, codes, zip codes)."""
    names = "zero one two three four five six seven eight nine".split()
    return " ".join(names[int(d)] for d in s if d.isdigit())


_ABBREVIATIONS = {
    "mr": "mister",
    "mrs": "missus",
    "ms": "miz",
    "dr": "doctor",
    "prof": "professor",
    "jr": "junior",
    "sr": "senior",
    "ave": "avenue",
    "blvd": "boulevard",
    "rd": "road",
    "mt": "mount",
    "ft": "fort",
    "gen": "general",
    "gov": "governor",
    "sgt": "sergeant",
    "capt": "captain",
    "col": "colonel",
    "lt": "lieutenant",
    "rev": "reverend",
    "hon": "honorable",
    "vs": "versus",
    "etc": "et cetera",
    "approx": "approximately",
    "dept": "department",
    "est": "established",
    "inc": "incorporated",
    "ltd": "limited",
    "co": "company",
    "corp": "corporation",
    "jan": "January",
    "feb": "February",
    "mar": "March",
    "apr": "April",
    "jun": "June",
    "jul": "July",
    "aug": "August",
    "sep": "September",
    "sept": "September",
    "oct": "October",
    "nov": "November",
    "dec": "December",
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
_ABBREV_RE = re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\.", re.IGNORECASE)
# "St." is "Saint" before a name and "Street" after one.
_SAINT_RE = re.compile(r"\bSt\.(?=\s+[A-Z])")
_STREET_RE = re.compile(r"\bSt\.")
_LATIN_RE = [
    (re.compile(r"\be\.\s?g\.", re.IGNORECASE), "for example"),
    (re.compile(r"\bi\.\s?e\.", re.IGNORECASE), "that is"),
    (re.compile(r"\bNo\.(?=\s*\d)"), "number"),
]

_UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams"),
    "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "m": ("meter", "meters"),
    "ml": ("milliliter", "milliliters"),
    "l": ("liter", "liters"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "mi": ("mile", "miles"),
    "ft": ("foot", "feet"),
    "in": ("inch", "inches"),
    "h": ("hour", "hours"),
    "min": ("minute", "minutes"),
    "s": ("second", "seconds"),
    "kb": ("kilobyte", "kilobytes"),
    "mb": ("megabyte", "megabytes"),
    "gb": ("gigabyte", "gigabytes"),
    "hz": ("hertz", "hertz"),
    "khz": ("kilohertz", "kilohertz"),
}
# Only units glued to or right after a number are read as units ("5 m", "3kg"), and the
# ambiguous one-letter ones ("in", "s", "h", "m"...) only when nothing word-like follows.
_NUM = r"(-?\d+(?:\.\d+)?)"
_UNIT_RE = re.compile(
    _NUM
    + r"\s?("
    + "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True))
    + r")(?![\w/])(?!\s+[a-z])",
)
_UNIT_RE_STRICT = re.compile(_NUM + r"\s?(km/h|mph|kg|mg|km|cm|mm|ml|lbs?|oz|khz|hz)\b", re.I)

_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
}
_SCALES = "thousand|million|billion|trillion"
_MONEY_RE = re.compile(
    r"([$€£])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?:\s?(" + _SCALES + r"|[kKmMbB](?:n)?)\b)?"
)
_SCALE_ABBR = {"k": "thousand", "m": "million", "b": "billion", "bn": "billion"}
_PERCENT_RE = re.compile(r"(-?\d+(?:\.\d+)?)\s?%")
_TIME_RE = re.compile(
    r"\b([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?(?:\s*([aApP])\.?\s?[mM]\.?(?=\W|$))?"
)
_AMPM_RE = re.compile(r"\b(1[0-2]|0?[1-9])\s*([aApP])\.?\s?[mM]\.?(?=\W|$)")
_ORDINAL_RE = re.compile(r"\b(\d[\d,]*)(st|nd|rd|th)\b", re.IGNORECASE)
_DECADE_RE = re.compile(r"\b(1\d|20)?(\d)0'?s\b")
_PHONE_RE = re.compile(r"(?<![\w.])(\+?\d{1,3}[-.\s])?\(?\d{3}\)?[-.\s]\d{3}[-.\s]\d{4}\b")
_DASHED_DIGITS_RE = re.compile(r"\b\d+(?:-\d+){2,}\b")
_LEADING_ZERO_RE = re.compile(r"\b0\d+\b")
_THOUSANDS_RE = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")
_DECIMAL_RE = re.compile(r"(?<![\d.])(-?)(\d+)\.(\d+)(?!\.?\d)")
_DOTTED_RE = re.compile(r"\b\d+(?:\.\d+){2,}\b")  # version numbers, IP addresses
_RANGE_RE = re.compile(r"\b(\d+)\s?-\s?(\d+)\b")
_NEGATIVE_RE = re.compile(r"(?<![\w])-(\d)")
_INT_RE = re.compile(r"\d+")
_SYMBOLS = [
    (re.compile(r"\s*&\s*"), " and "),
    (re.compile(r"(?<=\w)@(?=\w)"), " at "),
    (re.compile(r"\s*@\s*"), " at "),
    (re.compile(r"\s*\+\s*"), " plus "),
    (re.compile(r"\s*=\s*"), " equals "),
    (re.compile(r"#(?=\d)"), "number "),
    (re.compile(r"#"), " hash "),
    (re.compile(r"(?<=\w)/(?=\w)"), " slash "),
]


def _cardinal(num: str) -> str:
    num = num.replace(",", "")
    if len(num.lstrip("-")) > 15:  # beyond quadrillions nobody reads the number as a whole
        return _digits(num)
    return _words(int(num))


def _decimal(sign: str, whole: str, frac: str) -> str:
    words = f"{_cardinal(whole)} point {_digits(frac)}"
    return f"minus {words}" if sign else words


def _year(n: int) -> str:
    return _words(n, to="year")


def _money(m: re.Match) -> str:
    symbol, whole, frac, scale = m.groups()
    unit, units, sub, subs = _CURRENCIES[symbol]
    whole_n = int(whole.replace(",", ""))
    if scale:
        scale = _SCALE_ABBR.get(scale.lower(), scale.lower())
        amount = f"{_cardinal(whole)} point {_digits(frac)}" if frac else _cardinal(whole)
        return f" {amount} {scale} {units} "
    parts = []
    if whole_n or not frac:
        parts.append(f"{_cardinal(whole)} {unit if whole_n == 1 else units}")
    if frac:
        cents = int((frac + "0")[:2]) if len(frac) <= 2 else round(float("0." + frac) * 100)
        if cents:
            parts.append(f"{_words(cents)} {sub if cents == 1 else subs}")
    if not parts:
        parts.append(f"zero {units}")
    return " " + " ".join(parts) + " "


def _ends_sentence(m: re.Match) -> str:
    """'.' when an abbreviation's period also ended the sentence ("at 7 p.m. Then ...")."""
    if not m.group(0).endswith("."):
        return ""
    rest = m.string[m.end() :]
    return "." if not rest.strip() or re.match(r"\s+[A-Z\"']", rest) else ""


def _time(m: re.Match) -> str:
    hour, minute, second, ampm = m.groups()
    h, mi = int(hour), int(minute)
    if mi == 0:
        words = f"{_words(h)}" + ("" if ampm else " o'clock") if h else "zero hundred"
    elif mi < 10:
        words = f"{_words(h)} oh {_words(mi)}"
    else:
        words = f"{_words(h)} {_words(mi)}"
    if second and int(second):
        words += f" and {_words(int(second))} seconds"
    if ampm:
        words += f" {ampm.lower()} m"
    return f" {words}{_ends_sentence(m)} "


def _unit(m: re.Match) -> str:
    num, unit = m.groups()
    key = unit if unit in _UNITS else unit.lower()
    one, many = _UNITS[key]
    spoken = _decimal("", *num.lstrip("-").split(".")) if "." in num else _cardinal(num.lstrip("-"))
    if num.startswith("-"):
        spoken = "minus " + spoken
    return f" {spoken} {one if num in ('1', '-1') else many} "


def _decade(m: re.Match) -> str:
    century, decade = m.groups()
    if century is None:  # "the 90s"
        return _words(int(decade) * 10).replace("ty", "ties")
    year = _year(int(century + decade + "0"))
    return year[:-1] + "ies" if year.endswith("y") else year + "s"


def _number(m: re.Match) -> str:
    s = m.group(0)
    n = int(s)
    # A bare four-digit number from 1100 to 2099 is nearly always a year in running text.
    if len(s) == 4 and 1100 <= n <= 2099 and n % 1000 != 0:
        return _year(n)
    return _cardinal(s)


def _normalize_english(text: str) -> str:
    for pattern, repl in _LATIN_RE:
        text = pattern.sub(repl, text)
    text = _SAINT_RE.sub("Saint", text)
    text = _STREET_RE.sub("Street", text)

    def _abbrev(m: re.Match) -> str:
        word = _ABBREVIATIONS[m.group(1).lower()]
        # "etc." usually ends a sentence too; titles ("Dr. Smith") never do
        return word + (_ends_sentence(m) if word == "et cetera" else "")

    text = _ABBREV_RE.sub(_abbrev, text)
    text = _MONEY_RE.sub(_money, text)
    text = _PERCENT_RE.sub(
        lambda m: (
            " "
            + (_decimal("", *m.group(1).lstrip("-").split(".")) if "." in m.group(1) else "")
            + ("" if "." in m.group(1) else _cardinal(m.group(1).lstrip("-")))
            + " percent "
        ),
        text,
    )
    text = _TIME_RE.sub(_time, text)
    text = _AMPM_RE.sub(
        lambda m: f" {_words(int(m.group(1)))} {m.group(2).lower()} m{_ends_sentence(m)} ", text
    )
    text = _PHONE_RE.sub(lambda m: " " + ", ".join(_digit_groups(m.group(0))) + " ", text)
    text = _DASHED_DIGITS_RE.sub(lambda m: " " + ", ".join(_digit_groups(m.group(0))) + " ", text)
    text = _ORDINAL_RE.sub(lambda m: _words(int(m.group(1).replace(",", "")), to="ordinal"), text)
    text = _DECADE_RE.sub(_decade, text)
    text = _UNIT_RE_STRICT.sub(_unit, text)
    text = _UNIT_RE.sub(_unit, text)
    text = _LEADING_ZERO_RE.sub(lambda m: _digits(m.group(0)), text)
    text = _THOUSANDS_RE.sub(lambda m: _cardinal(m.group(0)), text)
    text = _DOTTED_RE.sub(lambda m: " point ".join(map(_cardinal, m.group(0).split("."))), text)
    text = _DECIMAL_RE.sub(lambda m: _decimal(*m.groups()), text)
    text = _RANGE_RE.sub(lambda m: f"{_number(_m(m.group(1)))} to {_number(_m(m.group(2)))}", text)
    text = _NEGATIVE_RE.sub(r"minus \1", text)
    text = _INT_RE.sub(_number, text)
    for pattern, repl in _SYMBOLS:
        text = pattern.sub(repl, text)
    return text


def _m(s: str) -> re.Match:
    return re.fullmatch(r"\d+", s)  # type: ignore[return-value]


def _digit_groups(s: str) -> list[str]:
    groups = re.findall(r"\d+", s)
    words = [_digits(g) for g in groups]
    if s.lstrip().startswith("+"):
        words[0] = "plus " + words[0]
    return words


def _normalize_other(text: str, lang: str) -> str:
    code = OTHER[lang]
    text = _THOUSANDS_RE.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _PERCENT_RE.sub(lambda m: f"{m.group(1)} %", text)
    text = _DECIMAL_RE.sub(
        lambda m: ("-" if m.group(1) else "") + _words(float(m.group(2) + "." + m.group(3)), code),
        text,
    )
    return _INT_RE.sub(lambda m: _words(int(m.group(0)), code), text)


_SPACE_RE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+([.,;:!?])")
_REPEAT_PUNCT_RE = re.compile(r"([,;:])(?:\s*[,;:])+")


@lru_cache(maxsize=4096)
def _normalize_cached(text: str, lang: str) -> str:
    english = lang in ENGLISH
    text = _clean_unicode(text)
    text = _transliterate(text, english)
    text = _normalize_english(text) if english else _normalize_other(text, lang)
    text = _REPEAT_PUNCT_RE.sub(r"\1", text)
    text = _SPACE_RE.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", text)
    return text.strip(" ,;:")


def normalize(text: str, language: str = "en-us") -> str:
    """Expand written text into speakable words.

    Args:
        text: any unicode text.
        language: an espeak-ng language code; see SUPPORTED_LANGUAGES.

    Returns:
        The text as words and punctuation; may be empty when nothing speakable was left
        (e.g. only emoji), in which case a ValueError is raised instead.

    Raises:
        ValueError: empty or whitespace-only text, or nothing speakable left.
        UnsupportedLanguageError: the language is not supported; the message lists those that are.
    """
    lang = check_language(language)
    check_text(text)
    out = _normalize_cached(text, lang)
    if not any(c.isalnum() for c in out):
        raise ValueError(f"nothing speakable left after normalisation of {text[:60]!r}")
    return out
