"""Killing a stage with SIGKILL and running it again: no duplicates, no loss."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from recipe_helpers import needs_espeak, synthetic_config

from echovox.recipes.runner import run
from echovox.recipes.stage import done_marker, load_dataset_dir

pytestmark = [pytest.mark.slow, needs_espeak]


def test_kill_and_rerun_transcribe(tmp_path):
    cfg = synthetic_config(tmp_path, n_speakers=3, n_heldout_speakers=0,
                           chapters_per_speaker=2, sentences_per_chapter=3)  # fmt: skip
    cfg.segment.target_seconds = 2.0  # many short utterances: many shards to kill between
    cfg.asr.backend = "pocketsphinx"  # slow enough to be killed mid-stage
    cfg.asr.batch_size = 1
    cfg.work.shard_size = 1
    run(cfg, 0, 2)
    segs = load_dataset_dir(cfg.exp / "segments")
    assert len(segs) >= 8
    yaml_path = tmp_path / "cfg.yaml"
    yaml_path.write_text(yaml.safe_dump(dataclasses.asdict(cfg)))

    shards = cfg.exp / "shards" / "transcribe"
    cmd = [sys.executable, "-c", "from echovox.app.cli import main; main()",
           "recipe", "run", str(yaml_path), "--stage", "3", "--stop_stage", "3"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(shards.glob("shard-*"))) < 3:
        assert proc.poll() is None, "the stage finished before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(list(shards.glob("shard-*")))
    assert 3 <= n_before < len(segs)
    assert not done_marker(cfg.exp, 3).exists()
    assert not (cfg.exp / "manifest").exists()

    (report,) = run(cfg, 3, 3)
    assert any("already done (resumed" in n for n in report.notes)
    manifest = load_dataset_dir(cfg.exp / "manifest")
    ids = list(manifest["id"])
    assert len(ids) == len(set(ids)), "duplicates after resume"
    assert len(ids) + sum(report.skipped.values()) == len(segs), "lost or invented utterances"
    assert set(ids) <= set(segs["id"])
    assert report.counts["input items"] == len(segs)
    assert not list(shards.glob(".shard-*.tmp-*"))
