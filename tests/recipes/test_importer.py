from __future__ import annotations

import numpy as np
import soundfile as sf
from recipe_helpers import tone_bursts

from echovox.recipes.config import config_from_dict
from echovox.recipes.runner import run
from echovox.recipes.stage import load_dataset_dir


def _cfg(tmp_path, root, layout="auto"):
    return config_from_dict(
        {
            "recipe": "folder",
            "exp_dir": str(tmp_path / "exp"),
            "corpus": {"root": str(root), "layout": layout},
            "segment": {"min_seconds": 1.0, "max_seconds": 10.0},
        }
    )


def _wav(path, seconds, sr=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone_bursts([(0.1, seconds - 0.1)], seconds, sr), sr)


def test_libritts_layout_with_bad_items(tmp_path):
    root = tmp_path / "data"
    _wav(root / "spk1/ch1/u1.wav", 2.0)
    (root / "spk1/ch1/u1.normalized.txt").write_text("Hello there.\n")
    _wav(root / "spk2/ch9/u2.wav", 3.0)
    (root / "spk2/ch9/u2.normalized.txt").write_text("General Kenobi.")
    _wav(root / "spk2/ch9/notext.wav", 2.0)  # no transcript
    _wav(root / "spk2/ch9/short.wav", 0.5)
    (root / "spk2/ch9/short.normalized.txt").write_text("Too short.")
    (root / "spk2/ch9/bad.wav").write_bytes(b"RIFF....garbage")
    (root / "spk2/ch9/bad.normalized.txt").write_text("Corrupt.")
    nan = root / "spk2/ch9/nan.wav"
    sf.write(nan, np.full(32000, np.nan, np.float32), 16000, subtype="FLOAT")
    (root / "spk2/ch9/nan.normalized.txt").write_text("Not a number.")
    (report,) = run(_cfg(tmp_path, root), 1, 1)
    ds = load_dataset_dir(tmp_path / "exp/manifest")
    assert sorted(ds["speaker"]) == ["spk1", "spk2"]
    assert set(ds["asr_backend"]) == {"given"}
    assert ds.filter(lambda r: r["speaker"] == "spk1")[0]["text"] == "Hello there."
    reasons = " ".join(report.skipped)
    for why in ("normalized.txt", "shorter than", "unreadable audio", "NaN"):
        assert why in reasons
    assert sum(report.skipped.values()) == 4


def test_csv_layout(tmp_path):
    root = tmp_path / "data"
    _wav(root / "wavs/a.wav", 2.0)
    _wav(root / "wavs/b.flac", 2.5)
    (root / "metadata.csv").write_text(
        "path|text|speaker\nwavs/a.wav|First line.|alice\nwavs/b.flac|Second line.|bob\n"
        "wavs/missing.wav|Gone.|bob\nthis line is broken\n"
    )
    (report,) = run(_cfg(tmp_path, root), 1, 1)
    ds = load_dataset_dir(tmp_path / "exp/manifest")
    assert ds["text"] == ["First line.", "Second line."]
    assert ds["end"] == [2.0, 2.5]
    assert report.skipped == {"audio file not found": 1, "line is not path|text|speaker": 1}

    # the imported manifest feeds the shared stage 4: phonemes and speaker splits
    (report,) = run(_cfg(tmp_path, root), 4, 4)
    phon = load_dataset_dir(tmp_path / "exp/phonemes")
    assert sorted(phon["split"]) == ["test", "train"]  # two speakers: one must stay in train
    assert all(len(p) > 5 for p in phon["phonemes"])
    assert list(phon["normalized"]) == ["First line.", "Second line."]


def test_cli_runs_and_lists_stages(tmp_path, capsys):
    import yaml

    from echovox.app.cli import main

    root = tmp_path / "data"
    _wav(root / "wavs/a.wav", 2.0)
    (root / "metadata.csv").write_text("wavs/a.wav|Hello.|alice\n")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"recipe": "folder", "exp_dir": str(tmp_path / "exp"),
                                   "corpus": {"root": str(root)}}))  # fmt: skip
    main(["recipe", "run", str(cfg), "--stage", "1", "--stop_stage", "1"])
    out = capsys.readouterr().out
    assert "stage 1 (import folder): done" in out and "utterances: 1" in out
    main(["recipe", "stages", str(cfg)])
    out = capsys.readouterr().out
    assert "1  import folder" in out and "done" in out.splitlines()[0]
    assert "8  evaluate" in out.splitlines()[-1]
