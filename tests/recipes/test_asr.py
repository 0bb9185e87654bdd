"""Stage 3's own backend: the synthetic corpus's true transcripts."""

from __future__ import annotations

import json

from echovox.recipes.asr import ReferenceAsr


def test_reference_lookup_refuses_a_cut_sentence(tmp_path):
    root = tmp_path / "corpus"
    audio = root / "small/1/b/c.flac"
    truth = root / "transcripts/small/1/b/c.json"
    truth.parent.mkdir(parents=True)
    sents = [{"start": 1.0, "end": 3.0, "text": "One."}, {"start": 3.5, "end": 6.0, "text": "Two."}]
    truth.write_text(json.dumps({"sentences": sents}))
    ref = ReferenceAsr(str(root))
    assert ref.lookup(str(audio), 0.9, 6.1) == "One. Two."
    assert ref.lookup(str(audio), 3.4, 6.1) == "Two."
    assert ref.lookup(str(audio), 2.0, 6.1) == ""  # half of "One." is inside: no transcript
