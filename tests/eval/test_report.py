"""results.md and results.json lead with the words table: its rows, order and ratios on
hand-made item records whose answers are worked out by hand."""

from __future__ import annotations

import pytest

from echovox.eval.report import aggregate, format_markdown, words_rows


def _errs(errors: int, n_ref: int, key: str) -> dict:
    return {"substitutions": errors, "deletions": 0, "insertions": 0, "n_ref": n_ref, key: None}


def _part(wer: int, cer: int, sim: float = 0.5) -> dict:
    """wer errors in 10 words, cer errors in 50 characters."""
    return {
        "wer": _errs(wer, 10, "wer"),
        "cer": _errs(cer, 50, "cer"),
        "sim_o": sim,
        "sim": sim,
        "speaker_id": {"correct": True},
        "seconds": 2.0,
        "synthesis_seconds": 1.0,
        "duration_ratio": 1.0,
    }


def _record(i: str, mode: str, gt, resyn, tf, out) -> dict:
    return {
        "id": i,
        "mode": mode,
        "line": 1,
        "status": "ok",
        "error": None,
        "ground_truth": gt,
        "resynthesis": resyn,
        "teacher_forced": tf,
        "output": out,
    }


@pytest.fixture
def records():
    return [
        # the model's part listed first: the table orders paths itself
        _record("c1", "cross", _part(1, 2), _part(1, 2), _part(2, 4), _part(3, 6)),
        _record("c2", "cross", _part(1, 2), _part(2, 4), _part(2, 4), _part(5, 10)),
        # no reference recording: the model's part counts in n, not in the ratio
        _record("c3", "cross", None, None, None, _part(10, 20)),
        _record("k1", "continuation", _part(2, 5), _part(2, 5), None, _part(4, 5)),
    ]


def test_words_rows_order_paths_and_modes_with_ratios(records):
    rows = words_rows(records)
    assert [(r["mode"], r["path"]) for r in rows] == [
        ("cross", "ground_truth"),
        ("cross", "resynthesis"),
        ("cross", "teacher_forced"),
        ("cross", "output"),
        ("continuation", "ground_truth"),
        ("continuation", "resynthesis"),
        ("continuation", "output"),
    ]
    gt, resyn, tf, out = rows[:4]
    assert gt["wer"] == pytest.approx(0.1) and gt["wer_ratio"] == pytest.approx(1.0)
    assert gt["wer_se"] == pytest.approx(0.0) and gt["cer"] == pytest.approx(0.04)
    assert resyn["wer"] == pytest.approx(0.15) and resyn["wer_ratio"] == pytest.approx(1.5)
    assert tf["cer"] == pytest.approx(0.08) and tf["cer_ratio"] == pytest.approx(2.0)
    # the model over c1..c3: 18 / 30; against the ground truth over c1, c2 only: 0.4 / 0.1
    assert out["n"] == 3 and out["n_paired"] == 2
    assert out["wer"] == pytest.approx(0.6) and out["wer_ratio"] == pytest.approx(4.0)
    assert out["cer_ratio"] == pytest.approx((16 / 100) / 0.04)
    assert out["wer_se"] > 0
    cont = rows[-1]
    assert cont["n"] == 1 and cont["wer_se"] is None and cont["wer_ratio"] == pytest.approx(2.0)
    assert cont["cer_ratio"] == pytest.approx(1.0)
    assert words_rows([r for r in records if r["mode"] == "cross"])[-1]["mode"] == "cross"


def test_markdown_leads_with_the_words_table(records):
    results = {
        "test_list": "t.jsonl",
        "model_dir": "M",
        "outputs": True,
        "asr": {"backend": "whisper", "model": "base"},
        "speaker_encoder": {"backend": "resemblyzer", "model": None},
        "seed": 0,
        "device": "cpu",
        "text_normalizer": "whisper EnglishTextNormalizer",
        "words": words_rows(records),
        "aggregate": {"all": aggregate(records)},
        "items": records,
    }
    md = format_markdown(results)
    words = md.index("## Words: WER and CER (whisper)")
    assert words < md.index("## all: 4 items")  # words first, then the voice
    assert "| mode | path | WER % | x ground truth | CER % | x ground truth | n |" in md
    assert "| cross-sentence | ground truth | 10.0 ± 0.0 | 1.00x | 4.0 ± 0.0 | 1.00x | 2 |" in md
    assert "| cross-sentence | codec resynthesis | 15.0 ± 5.0 | 1.50x |" in md
    assert "| continuation | model | 40.0 | 2.00x | 10.0 | 1.00x | 1 |" in md
    lines = md.splitlines()
    titles = ("ground truth |", "codec resynthesis |", "perfect AR (true q1 + NAR) |", "model |")
    order = [
        next(k for k, line in enumerate(lines) if line.startswith(f"| cross-sentence | {t}"))
        for t in titles
    ]
    assert order == sorted(order)
    assert "whisper EnglishTextNormalizer" in md
    # the voice tables keep SIM-o and speaker-ID, and no longer repeat WER
    assert "| SIM-o (resemblyzer) |" in md and "| WER % (" not in md
