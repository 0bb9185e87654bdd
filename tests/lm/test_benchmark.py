import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_lm_speed_benchmark_runs_and_prints_json():
    r = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "lm_speed.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = json.loads(r.stdout)
    assert [row["tokens"] for row in out["ar_decode"]] == [20, 40]
    for row in out["ar_decode"]:
        assert row["cached_tok_s"] > 0 and row["recompute_tok_s"] > 0 and row["speedup"] > 0
    assert [row["batch"] for row in out["ar_batched"]] == [1, 4]
    assert all(row["seconds_per_stage"] > 0 for row in out["nar"])
    assert out["peak_rss_mb"]
