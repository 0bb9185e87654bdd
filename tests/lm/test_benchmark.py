import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


def run_benchmark(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def quick_json(script: str) -> dict:
    r = run_benchmark(script)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_lm_speed_benchmark_runs_and_prints_json():
    out = quick_json("lm_speed.py")
    assert [row["tokens"] for row in out["ar_decode"]] == [20, 40]
    for row in out["ar_decode"]:
        assert row["cached_tok_s"] > 0 and row["recompute_tok_s"] > 0 and row["speedup"] > 0
    assert [row["batch"] for row in out["ar_batched"]] == [1, 4]
    assert all(row["seconds_per_stage"] > 0 for row in out["nar"])
    assert out["peak_memory"]["after ar tiny"]["rss_mb"] > 0
    # AR for 20 tokens + NAR for 20 frames over 20 frames of audio, fp32 and half-weight decode
    assert [(r["frames"], r["ar_decode"]) for r in out["lm_rtf"]] == [
        (20, "fp32"),
        (20, "half_weights"),
    ]
    assert all(r["rtf"] > 0 for r in out["lm_rtf"])
    # the decode step: the code before the speed work (read from git), the current code and a
    # plain loop, timed side by side, against the weight-streaming floor
    (step,) = out["ar_step"]
    variants = ("new_fp32", "new_half_weights", "plain_loop_fp32")
    # the old code comes from git history, which a shallow clone or an installed copy lacks
    if not str(step["baseline"]).startswith("unavailable"):
        variants += ("old_fp32", "old_half_weights")
    assert all(step[v]["ms_per_step"] > 0 and len(step[v]["runs_ms"]) == 2 for v in variants)
    assert step["copy_GB_s"] > 0 and step["floor_fp32"]["weights_ms"] > 0
    assert step["bytes_per_step_MB"]["fp16_weights"] < step["bytes_per_step_MB"]["fp32_weights"]


def test_lm_train_speed_benchmark_runs_and_prints_json():
    out = quick_json("lm_train_speed.py")
    (row,) = out["rows"]
    assert row["preset"] == "tiny" and out["device"] == "cpu"
    assert row["tok_s_fp32"] > 0 and row["tok_s_bf16"] > 0 and row["bf16_speedup"] > 0
    # both precisions train the same random task: losses near ln(codebook size + extras)
    assert 5.0 < row["last_loss_fp32"] < 8.0 and 5.0 < row["last_loss_bf16"] < 8.0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU-only machine")
@pytest.mark.parametrize("script", ["lm_speed.py", "lm_train_speed.py"])
def test_benchmarks_refuse_cuda_without_a_gpu(script):
    r = run_benchmark(script, "--device", "cuda")
    assert r.returncode != 0
    assert "torch sees no CUDA device" in r.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU-only machine")
def test_device_synthesis_benchmark_refuses_cuda_without_a_gpu():
    r = run_benchmark("device_synthesis_rtf.py", "--device", "cuda")
    assert r.returncode != 0
    assert "torch sees no CUDA device" in r.stderr


def test_device_synthesis_benchmark_replays_phonemes_without_espeak(tmp_path):
    """The GPU machine has no espeak-ng: phonemes recorded here are replayed there. The replay
    runs with phonemizer made unimportable, and a text it lacks is named, not guessed."""
    table = tmp_path / "phonemes.json"
    recorded = run_benchmark("device_synthesis_rtf.py", "--write_phonemes", str(table))
    assert recorded.returncode == 0, recorded.stderr
    assert json.loads(recorded.stdout)["phonemes_written"] == str(table)
    blocked = tmp_path / "blocked" / "phonemizer"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('no espeak-ng on this machine')\n")

    def replay(path):
        return run_benchmark(
            "device_synthesis_rtf.py",
            *("--phonemes", str(path), "--threads", "1"),
            env={**os.environ, "PYTHONPATH": str(blocked.parent)},
        )

    r = replay(table)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)["echovox_tiny"]
    assert out["one_sentence"]["audio_s"] > 1 and out["batch_of_2"]["rtf"] > 0
    assert out["codec_vs_cpu"]["codes_equal"] == 1.0  # the CPU against itself
    entries = json.loads(table.read_text())
    table.write_text(json.dumps(dict(list(entries.items())[1:])))
    r = replay(table)
    assert r.returncode != 0 and "record it again with --write_phonemes" in r.stderr
    r = replay(tmp_path / "missing.json")
    assert r.returncode != 0 and "no such file" in r.stderr
