from __future__ import annotations

import json

import numpy as np
import soundfile as sf
from recipe_helpers import needs_espeak, synthetic_config

from echovox.recipes.config import SyntheticConfig
from echovox.recipes.runner import run
from echovox.recipes.synthetic import clean_sentences, make_speakers


def test_clean_sentences_keeps_only_speakable_text():
    text = """This is a fine sentence to read aloud. Call 555-1234 now!
\t\t-- Somebody Famous
%
The NASA budget was cut. Mr. Smith went home today.
%
"Quoted speech is dropped," she said. Why not read this one too?
%
Short one.
"""
    got = clean_sentences(text)
    assert got == ["This is a fine sentence to read aloud.", "Why not read this one too?"]


@needs_espeak
def test_speakers_are_deterministic_and_stable_when_growing():
    notes = []
    a = make_speakers(SyntheticConfig(n_speakers=5, n_heldout_speakers=1), notes)
    b = make_speakers(SyntheticConfig(n_speakers=8, n_heldout_speakers=1), notes)
    assert [s.voice for s in a] == [s.voice for s in b[:5]]
    assert [s.pitch for s in a] == [s.pitch for s in b[:5]]
    assert [s.heldout for s in a] == [False] * 4 + [True]
    assert len({(s.voice, s.pitch, s.speed) for s in b}) == 8


@needs_espeak
def test_generated_tree_is_librilight_shaped_and_deterministic(tmp_path):
    cfg = synthetic_config(tmp_path / "a", n_speakers=2, n_heldout_speakers=1,
                           sentences_per_chapter=3)  # fmt: skip
    (report,) = run(cfg, 0, 0)
    assert report.counts["chapters"] == 2 and report.counts["held-out speakers"] == 1
    flacs = sorted((tmp_path / "a/corpus/small").glob("*/*/*.flac"))
    assert len(flacs) == 2
    meta = json.loads(flacs[0].with_suffix(".json").read_text())
    assert {"speaker", "book_meta", "snr", "voice_activity"} <= set(meta)
    spans = meta["voice_activity"]
    assert len(spans) == 3 and all(a < b for a, b in spans)
    assert all(spans[i][1] < spans[i + 1][0] for i in range(len(spans) - 1))
    wav, sr = sf.read(flacs[0])
    assert sr == 16000 and spans[-1][1] <= len(wav) / sr
    # speech where the spans say, near-silence in the pauses
    rms = lambda a, b: float(np.sqrt(np.mean(wav[int(a * sr) : int(b * sr)] ** 2)))  # noqa: E731
    assert rms(*spans[0]) > 10 * rms(spans[0][1] + 0.05, spans[1][0] - 0.05)
    rel = flacs[0].relative_to(tmp_path / "a/corpus")
    truth = json.loads((tmp_path / "a/corpus/transcripts" / rel.with_suffix(".json")).read_text())
    assert [s["start"] for s in truth["sentences"]] == [a for a, _ in spans]

    cfg_b = synthetic_config(tmp_path / "b", n_speakers=2, n_heldout_speakers=1,
                             sentences_per_chapter=3)  # fmt: skip
    run(cfg_b, 0, 0)
    other = tmp_path / "b/corpus" / rel
    assert np.array_equal(sf.read(other)[0], wav)
