"""Test lists: reading, writing, and building them from LibriSpeech-shaped trees and recipe
manifests."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from echovox.eval.testlist import (
    EvalListError,
    ListSpec,
    build_test_list,
    librispeech_utterances,
    load_test_list,
    synthetic_utterances,
    write_test_list,
)


def _item(tmp_path, **kw):
    wav = tmp_path / "p.wav"
    if not wav.exists():
        sf.write(str(wav), np.zeros(1600, np.float32), 16000)
    obj = dict(
        id="x",
        speaker="s",
        prompt_audio="p.wav",
        prompt_text="hello there",
        target_text="say this",
        reference_audio=None,
        mode="cross",
    )
    obj.update(kw)
    return obj


def test_test_list_round_trip_with_relative_paths(tmp_path):
    lst = tmp_path / "lists" / "t.jsonl"
    lst.parent.mkdir()
    sf.write(str(lst.parent / "p.wav"), np.zeros(800, np.float32), 16000)
    lines = [
        json.dumps(_item(tmp_path, id="a", reference_audio="p.wav", note=1)),
        "",
        json.dumps(_item(tmp_path, id="b", prompt_audio=str(lst.parent / "p.wav"))),
    ]
    lst.write_text("\n".join(lines))
    items = load_test_list(lst)
    assert [i.id for i in items] == ["a", "b"] and [i.line for i in items] == [1, 3]
    assert items[0].prompt_audio == lst.parent / "p.wav" and items[0].extra == {"note": 1}
    assert items[1].reference_audio is None
    again = load_test_list(write_test_list(tmp_path / "lists" / "copy.jsonl", items))
    assert [(i.prompt_audio, i.reference_audio) for i in again] == [
        (i.prompt_audio, i.reference_audio) for i in items
    ]
    assert json.loads((tmp_path / "lists" / "copy.jsonl").read_text().splitlines()[0])[
        "prompt_audio"
    ] == ("p.wav")


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", r"t.jsonl:2: not a JSON object"),
        ("[1, 2]", r"t.jsonl:2: expected a JSON object"),
        (json.dumps({"id": "y"}), r"t.jsonl:2: missing speaker, prompt_audio"),
        ("EMPTY_TARGET", r"t.jsonl:2 \(item y\): target_text is empty"),
        ("PUNCT_PROMPT", r"t.jsonl:2 \(item y\): prompt_text has no words"),
        ("MISSING_AUDIO", r"t.jsonl:2 \(item y\): reference_audio not found: .*nope.wav"),
        ("BAD_MODE", r"t.jsonl:2 \(item y\): mode must be one of"),
        ("SAME_ID", r"t.jsonl:2 \(item x\): id repeats line 1"),
    ],
)
def test_bad_test_list_lines_are_named(tmp_path, line, message):
    made = {
        "EMPTY_TARGET": _item(tmp_path, id="y", target_text="  "),
        "PUNCT_PROMPT": _item(tmp_path, id="y", prompt_text="?!"),
        "MISSING_AUDIO": _item(tmp_path, id="y", reference_audio="nope.wav"),
        "BAD_MODE": _item(tmp_path, id="y", mode="zero-shot"),
        "SAME_ID": _item(tmp_path, id="x"),
    }
    if line in made:
        line = json.dumps(made[line])
    lst = tmp_path / "t.jsonl"
    lst.write_text(json.dumps(_item(tmp_path)) + "\n" + line + "\n")
    with pytest.raises(EvalListError, match=message):
        load_test_list(lst)
    with pytest.raises(EvalListError, match="not found"):
        load_test_list(tmp_path / "absent.jsonl")
    (tmp_path / "blank.jsonl").write_text("\n\n")
    with pytest.raises(EvalListError, match="no items"):
        load_test_list(tmp_path / "blank.jsonl")


def test_make_list_from_a_librispeech_tree(librispeech_tree, tmp_path):
    utts = librispeech_utterances(librispeech_tree)
    assert len(utts) == 8 and {u.speaker for u in utts} == {"19", "26"}
    assert utts[0].text.startswith("The quick brown fox")  # sentence case, not letters
    spec = ListSpec(per_speaker=0, seed=3, modes=("cross", "continuation"))
    built = build_test_list(utts, tmp_path / "ls", spec, source="librispeech")
    items = load_test_list(built.path)
    assert built.path == tmp_path / "ls" / "test.jsonl"
    by_id = {u.id: u for u in utts}
    long_ids = {u.id for u in utts if 4.0 <= u.duration <= 10.0}
    assert len(long_ids) == 4, [(u.id, u.duration) for u in utts]
    assert {i.id for i in items} == {
        f"{m}_{u}" for u in long_ids for m in ("cross", "continuation")
    }
    for it in items:
        assert sf.info(str(it.reference_audio)).samplerate == 16000
        prompt = sf.info(str(it.prompt_audio))
        assert prompt.samplerate == 16000 and 1.0 <= prompt.duration <= 3.0
        assert it.prompt_audio.is_relative_to(tmp_path / "ls")
        target = by_id[it.id.split("_", 1)[1]]
        assert it.target_text in target.text or it.mode == "continuation"
        if it.mode == "cross":
            other = by_id[it.extra["prompt_utterance"]]
            # another utterance of the same speaker, a short one, with its whole transcript
            assert other.id != target.id and other.speaker == it.speaker
            assert other.duration <= 4.0 and it.prompt_text == other.text
        else:
            assert f"{it.prompt_text} {it.target_text}" == target.text
            assert it.prompt_text and it.target_text
    # fixed seeds: the same list again
    again = build_test_list(utts, tmp_path / "ls2", spec)
    assert [(i.id, i.prompt_text) for i in again.items] == [(i.id, i.prompt_text) for i in items]
    one = build_test_list(utts, tmp_path / "ls3", ListSpec(per_speaker=1, modes=("cross",)))
    assert sorted(i.speaker for i in one.items) == ["19", "26"]
    with pytest.raises(ValueError, match="modes"):
        ListSpec(modes=("sideways",))
    with pytest.raises(EvalListError, match="no test items"):
        build_test_list(utts, tmp_path / "none", ListSpec(min_seconds=30, max_seconds=40))


def test_make_list_from_synthetic_heldout_speakers(
    librispeech_tree, spoken_sentences, tmp_path, capsys
):
    """A recipe-shaped manifest: utterances are spans of chapter files, the held-out speakers
    are flagged in speakers.json and are the `test` split."""
    from datasets import Dataset

    from echovox.app.cli import main

    rows = {k: [] for k in ("id", "speaker", "path", "start", "end", "text", "split")}
    for n, (spk, sents) in enumerate(spoken_sentences.items()):
        sid = str(2000 + n)
        pieces, t = [], 0.0
        chapter = tmp_path / "corpus" / sid / "chapter_000.flac"
        chapter.parent.mkdir(parents=True)
        for i, (_, text) in enumerate(sents):
            wav, sr = sf.read(str(librispeech_tree / spk / "100" / f"{spk}-100-{i:04d}.flac"))
            gap = np.zeros(int(0.4 * sr))
            pieces += [wav, gap]
            rows["id"].append(f"{sid}_chapter_000_{i:04d}")
            rows["speaker"].append(sid)
            rows["path"].append(str(chapter))
            rows["start"].append(t)
            rows["end"].append(t + len(wav) / sr)
            rows["text"].append(text)
            rows["split"].append("test" if sid == "2000" else "train")
            t += (len(wav) + len(gap)) / sr
        sf.write(str(chapter), np.concatenate(pieces), sr)
    Dataset.from_dict(rows).save_to_disk(str(tmp_path / "phonemes"))
    speakers = tmp_path / "speakers.json"
    speakers.write_text(json.dumps([{"id": "2000", "heldout": True}, {"id": "2001"}]))

    by_split = synthetic_utterances(tmp_path / "phonemes")
    by_flag = synthetic_utterances(tmp_path / "phonemes", speakers)
    assert {u.speaker for u in by_split} == {u.speaker for u in by_flag} == {"2000"}
    assert len(by_flag) == 4 and by_flag[0].start == 0.0

    out = tmp_path / "heldout"
    main(
        [
            "eval",
            "make_list",
            str(out),
            "--synthetic",
            str(tmp_path / "phonemes"),
            "--speakers",
            str(speakers),
            "--modes",
            "cross",
            "--per-speaker",
            "5",
        ]
    )
    assert "2 items, 1 speakers" in capsys.readouterr().out
    items = load_test_list(out / "test.jsonl")
    for it in items:
        span = next(u for u in by_flag if f"cross_{u.id}" == it.id)
        # the segment was cut out of the chapter into a standalone file
        assert sf.info(str(it.reference_audio)).duration == pytest.approx(span.duration, abs=0.01)
    info = json.loads((out / "list_info.json").read_text())
    assert info["items"] == 2 and info["spec"]["modes"] == ["cross"]
    assert any("speaker 2000: only 2" in n for n in info["notes"])

    with pytest.raises(SystemExit, match="exactly one of --synthetic and --librispeech"):
        main(["eval", "make_list", str(out)])
    with pytest.raises(EvalListError, match="heldout"):
        synthetic_utterances(tmp_path / "phonemes", _write(tmp_path / "none.json", "[]"))


def _write(path, text):
    path.write_text(text)
    return path
