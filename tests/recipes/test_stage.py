"""The shard runner: ranks, local processes, markers and stale input."""

from __future__ import annotations

import pytest

from echovox.recipes.config import WorkConfig, config_from_dict
from echovox.recipes.stage import (
    ShardJob,
    ShardResult,
    Stage,
    StageReport,
    done_marker,
    run_sharded,
    run_stages,
)


def square_shard(rows, params):
    """Module-level so spawned workers can import it. Odd numbers are 'bad input'."""
    out = ShardResult()
    for r in rows:
        if r["x"] % 7 == 3:
            out.skipped.append((str(r["x"]), "x is 3 mod 7"))
        else:
            out.rows.append({"x": r["x"], "y": r["x"] ** params})
    return out


def _features():
    from datasets import Features, Value

    return Features({"x": Value("int64"), "y": Value("int64")})


# pytest's importlib mode registers this module in sys.modules under its own name, which is
# what run_sharded's in-process path imports
FN = f"{square_shard.__module__}:square_shard"


def _run(tmp_path, rows, **workers):
    report = StageReport(9, "test")
    job = ShardJob(FN, 2, tmp_path / "work", tmp_path / "out", _features(), shard_size=3)
    ds = run_sharded(job, rows, WorkConfig(**workers), report)
    return ds, report


def _expected(n):
    return [x for x in range(n) if x % 7 != 3]


def test_ranks_share_the_work_and_the_last_one_merges(tmp_path):
    rows = [{"x": i} for i in range(20)]
    ds, report = _run(tmp_path, rows, rank=0, world_size=2)
    assert ds is None and not report.complete
    assert not (tmp_path / "out").exists()
    assert len(list((tmp_path / "work").glob("shard-*"))) == 4  # shards 0, 2, 4, 6 of 7
    ds, report = _run(tmp_path, rows, rank=1, world_size=2)
    assert report.complete
    assert list(ds["x"]) == _expected(20)  # merged in shard order, not in finishing order
    assert report.skipped == {"x is 3 mod 7": 3}
    assert report.counts["input items"] == 20


@pytest.mark.slow
def test_local_processes_give_the_same_dataset(tmp_path):
    """num_proc=2 spawns workers that import the stage function by module path."""
    import json

    import soundfile as sf
    from recipe_helpers import tone_bursts

    from echovox.recipes.segment import SegmentParams, segments_features

    rows = []
    for k in range(6):
        spans = [(0.5, 2.5 + k * 0.1), (3.0, 5.5)]
        path = tmp_path / f"f{k}.flac"
        sf.write(path, tone_bursts(spans, 6.0, seed=k), 16000)
        meta = {"speaker": "s", "book_meta": {}, "snr": 1.0, "voice_activity": spans}
        path.with_suffix(".json").write_text(json.dumps(meta))
        rows.append({"path": str(path), "speaker": "s", "book": "b", "stem": f"f{k}",
                     "subset": "small", "duration": 6.0})  # fmt: skip
    out = {}
    for n in (1, 2):
        report = StageReport(2, "segment")
        fn, params = "echovox.recipes.segment:segment_shard", SegmentParams(target_seconds=1.0)
        job = ShardJob(fn, params, tmp_path / f"w{n}", tmp_path / f"o{n}", segments_features(), 1)
        ds = run_sharded(job, rows, WorkConfig(num_proc=n), report)
        out[n] = ds.to_list()
    assert len(out[1]) == 12 and out[1] == out[2]


def test_changed_settings_recompute_and_a_grown_input_reuses(tmp_path):
    from echovox.recipes.stage import Unit

    def units(n):  # one unit per ten rows: a unit's fingerprint is its content
        return [Unit(f"u{k}", f"fp{k}", [{"x": i} for i in range(10 * k, 10 * k + 10)], 10)
                for k in range(n)]  # fmt: skip

    def go(n, power=2):
        report = StageReport(9, "test")
        job = ShardJob(FN, power, tmp_path / "w", tmp_path / "o", _features(), shard_size=5)
        return run_sharded(job, units(n), WorkConfig(), report), report

    ds, report = go(2)
    assert report.counts["shards processed"] == 4 and list(ds["x"]) == _expected(20)
    ds, report = go(3)  # one more unit: only its two shards run
    assert report.counts["shards processed"] == 2 and report.counts["shards reused"] == 4
    assert list(ds["x"]) == _expected(30)
    ds, report = go(1)  # units gone: their shards leave the output, not the disk
    assert list(ds["x"]) == _expected(10) and "not in the view" in report.notes[-1]
    ds, report = go(3)  # and come back for free
    assert report.counts["shards processed"] == 0 and list(ds["x"]) == _expected(30)
    ds, report = go(1, power=3)  # new settings: every shard again
    assert report.counts["shards processed"] == 2 and ds["y"][1] == 1


def test_rerunning_a_stage_invalidates_later_markers(tmp_path):
    cfg = config_from_dict({"recipe": "librilight", "exp_dir": str(tmp_path)})
    calls = []

    def make(n):
        def fn(cfg, force=False):
            calls.append(n)
            return StageReport(n, f"s{n}")

        return fn

    stages = [Stage(1, "a", make(1)), Stage(2, "b", make(2)), Stage(3, "c", None, "later")]
    run_stages(cfg, stages, None, None)
    assert calls == [1, 2] and done_marker(cfg.exp, 2).exists()
    run_stages(cfg, stages, None, None)
    assert calls == [1, 2]  # both done: skipped
    run_stages(cfg, stages, 1, 1, force=True)
    assert calls == [1, 2, 1]
    assert not done_marker(cfg.exp, 2).exists()
