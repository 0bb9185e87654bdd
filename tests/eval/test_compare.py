"""`echovox eval compare`: paired per-item statistics of two `eval run` results, on hand-made
results whose answers are worked out by hand."""

from __future__ import annotations

import json
import math

import pytest

from echovox.eval.compare import (
    ResultsError,
    compare_results,
    format_compare_markdown,
    load_results,
    paired_stat,
    ship_verdict,
)


def _errors(errors: int, n_ref: int, key: str = "wer") -> dict:
    return {
        "substitutions": errors,
        "deletions": 0,
        "insertions": 0,
        "n_ref": n_ref,
        key: errors / n_ref,
    }


def _part(
    sim: float,
    errors: int,
    correct: bool,
    duration_ratio: float | None = None,
    char_errors: int | None = None,
) -> dict:
    """errors in 10 words; char_errors (default: errors) in 50 characters."""
    part = {
        "sim_o": sim,
        "wer": _errors(errors, 10),
        "cer": _errors(errors if char_errors is None else char_errors, 50, "cer"),
        "speaker_id": {"correct": correct},
    }
    if duration_ratio is not None:
        part["duration_ratio"] = duration_ratio
    return part


def _results(rows, asr="whisper", teacher_forced=None) -> dict:
    """rows: (id, output part or None); teacher_forced: id -> part."""
    items = [
        {
            "id": i,
            "status": "ok" if out else "failed",
            "output": out,
            "resynthesis": None,
            "teacher_forced": (teacher_forced or {}).get(i),
        }
        for i, out in rows
    ]
    return {
        "test_list": "list/test.jsonl",
        "model_dir": "M",
        "asr": {"backend": asr, "model": None},
        "speaker_encoder": {"backend": "resemblyzer", "model": None},
        "items": items,
    }


def test_paired_stat_by_hand():
    s = paired_stat([0.5, 0.6, 0.7], [0.6, 0.6, 0.9])
    # differences 0.1, 0, 0.2: mean 0.1, sample standard deviation 0.1
    assert s["n"] == 3 and s["higher"] == 2 and s["lower"] == 0
    assert s["a"] == pytest.approx(0.6) and s["b"] == pytest.approx(0.7)
    assert s["diff"] == pytest.approx(0.1)
    assert s["stderr"] == pytest.approx(0.1 / math.sqrt(3))
    assert paired_stat([1.0], [0.0])["stderr"] is None  # one pair has no spread
    assert paired_stat([], [])["n"] == 0
    with pytest.raises(ValueError, match="same length"):
        paired_stat([1.0, 2.0], [1.0])


