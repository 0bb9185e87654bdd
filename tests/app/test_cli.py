"""`echovox synthesize` and `echovox assemble_model` end to end, as a user runs them."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from model_helpers import REPO, mbrola_speech

CLI = [sys.executable, "-m", "echovox.app.cli"]


def run(*args, timeout=300):
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=timeout
    )


@pytest.mark.slow
def test_synthesize_writes_a_wav_and_reports_rtf(tiny_model_dir, prompt_wav, tmp_path):
    out = tmp_path / "out.wav"
    res = run(
        "synthesize",
        "--text",
        "Hello from the command line.",
        "--prompt",
        prompt_wav,
        "--prompt_text",
        "one two three",
        "--model",
        tiny_model_dir,
        "--output",
        out,
        "--seed",
        "7",
        "--device",
        "cpu",
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    data, sr = sf.read(str(out))
    assert sr == 8000 and len(data) > 0
    assert summary["output"] == str(out) and summary["rtf"] > 0
    assert summary["duration_s"] == round(len(data) / sr, 3)
    assert summary["spectral_match"] is False  # the test model has it off


def test_synthesize_can_turn_the_models_spectral_matching_off(prompt_wav, tmp_path):
    """A model that matches spectra by default, rendered with and without --spectral_match
    false: the summary says which, and the audio differs (same seed, same length)."""
    from model_helpers import build_tiny_model

    from echovox.model_dir import SpectralMatchConfig

    model = build_tiny_model(
        tmp_path / "m", spectral_match=SpectralMatchConfig(weight=1.0, frame_weight=0.5)
    )
    outs = {}
    for flag in ([], ["--spectral_match", "false"]):
        out = tmp_path / f"out{len(flag)}.wav"
        res = run(
            "synthesize",
            *("--text", "Turn it off.", "--prompt", prompt_wav, "--prompt_text", "one two"),
            *("--model", model, "--output", out, "--seed", "3", "--device", "cpu"),
            *flag,
        )
        assert res.returncode == 0, res.stderr
        summary = json.loads(res.stdout.strip().splitlines()[-1])
        assert summary["spectral_match"] is (not flag)
        outs[bool(flag)] = sf.read(str(out))[0]
    assert len(outs[True]) == len(outs[False])
    assert not np.allclose(outs[True], outs[False], atol=1e-3)


@pytest.mark.slow
def test_synthesize_text_file(tiny_model_dir, prompt_wav, tmp_path):
    text = tmp_path / "long.txt"
    text.write_text("The first sentence. The second sentence!\nA third, on a new line.")
    out = tmp_path / "long.flac"
    res = run(
        "synthesize",
        "--text_file",
        text,
        "--prompt",
        prompt_wav,
        "--prompt_text",
        "one two",
        "--model",
        tiny_model_dir,
        "--output",
        out,
        "--temperature",
        "0",
        "--cfg_scale",
        "2",
    )
    assert res.returncode == 0, res.stderr
    # three short sentences on two lines, packed into one chunk of at most text.max_chars
    assert json.loads(res.stdout.strip().splitlines()[-1])["chunks"] == 1
    assert sf.info(str(out)).frames > 0


@pytest.mark.slow
def test_synthesize_errors_are_one_line(tiny_model_dir, prompt_wav, tmp_path):
    cases = [
        (["--text", "Hi.", "--model", tiny_model_dir], "--prompt"),
        (["--prompt", prompt_wav, "--model", tiny_model_dir], "--text"),
        (
            [
                "--text",
                "  ",
                "--prompt",
                prompt_wav,
                "--prompt_text",
                "a",
                "--model",
                tiny_model_dir,
            ],
            "empty",
        ),
        (
            [
                "--text",
                "Hi.",
                "--prompt",
                tmp_path / "none.wav",
                "--prompt_text",
                "a",
                "--model",
                tiny_model_dir,
            ],
            "not found",
        ),
        (["--text", "Hi.", "--prompt", prompt_wav, "--model", tmp_path / "nomodel"], "not found"),
        (["--text_file", tmp_path / "missing.txt", "--prompt", prompt_wav], "cannot read"),
        (
            ["--text", "Hi.", "--prompt", prompt_wav, "--prompt_text", "a", "--cfg_scale", "-1"]
            + ["--model", tiny_model_dir],
            "cfg_scale must be >= 0",
        ),
    ]
    for args, needle in cases:
        res = run("synthesize", *args, "--output", tmp_path / "x.wav")
        assert res.returncode != 0, args
        assert needle in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "x.wav").exists()


def test_assemble_model_then_synthesize(tiny_model_dir, prompt_wav, tmp_path):
    from echovox.model_dir import load_model_dir

    loaded = load_model_dir(tiny_model_dir)
    codec = loaded.codec.save_pretrained(tmp_path / "codec")
    from echovox.checkpoint import save_weights

    for kind, model in (("ar", loaded.ar), ("nar", loaded.nar)):
        d = tmp_path / kind
        save_weights(model, d / f"{kind}.safetensors")
        (d / "config.json").write_text(json.dumps(model.config.to_dict()))
    out_dir = tmp_path / "assembled"
    res = run(
        "assemble_model",
        out_dir,
        "--codec",
        codec,
        "--ar",
        tmp_path / "ar",
        "--nar",
        tmp_path / "nar",
        "--name",
        "cli-test",
        "--voice_match_weight",
        "1",
        "--spectral_match_weight",
        "0.7",
    )
    assert res.returncode == 0, res.stderr
    assert (out_dir / "config.json").is_file() and "cli-test" in (out_dir / "README.md").read_text()
    match = json.loads((out_dir / "config.json").read_text())["voice_match"]
    assert match == {"weight": 1.0, "k": 4}
    spectral = json.loads((out_dir / "config.json").read_text())["spectral_match"]
    assert spectral == {"weight": 0.7, "frame_weight": 0.0, "k": 4, "bands": 64, "max_db": 12.0}
    res = run(
        "assemble_model",
        *(tmp_path / "bad", "--codec", codec, "--ar", tmp_path / "ar", "--nar", tmp_path / "nar"),
        *("--voice_match_weight", "2"),
    )
    assert res.returncode != 0 and "weight" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "bad").exists()
    res = run("assemble_model", tmp_path / "x", "--codec", codec, "--ar", tmp_path / "ar")
    assert res.returncode != 0 and "required" in res.stderr and "Traceback" not in res.stderr


def test_help_lists_app_commands():
    res = run("--help")
    assert res.returncode == 0
    for cmd in ("synthesize", "demo", "assemble_model"):
        assert cmd in res.stdout
    res = run("demo", "--help")
    assert "--port" in res.stdout and "--share" in res.stdout


def test_without_a_model_synthesize_uses_the_embedded_model(tmp_path):
    """No --model: the shipped echovox-tiny (the missing-model error is tested in
    test_checkpoint.py with the embedded folder pointed elsewhere)."""
    from echovox.app.demo import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT

    out = tmp_path / "out.wav"
    res = run(
        "synthesize", "--text", "Good morning.", "--prompt", EXAMPLE_PROMPT,
        "--prompt-text", EXAMPLE_PROMPT_TEXT, "--threads", "1", "-o", out,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["output"] == str(out) and summary["duration_s"] > 0.2
    assert sf.info(str(out)).samplerate == 16_000


@pytest.mark.slow
def test_demo_command_serves_the_app_locally(tiny_model_dir):
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [*CLI, "demo", "--model", str(tiny_model_dir), "--port", str(port), "--device", "cpu"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 120
        page = None
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    page = r.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert page is not None, proc.stdout.read() if proc.poll() is not None else "timeout"
        assert "echovox" in page.lower() or "gradio" in page.lower()
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert "gradio.live" not in out  # no public share link unless asked for


def test_user_errors_are_one_line_for_every_command_group(tmp_path, monkeypatch):
    """The entry point turns what a user can cause (missing files, bad values, foreign
    checkpoints) into one line naming the command, in every group, not only `synthesize`;
    ECHOVOX_DEBUG=1 brings the traceback back."""
    from echovox.app.cli import main
    from echovox.checkpoint import CheckpointError

    monkeypatch.delenv("ECHOVOX_DEBUG", raising=False)
    cases = [
        (["codec", "train", str(tmp_path / "none.yaml")], "echovox codec train: no such config"),
        (
            ["codec", "average", f"[{tmp_path / 'a'},{tmp_path / 'b'}]", str(tmp_path / "o")],
            "echovox codec average: no codec checkpoint at",
        ),
        (["codec", "average", f"[{tmp_path / 'a'}]", str(tmp_path / "o")], "two or more"),
        (["synthesize", "--text", "hi"], "echovox synthesize: --prompt"),
        (["eval", "make_list", str(tmp_path / "o")], "echovox eval make_list: give exactly one"),
        (["phonemize", "hi", "--language", "xx"], "echovox phonemize: unsupported language"),
        (
            ["bpe", "train", str(tmp_path / "none.txt"), str(tmp_path / "o")],
            "echovox bpe train: corpus not found",
        ),
    ]
    for args, needle in cases:
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert needle in str(exc.value) and "ECHOVOX_DEBUG=1" in str(exc.value), exc.value
    assert not (tmp_path / "o").exists()
    monkeypatch.setenv("ECHOVOX_DEBUG", "1")
    with pytest.raises(CheckpointError):
        main(cases[1][0])
    with pytest.raises(ValueError, match="--prompt"):  # the app commands no longer catch it
        main(cases[3][0])


def test_transcribe_prints_one_json_line_per_file(tmp_path, capsys):
    """`echovox transcribe a.wav b.wav ...`: the words of each file (Whisper base, offline),
    and a flag, not a crash, for a file that is missing, corrupt or silent."""
    from echovox.app.cli import main
    from echovox.audio import save_audio

    said = "Please open the window in the kitchen."
    save_audio(tmp_path / "a.wav", mbrola_speech(said, "mb-en1"), 16_000)
    save_audio(tmp_path / "quiet.wav", np.zeros(22_050, np.float32), 22_050)
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    files = [str(tmp_path / n) for n in ("a.wav", "missing.wav", "bad.wav", "quiet.wav")]
    main(["transcribe", files[0], "--threads", "1", *files[1:], "--batch-size", "2"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in rows] == files
    assert {"open", "window", "kitchen"} <= set(rows[0]["text"].lower().strip(".").split())
    assert rows[0]["seconds"] > 1 and rows[0]["flag"] is None
    assert rows[1]["flag"].startswith("error: audio file not found")
    assert rows[2]["flag"].startswith("error: cannot read")
    assert rows[3]["flag"] == "silent" and rows[3]["text"] == ""


def test_variadic_words_are_gathered_for_transcribe_only():
    from echovox.app.cli import gather_variadic

    assert gather_variadic(["transcribe", "a.wav", "--model", "m", "b.wav", "--language=en"]) == [
        "transcribe", '["a.wav", "b.wav"]', "--model", "m", "--language=en"
    ]  # fmt: skip
    assert gather_variadic(["codec", "average", "[a,b]", "o"]) == ["codec", "average", "[a,b]", "o"]
    assert gather_variadic(["transcribe", "--help"]) == ["transcribe", "--help"]
