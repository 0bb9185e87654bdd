"""`echovox eval run`: a whole run on espeak-ng speech with the tiny random model (which says
nothing intelligible: the run checks plumbing)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from echovox.eval.metrics import normalize_for_wer
from echovox.eval.run import RunOptions, run_evaluation
from echovox.eval.testlist import (
    EvalItem,
    ListSpec,
    build_test_list,
    librispeech_utterances,
    write_test_list,
)


@pytest.fixture(scope="module")
def run_list(librispeech_tree, tmp_path_factory):
    """Three items: cross (speaker 19), continuation (speaker 26), and one whose prompt is too
    short for the Synthesizer, so it must fail alone."""
    utts = librispeech_utterances(librispeech_tree)
    out = tmp_path_factory.mktemp("runlist")
    built = build_test_list(
        utts, out, ListSpec(per_speaker=1, seed=0, modes=("cross", "continuation"))
    )
    keep = [
        next(i for i in built.items if i.mode == "cross" and i.speaker == "19"),
        next(i for i in built.items if i.mode == "continuation" and i.speaker == "26"),
    ]
    sf.write(str(out / "short.wav"), np.zeros(4000, np.float32), 16000)
    keep.append(
        EvalItem(
            id="too_short",
            speaker="19",
            prompt_audio=out / "short.wav",
            prompt_text="nothing",
            target_text="This cannot be said.",
            reference_audio=None,
            mode="cross",
        )
    )
    return write_test_list(out / "three.jsonl", keep)


def test_run_scores_outputs_against_ground_truth(
    synth, run_list, tiny_wavlm, tmp_path, one_thread, monkeypatch
):
    # the tiny model's NAR table (1200 frames at 250 frames/s) cannot hold a 3 s prompt and a
    # 4.5 s reference, so the first-codebook completion (tested in test_synthesizer) is stood
    # in for by the codec round trip here, where the run's handling of it is under test
    calls = []

    def complete(wav, sr, text, prompt, prompt_text):
        calls.append((text, prompt, prompt_text))
        return synth.resynthesize(wav, sr)

    monkeypatch.setattr(synth, "complete_first_codebook", complete)
    opts = RunOptions(speaker_encoder="wavlm", speaker_model=str(tiny_wavlm), seed=5, device="cpu")
    run = run_evaluation(run_list, tmp_path / "run", opts, synthesizer=synth, show_progress=False)
    res = json.loads(run.json_path.read_text())
    assert res["asr"]["backend"] == "whisper" and res["speaker_encoder"]["backend"] == "wavlm"
    assert res["seed"] == 5 and res["versions"]["torch"] and res["versions"]["jiwer"]
    assert set(res["aggregate"]) == {"all", "cross", "continuation"}

    items = {r["id"]: r for r in res["items"]}
    failed = items["too_short"]
    assert failed["status"] == "failed" and "AudioError" in failed["error"]
    assert failed["output"] is None and failed["line"] == 3
    assert "silent" in failed["prompt_error"]  # no speaker embedding of a silent prompt

    cross = next(r for r in res["items"] if r["mode"] == "cross" and r["status"] == "ok")
    out = cross["output"]
    assert (tmp_path / "run" / "audio" / f"{cross['id']}.wav").is_file()
    assert out["seconds"] > 0 and out["rtf"] > 0 and out["duration_ratio"] > 0
    assert set(out["wer"]) == {"substitutions", "deletions", "insertions", "n_ref", "wer"}
    assert set(out["cer"]) == {"substitutions", "deletions", "insertions", "n_ref", "cer"}
    assert -1.0 <= out["sim_o"] <= 1.0 and out["speaker_id"] is not None
    gt = cross["ground_truth"]
    assert gt["wer"]["n_ref"] == len(normalize_for_wer(cross["target_text"]).split())
    assert gt["cer"]["n_ref"] == len(normalize_for_wer(cross["target_text"]))
    assert -1.0 <= gt["sim"] <= 1.0 and isinstance(gt["speaker_id"]["correct"], bool)
    # the reference through the codec alone, scored like an output
    rs = cross["resynthesis"]
    rs_wav, rs_sr = sf.read(rs["audio"])
    ref_wav, _ = sf.read(cross["reference_audio"])
    assert rs_sr == 16000 and 0 <= len(ref_wav) - len(rs_wav) <= 1  # two resamplings
    assert rs["wer"]["n_ref"] == gt["wer"]["n_ref"] and -1.0 <= rs["sim_o"] <= 1.0
    assert isinstance(rs["speaker_id"]["correct"], bool)
    assert failed["resynthesis"] is None  # no reference recording, nothing to resynthesise
    # the reference's own first codebook completed by the NAR, scored like an output
    tf = cross["teacher_forced"]
    tf_wav, tf_sr = sf.read(tf["audio"])
    assert tf_sr == 16000 and 0 <= len(ref_wav) - len(tf_wav) <= 1
    assert tf["audio"].endswith(f"teacher_forced/{cross['id']}.wav")
    assert tf["wer"]["n_ref"] == gt["wer"]["n_ref"] and -1.0 <= tf["sim_o"] <= 1.0
    assert isinstance(tf["speaker_id"]["correct"], bool)
    assert failed["teacher_forced"] is None
    assert calls == [(cross["target_text"], cross["prompt_audio"], cross["prompt_text"])]

    cont = next(r for r in res["items"] if r["mode"] == "continuation")
    # scored as prompt + output against the whole reference text
    assert cont["scored_text"] == f"{cont['prompt_text']} {cont['target_text']}"
    assert cont["ground_truth"]["wer"]["n_ref"] == len(
        normalize_for_wer(cont["scored_text"]).split()
    )
    assert cont["teacher_forced"] is None  # its reference starts with the prompt itself

    agg = res["aggregate"]["all"]
    assert agg["n_items"] == 3 and agg["n_failed"] == 1 and agg["output"]["n"] == 2
    assert agg["ground_truth"]["n"] == 2 and agg["n_paired"] == 2
    assert agg["output"]["wer"] is not None and agg["output"]["rtf"] > 0
    assert agg["resynthesis"]["n"] == 2 and agg["resynthesis"]["sim_o"] is not None
    assert agg["teacher_forced"]["n"] == 1 and agg["teacher_forced"]["sim_o"] == tf["sim_o"]
    assert res["aggregate"]["cross"]["n_items"] == 2

    # results.json leads with the words table: each mode's paths, in the order they lose words
    assert list(res)[:2] == ["format", "words"]
    assert res["text_normalizer"].startswith("whisper") and res["language"] == "en-us"
    assert [(w["mode"], w["path"]) for w in res["words"]] == [
        ("cross", "ground_truth"),
        ("cross", "resynthesis"),
        ("cross", "teacher_forced"),
        ("cross", "output"),
        ("continuation", "ground_truth"),
        ("continuation", "resynthesis"),
        ("continuation", "output"),
    ]
    w_out = res["words"][3]
    assert (
        w_out["n"] == 1 and w_out["wer"] == out["wer"]["wer"] and w_out["cer"] == out["cer"]["cer"]
    )

    md = (tmp_path / "run" / "results.md").read_text()
    assert md == run.markdown
    assert md.index("## Words: WER and CER (whisper)") < md.index("## all:")
    assert "| cross-sentence | perfect AR (true q1 + NAR) |" in md
    header = (
        "| metric | output | true q1 + NAR | codec resynthesis | ground truth | ratio / target |"
    )
    assert header in md and "|---|---|---|---|---|---|" in md
    assert "| items scored | 2 | 1 | 2 | 2 | |" in md
    assert "| duration ratio (output / reference) | " in md
    assert "## all: 3 items, 1 failed" in md and "## continuation: 1 items, 0 failed" in md
    assert "| items failed | 1 |" in md and "too_short (line 3): AudioError" in md


def test_run_ground_truth_only_from_the_cli(run_list, tmp_path, capsys, one_thread):
    pytest.importorskip("resemblyzer", reason="resemblyzer is in the eval extra")
    from echovox.app.cli import main

    out = tmp_path / "gt"
    main(["eval", "run", str(run_list), "--output", str(out), "--ground-truth-only", "true"])
    printed = capsys.readouterr().out
    assert "| cross-sentence | ground truth |" in printed and "(ground truth only)" in printed
    assert "| continuation | ground truth |" in printed and "| model |" not in printed
    res = json.loads((out / "results.json").read_text())
    assert res["ground_truth_only"] and res["model_dir"] is None
    assert res["speaker_encoder"]["backend"] == "resemblyzer"
    assert all(r["status"] == "not_run" and r["output"] is None for r in res["items"])
    assert all(r["resynthesis"] is None for r in res["items"])  # no model, no codec
    assert all(r["teacher_forced"] is None for r in res["items"])
    assert "codec resynthesis" not in printed and "true q1" not in printed
    assert "| metric | output | ground truth | ratio / target |" in printed
    agg = res["aggregate"]["all"]
    assert agg["n_failed"] == 0 and agg["ground_truth"]["n"] == 2
    assert agg["ground_truth"]["wer"] is not None and agg["ground_truth"]["sim"] > 0
    assert not (out / "audio").exists() or not any((out / "audio").iterdir())

    with pytest.raises(SystemExit, match="eval run: .*missing.jsonl"):
        main(["eval", "run", str(tmp_path / "missing.jsonl"), "--ground_truth_only", "true"])


def test_run_without_outputs_scores_only_the_reference_derived_columns(
    synth, run_list, tiny_wavlm, tmp_path, one_thread, monkeypatch
):
    # as in test_run_scores_outputs_against_ground_truth, the codec round trip stands in for
    # the first-codebook completion, which the tiny model's NAR table cannot hold
    monkeypatch.setattr(
        synth, "complete_first_codebook", lambda wav, sr, *a: synth.resynthesize(wav, sr)
    )

    def no_synthesis(*args, **kwargs):
        raise AssertionError("outputs=False must not synthesise")

    monkeypatch.setattr(synth, "clone_many", no_synthesis)
    opts = RunOptions(
        outputs=False, speaker_encoder="wavlm", speaker_model=str(tiny_wavlm), device="cpu"
    )
    run = run_evaluation(run_list, tmp_path / "run", opts, synthesizer=synth, show_progress=False)
    res = json.loads(run.json_path.read_text())
    assert res["outputs"] is False and res["model_dir"] == "(a given Synthesizer)"
    assert all(r["status"] == "not_run" and r["output"] is None for r in res["items"])
    assert not (tmp_path / "run" / "audio").exists()
    agg = res["aggregate"]["all"]
    assert agg["n_failed"] == 0 and agg["output"]["n"] == 0 and agg["n_paired"] == 0
    assert agg["resynthesis"]["n"] == 2 and agg["resynthesis"]["sim_o"] is not None
    assert agg["teacher_forced"]["n"] == 1 and agg["ground_truth"]["n"] == 2
    assert "(outputs not synthesised: reference-derived columns only)" in run.markdown
    assert "| items scored | 0 | 1 | 2 | 2 | |" in run.markdown

    none = RunOptions(outputs=False, codec_resynthesis=False, teacher_forced=False)
    with pytest.raises(ValueError, match="nothing the model makes"):
        run_evaluation(run_list, tmp_path / "none", none, synthesizer=synth)


def test_run_half_weights_from_the_cli(run_list, tiny_model_dir, tiny_wavlm, tmp_path, one_thread):
    from echovox.app.cli import main
    from echovox.app.synthesizer import native_cpu_bf16

    out = tmp_path / "half"
    args = ["eval", "run", str(run_list), "--output", str(out), "--model", str(tiny_model_dir)]
    args += ["--speaker_encoder", "wavlm", "--speaker_model", str(tiny_wavlm), "--limit", "1"]
    args += ["--codec_resynthesis", "false", "--teacher_forced", "false", "--device", "cpu"]
    main([*args, "--half_weights", "true", "--bf16", "true"])
    res = json.loads((out / "results.json").read_text())
    assert res["half_weights"] is True and res["items"][0]["status"] == "ok"
    assert res["bf16"] is True
    md = (out / "results.md").read_text()
    assert "AR decoded with float16 weight copies" in md and "codec decoder in bfloat16" in md

    main([*args, "--output", str(tmp_path / "float")])  # default for float32-stored weights
    res = json.loads((tmp_path / "float" / "results.json").read_text())
    assert res["half_weights"] is False
    assert res["bf16"] is native_cpu_bf16()  # the default follows the CPU
    assert "weight copies" not in (tmp_path / "float" / "results.md").read_text()
    main([*args, "--output", str(tmp_path / "f32"), "--bf16", "false"])
    assert json.loads((tmp_path / "f32" / "results.json").read_text())["bf16"] is False
    assert "bfloat16" not in (tmp_path / "f32" / "results.md").read_text()