def test_compare_pairs_items_by_id_and_part():
    a = _results(
        [
            ("x", _part(0.60, 5, False, 1.2)),
            ("y", _part(0.70, 2, True, 1.0)),
            ("z", _part(0.80, 4, True, 0.9)),
            ("only_a", _part(0.10, 10, False, 3.0)),
        ],
        teacher_forced={"x": _part(0.7, 3, True)},
    )
    # listed in another order, one item failed, one new item
    b = _results(
        [
            ("z", _part(0.80, 1, False, 1.0)),
            ("x", _part(0.70, 5, True, 1.0)),
            ("y", None),
            ("only_b", _part(0.99, 0, True, 1.0)),
        ],
        asr="transformers",
        teacher_forced={"x": _part(0.75, 2, True)},
    )
    cmp = compare_results(a, b)
    assert cmp["n_common"] == 3
    assert any("different ASR" in n for n in cmp["notes"])
    assert any("1 item(s) only in A and 1 only in B" in n for n in cmp["notes"])
    out = cmp["parts"]["output"]
    # y failed in B, so only x and z pair: SIM-o +0.1 and 0, WER 0 and -0.3
    assert out["sim_o"]["n"] == 2 and out["sim_o"]["diff"] == pytest.approx(0.05)
    assert out["sim_o"]["higher"] == 1 and out["sim_o"]["lower"] == 0
    assert out["wer"]["diff"] == pytest.approx(-0.15) and out["wer"]["lower"] == 1
    # speaker-ID: x gained, z lost
    assert out["speaker_id"]["higher"] == 1 and out["speaker_id"]["lower"] == 1
    assert out["speaker_id"]["diff"] == pytest.approx(0.0)
    assert out["duration_ratio"]["diff"] == pytest.approx((-0.2 + 0.1) / 2)
    # corpus WER over the paired items: A (5 + 4) / 20, B (5 + 1) / 20
    assert out["corpus_wer"] == {"n": 2, "a": pytest.approx(0.45), "b": pytest.approx(0.30)}
    tf = cmp["parts"]["teacher_forced"]
    assert tf["sim_o"]["n"] == 1 and tf["sim_o"]["diff"] == pytest.approx(0.05)
    assert tf["sim_o"]["stderr"] is None and "duration_ratio" not in tf
    assert "resynthesis" not in cmp["parts"]  # scored by neither run

    md = format_compare_markdown(cmp)
    assert "## output" in md and "## true q1 + NAR" in md and "codec resynthesis" not in md
    assert "| SIM-o | 2 | 0.7000 | 0.7500 | +0.0500 |" in md
    assert "| WER % (corpus) | 2 | 45.0 | 30.0 | -15.0 |" in md
    assert "| speaker-ID % | 2 | 50.0 | 50.0 | +0.0 |" in md
    assert out["corpus_cer"] == {"n": 2, "a": pytest.approx(0.09), "b": pytest.approx(0.06)}
    assert "| CER % (corpus) | 2 | 9.0 | 6.0 | -3.0 |" in md
    # no word rate rose; true q1 + NAR's WER fell on its one pair (no SE: any move counts)
    assert cmp["verdict"]["verdict"] == "better" and not cmp["verdict"]["rose"]
    assert md.index("verdict: better words") < md.index("## output")


def test_compare_refuses_what_cannot_be_paired(tmp_path):
    a = _results([("x", _part(0.6, 1, True, 1.0))])
    b = _results([("w", _part(0.6, 1, True, 1.0))])
    with pytest.raises(ResultsError, match="share no item ids"):
        compare_results(a, b)

    with pytest.raises(ResultsError, match="no such results file"):
        load_results(tmp_path / "missing")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ResultsError, match="not readable JSON"):
        load_results(bad)
    bad.write_text(json.dumps({"aggregate": {}}))
    with pytest.raises(ResultsError, match="not an `echovox eval run` results file"):
        load_results(bad)
    bad.write_text(json.dumps(_results([("x", None), ("x", None)])))
    with pytest.raises(ResultsError, match="ids repeat"):
        load_results(bad)


