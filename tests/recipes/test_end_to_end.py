"""The synthetic recipe's stages 0-5 on a small tree salted with every kind of bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from recipe_helpers import needs_espeak, synthetic_config, tone_bursts

from echovox.recipes.runner import run
from echovox.recipes.stage import done_marker, load_dataset_dir

pytestmark = [pytest.mark.slow, needs_espeak]


def _meta(spans, **drop):
    meta = {"speaker": "x", "book_meta": {"id": "b"}, "snr": 30.0, "voice_activity": spans}
    for k in drop:
        meta.pop(k)
    return meta


def _salt(root, good_flac):
    """Bad items beside the good ones; each must be skipped with its reason."""
    sub = root / "small"
    bad = {}

    def put(rel, audio=None, meta=None, raw_json=None):
        path = sub / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(audio, bytes):
            path.write_bytes(audio)
        elif audio is not None:
            sf.write(path, audio, 16000, subtype="FLOAT" if path.suffix == ".wav" else "PCM_16")
        else:
            shutil.copy(good_flac, path)
        if raw_json is not None:
            path.with_suffix(".json").write_text(raw_json)
        elif meta is not None:
            path.with_suffix(".json").write_text(json.dumps(meta))
        return path

    put("9001/b/corrupt.flac", b"fLaC\x00\x00garbage", _meta([[0, 1]]))
    put("9002/b/empty.flac", b"", _meta([]))
    put("9002/b/nosamples.wav", np.zeros(0, np.float32), _meta([]))
    put("9003/b/badjson.flac", raw_json="{this is not json")
    put("9003/b/nofields.flac", meta=_meta([[0.5, 3.0]], snr=True))
    put("9005/b/short.flac", tone_bursts([(0.1, 0.5)], 0.6), _meta([[0.1, 0.5]]))
    nan = tone_bursts([(0.2, 3.8)], 4.0)
    nan[20000:20100] = np.nan
    put("9006/b/nan.wav", nan, _meta([[0.2, 3.8]]))
    # no JSON at all: not bad, segmented by silero instead; the reference ASR has no
    # transcript for it, so stage 3 skips its utterances
    put("9007/b/novad.flac")
    return bad


def test_stages_0_to_8_with_bad_input(tmp_path, tiny_codec_dir):
    cfg = synthetic_config(tmp_path, codec=tiny_codec_dir)
    (gen,) = run(cfg, 0, 0)
    assert gen.counts["speakers"] == 4
    good = sorted((tmp_path / "corpus/small").glob("*/*/*.flac"))
    _salt(tmp_path / "corpus", good[0])

    reports = {r.stage: r for r in run(cfg, 1, 5)}
    assert sorted(reports) == [1, 2, 3, 4, 5]
    skipped = {k: v for r in reports.values() for k, v in r.skipped.items()}
    text = " | ".join(skipped)
    assert "unreadable audio" in text and "zero-length audio" in text
    assert "JSON does not parse" in text and "JSON lacks field(s) ['snr']" in text
    assert "no utterance of at least" in text
    assert "NaN" in text and "no reference transcript" in text

    # stage 1 counted every file; stage 2 used silero where the JSON is missing
    assert reports[1].counts["files"] == 4 + 5  # 4 good, 8 salted, 3 rejected at stage 1
    segs = load_dataset_dir(cfg.exp / "segments")
    assert "silero" in set(segs["vad"])

    manifest = load_dataset_dir(cfg.exp / "manifest")
    assert set(manifest.column_names) >= {
        "id", "speaker", "book", "path", "start", "end", "snr", "text", "asr_backend",
    }  # fmt: skip
    assert set(manifest["speaker"]) == {"1000", "1001", "1002", "1003"}
    assert set(manifest["asr_backend"]) == {"reference"}
    assert len(set(manifest["id"])) == len(manifest)
    lengths = [e - s for s, e in zip(manifest["start"], manifest["end"])]
    assert all(cfg.segment.min_seconds <= n <= cfg.segment.max_seconds for n in lengths)

    # splits by speaker: the held-out voice (last speaker) is test, one dev, the rest train
    phon = load_dataset_dir(cfg.exp / "phonemes")
    by_split = {}
    for spk, split in zip(phon["speaker"], phon["split"]):
        by_split.setdefault(split, set()).add(spk)
    assert by_split["test"] == {"1003"}
    assert len(by_split["dev"]) == 1 and len(by_split["train"]) == 2
    assert not (by_split["train"] & by_split["dev"])

    import torch

    from echovox.codec import Codec
    from echovox.text import SymbolTable

    codec = Codec.from_pretrained(tiny_codec_dir, device="cpu")
    symbols = SymbolTable.load(cfg.exp / "tokens/symbols.json")
    n_tokens = 0
    for split in ("train", "dev", "test"):
        toks = load_dataset_dir(cfg.exp / "tokens" / split)
        assert set(toks["split"]) == {split}
        assert set(toks["speaker"]) == by_split[split]
        for row in toks:
            codes = np.asarray(row["codes"])
            assert codes.shape == (codec.n_codebooks, row["n_frames"])
            assert codes.min() >= 0 and codes.max() < codec.codebook_size
            assert abs(row["n_frames"] - row["duration"] * codec.frame_rate) <= 1
            assert row["phonemes"] and max(row["phonemes"]) < len(symbols)
        n_tokens += len(toks)
    assert n_tokens == len(phon)
    # codes equal a direct encode of the same span (batching and padding changed nothing)
    row = load_dataset_dir(cfg.exp / "tokens/train")[0]
    src = phon.filter(lambda r: r["id"] == row["id"])[0]
    from echovox.audio import load_audio

    wav = load_audio(src["path"], codec.sample_rate, start=src["start"], end=src["end"])
    direct = codec.encode(torch.from_numpy(wav)[None, None])[0].numpy()
    assert (direct == np.asarray(row["codes"])).mean() > 0.98

    # the recipe's phonemes are what the app's front end makes from the same text
    from echovox.text import TextFrontend

    frontend = TextFrontend("en-us", symbols=symbols)
    for row in phon.select(range(3)):
        assert frontend.ids(row["text"]) == row["phonemes"]

    # the LM's reader accepts every split as written
    from echovox.lm.data import TokenDataset

    for split in ("train", "dev", "test"):
        ds = TokenDataset(cfg.exp / "tokens" / split, n_codebooks=codec.n_codebooks,
                          codebook_size=codec.codebook_size, n_phonemes=len(symbols))  # fmt: skip
        assert ds[0].codes.shape[0] == codec.n_codebooks

    # a second run finds every stage done and changes nothing
    before = list(load_dataset_dir(cfg.exp / "tokens/train")["id"])
    assert run(cfg, 0, 5) == []
    assert all(done_marker(cfg.exp, n).exists() for n in range(6))
    assert list(load_dataset_dir(cfg.exp / "tokens/train")["id"]) == before

    # the codec's training folders: train/dev speakers' files, one file per held-out speaker
    import yaml

    from echovox.app.cli import main

    recipe_yaml = tmp_path / "recipe.yaml"
    recipe_yaml.write_text(yaml.safe_dump({"recipe": "synthetic", "exp_dir": str(cfg.exp)}))
    main(["recipe", "codec_data", str(recipe_yaml), str(tmp_path / "codec_data")])
    val = sorted((tmp_path / "codec_data/val").iterdir())
    train = sorted((tmp_path / "codec_data/train").iterdir())
    assert [p.name.split("_")[0] for p in val] == sorted(by_split["test"])
    assert {p.name.split("_")[0] for p in train} == by_split["train"] | by_split["dev"]
    assert all(p.is_symlink() and p.resolve().is_file() for p in val + train)

    # stages 6-7: train both LMs a few steps (in parallel processes) and assemble a model
    # directory the app loads and speaks with
    from dataclasses import replace

    overrides = [
        "--trainer.max_steps=3",
        "--trainer.val_check_interval=3",
        '--model.model_overrides={"n_codebooks": 4, "codebook_size": 32, "max_frames": 2048}',
        "--data.frame_rate=250",
        "--data.num_workers=0",
    ]
    lm = replace(
        cfg.lm, ar_config="lm/configs/ar_tiny.yaml", nar_config="lm/configs/nar_tiny.yaml",
        overrides=overrides,
    )  # fmt: skip
    # the model decodes with a decoder-only fine-tune of the tokenising codec
    from echovox.codec import RVQCodec

    tuned = RVQCodec.load_directory(tiny_codec_dir)
    with torch.no_grad():
        next(tuned.decoder.parameters()).mul_(1.5)
    tuned_dir = tuned.save_pretrained(tmp_path / "codec_tuned")
    cfg = replace(
        cfg, lm=lm, model=replace(cfg.model, weights_dtype="float16", codec=str(tuned_dir)),
        eval=replace(cfg.eval, per_speaker=1, speaker_encoder="resemblyzer"),
    )  # fmt: skip
    reports = {r.stage: r for r in run(cfg, 6, 8)}
    assert sorted(reports) == [6, 7, 8]
    assert any("decoder fine-tune" in n for n in reports[7].notes)
    for kind in ("ar", "nar"):
        assert (cfg.exp / "lm" / kind / "export" / "config.json").is_file()
        assert reports[6].counts[f"{kind}_checkpoints"] >= 1
    from echovox import Synthesizer

    tts = Synthesizer.from_pretrained(cfg.exp / "model")
    assert tts.sample_rate == codec.sample_rate
    w = next(tts.codec.decoder.parameters())
    assert torch.allclose(w, next(tuned.decoder.parameters()).half().float())
    # stage 8 scored the held-out voice's items and wrote the tables
    assert reports[8].counts["items"] >= 1 and reports[8].counts["speakers"] == 1
    results = json.loads((cfg.exp / "eval/results/results.json").read_text())
    assert results["items"] and (cfg.exp / "eval/results/results.md").is_file()
    # a second run finds every stage done
    assert run(cfg, 6, 8) == []
    # stage 7 takes an LM export made elsewhere (model.nar) when stage 6 trains only the AR
    elsewhere = shutil.copytree(cfg.exp / "lm/nar/export", tmp_path / "nar_elsewhere")
    shutil.rmtree(cfg.exp / "lm/nar/export")
    model = replace(cfg.model, nar=str(elsewhere))
    cfg = replace(cfg, lm=replace(cfg.lm, kinds=["ar"]), model=model)
    [report] = run(cfg, 7, 7, force=True)
    assert f"NAR: {elsewhere} (model.nar)" in report.notes
    assert Synthesizer.from_pretrained(cfg.exp / "model").nar is not None
