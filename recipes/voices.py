"""Which synthetic voice families train models and which are kept for our own evaluation.

A model that must clone unseen voices has to be judged on voices it never heard, and a voice
family (one mbrola diphone set, one espeak-ng variant) is what makes voices alike: two
speakers built on the same diphones differ far less than two families do. So whole families
are held out, for every model this project trains (codec, AR, NAR): they appear only in the
held-out evaluation sets, never in training.

Held out: two native English mbrola voices (us3, American male; en1, British male), two
accented ones (de4, sw2), and eight espeak-ng variants spread over male, female and Klatt
voices. Everything else trains. (The festival voices, real recordings other than Debian's
asterisk prompts, and the Harvard sentences are reserved for independent evaluation and are
used by nothing here.)
"""

from __future__ import annotations

MBROLA_NATIVE = ("us1", "us2", "us3", "en1")
MBROLA_ALL = (
    "us1", "us2", "us3", "en1", "af1", "nl2", "fr1", "fr4", "de1", "de2", "de3", "de4", "de5",
    "de6", "gr2", "hu1", "pl1", "ro1", "sw1", "sw2",
)  # fmt: skip
MBROLA_HELDOUT = ("us3", "en1", "de4", "sw2")
# fr4 and de6 are neither trained on nor evaluated: the first corpus that used this split
# (recipes/codec) drew its training voices from the list below, and it stays as it was
MBROLA_TRAIN = tuple(v for v in MBROLA_ALL if v not in MBROLA_HELDOUT and v not in ("fr4", "de6"))
ESPEAK_BASES = (
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd", "en-us-nyc",
)  # fmt: skip
ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
    "klatt3", "Andy", "Annie", "Denis", "Gene", "Hugo", "Lee", "Mike", "Storm", "aunty",
    "belinda", "david", "edward", "linda", "max", "norbert", "paul", "rob", "steph", "travis",
    "victor", "zac", "adam", "john", "michel", "quincy",
)  # fmt: skip
ESPEAK_HELDOUT = ("f4", "m6", "klatt3", "Annie", "Hugo", "travis", "belinda", "zac")
ESPEAK_TRAIN = tuple(v for v in ESPEAK_VARIANTS if v not in ESPEAK_HELDOUT)


def mbrola_voice(name: str) -> str:
    """espeak-ng's voice name for an mbrola voice: native English ones directly, the others
    through their "-en" mapping of English phonemes onto their diphones."""
    return f"mb-{name}" if name in MBROLA_NATIVE else f"mb-{name}-en"


def is_heldout_family(family: str) -> bool:
    """family: "mb-<voice>" or "es-<variant>", as the corpora record it."""
    kind, _, name = family.partition("-")
    return name in (MBROLA_HELDOUT if kind == "mb" else ESPEAK_HELDOUT)