def test_compare_from_the_cli(tmp_path, capsys):
    from echovox.app.cli import main

    for name, sims in (("a", (0.6, 0.7)), ("b", (0.65, 0.8))):
        (tmp_path / name).mkdir()
        rows = [(f"i{k}", _part(s, 2, True, 1.0)) for k, s in enumerate(sims)]
        (tmp_path / name / "results.json").write_text(json.dumps(_results(rows)))
    out = tmp_path / "cmp" / "compare.json"
    main(
        [
            "eval",
            "compare",
            str(tmp_path / "a"),
            str(tmp_path / "b" / "results.json"),
            "--output",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert "| SIM-o | 2 | 0.6500 | 0.7250 | +0.0750 | 0.0250 | 2 | 0 |" in printed
    assert "verdict: same words" in printed
    saved = json.loads(out.read_text())
    assert saved["format"] == "echovox-eval-compare-v1"
    assert saved["parts"]["output"]["sim_o"]["diff"] == pytest.approx(0.075)

    with pytest.raises(SystemExit, match="eval compare: .*no such results file"):
        main(["eval", "compare", str(tmp_path / "a"), str(tmp_path / "nowhere")])


def _runs(wer_a, wer_b, sim_a=0.6, sim_b=0.6, cer_b=None):
    """A and B of len(wer_a) items: output WER errors in 10 words per item."""
    a = _results([(f"i{k}", _part(sim_a, e, True, 1.0)) for k, e in enumerate(wer_a)])
    b = _results(
        [
            (f"i{k}", _part(sim_b, e, True, 1.0, None if cer_b is None else cer_b[k]))
            for k, e in enumerate(wer_b)
        ]
    )
    return a, b


def test_ship_rule_flags_words_lost_whatever_sim_o_gains():
    # WER +0.2, +0.3, +0.2, +0.3: mean +0.25, SE 0.029; SIM-o +0.3 on every item
    a, b = _runs([2, 2, 2, 2], [4, 5, 4, 5], sim_b=0.9)
    cmp = compare_results(a, b)
    v = cmp["verdict"]
    assert v["verdict"] == "worse"
    assert [(m["part"], m["metric"]) for m in v["rose"]] == [("output", "wer"), ("output", "cer")]
    assert v["rose"][0]["diff"] == pytest.approx(0.25) and v["rose"][0]["n"] == 4
    assert v["line"].startswith("verdict: worse, does not ship: output WER +25.0 points (SE 2.9)")
    assert "output SIM-o +0.300" in v["line"]
    md = format_compare_markdown(cmp)
    assert "verdict: worse" in md and "| SIM-o | 4 | 0.6000 | 0.9000 | +0.3000 |" in md

    # CER alone rising beyond noise is enough, as is any one part
    a, b = _runs([2, 2, 2, 2], [2, 2, 2, 2], cer_b=[4, 5, 4, 5])
    assert [m["metric"] for m in compare_results(a, b)["verdict"]["rose"]] == ["cer"]
    a["items"][0]["teacher_forced"] = _part(0.5, 1, True)
    b["items"][0]["teacher_forced"] = _part(0.5, 2, True)  # one pair: any rise counts
    rose = compare_results(a, b)["verdict"]["rose"]
    assert ("teacher_forced", "wer") in [(m["part"], m["metric"]) for m in rose]


def test_ship_rule_lets_noise_pass():
    # WER +0.3, -0.1, +0.1, -0.1: mean +0.05 under its SE 0.096, SIM-o up: words the same
    a, b = _runs([2, 2, 2, 2], [5, 1, 3, 1], sim_b=0.7)
    v = compare_results(a, b)["verdict"]
    assert v["verdict"] == "same" and not v["rose"] and not v["fell"]
    assert "SIM-o, speaker-ID and speed decide" in v["line"]
    # the same items, better: WER -0.2, -0.3, -0.2, -0.3
    a, b = _runs([4, 5, 4, 5], [2, 2, 2, 2])
    v = compare_results(a, b)["verdict"]
    assert v["verdict"] == "better" and {m["metric"] for m in v["fell"]} == {"wer", "cer"}
    # no words scored in both runs: no verdict about them
    assert ship_verdict({"output": {"sim_o": paired_stat([0.5], [0.6])}})["verdict"] == "none"


def test_ship_rule_can_be_left_out(tmp_path, capsys):
    from echovox.app.cli import main

    a, b = _runs([2, 2, 2, 2], [4, 5, 4, 5], sim_b=0.9)
    cmp = compare_results(a, b, ship_rule=False)
    assert cmp["verdict"] is None and "verdict" not in format_compare_markdown(cmp)
    assert cmp["parts"]["output"]["wer"]["diff"] == pytest.approx(0.25)
    for name, res in (("a", a), ("b", b)):
        (tmp_path / f"{name}.json").write_text(json.dumps(res))
    main(["eval", "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert "verdict: worse" in capsys.readouterr().out
    args = ["eval", "compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    main([*args, "--ship_rule", "false"])
    printed = capsys.readouterr().out
    assert "verdict" not in printed and "| WER % (per item) | 4 |" in printed
