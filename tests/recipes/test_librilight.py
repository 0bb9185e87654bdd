"""The LibriLight recipe on a tree in the released layout that grows by a subset: stages 1-5
process only what is new, the splits add up, and no stage writes a full copy of its input."""

from __future__ import annotations

import pytest
from recipe_helpers import librilight_file, needs_espeak

from echovox.recipes.config import config_from_dict
from echovox.recipes.runner import run
from echovox.recipes.stage import load_dataset_dir

pytestmark = [needs_espeak]

SENTENCES = [
    "The boat sailed across the quiet harbour at dawn.",
    "Nobody expected the old clock to strike thirteen.",
    "She folded the letter twice and hid it in a book.",
    "A cold wind came down from the northern hills.",
]


def _cfg(tmp_path, codec, **over):
    data = {
        "recipe": "librilight",
        "exp_dir": str(tmp_path / "exp"),
        "corpus": {"root": str(tmp_path / "ll"), "subsets": ["small", "medium"]},
        "segment": {"min_seconds": 1.0, "target_seconds": 2.0, "vad_fallback": "energy"},
        "asr": {"backend": "reference"},
        "splits": {"dev_speakers": 1, "test_speakers": 1, "exclude_speakers": []},
        "tokenize": {"codec": str(codec), "batch_size": 4},
        "work": {"num_proc": 1, "shard_size": 2},
    }
    data.update(over)
    return config_from_dict(data)


def _by_stage(reports):
    return {r.stage: r for r in reports}


def _split_rows(exp):
    return {s: len(load_dataset_dir(exp / "tokens" / s)) for s in ("train", "dev", "test")}


def test_growing_corpus_processes_only_what_is_new(tmp_path, tiny_codec_dir):
    root = tmp_path / "ll"
    voices = ["mb-us1", "mb-us2", "mb-us3"]
    for k, voice in enumerate(voices):
        librilight_file(root, f"small/10{k}/b{k}/ch0", SENTENCES[k : k + 2], voice)
    cfg = _cfg(tmp_path, tiny_codec_dir)
    first = _by_stage(run(cfg, 1, 5))
    assert sorted(first) == [1, 2, 3, 4, 5] and all(r.complete for r in first.values())
    n_segments = len(load_dataset_dir(cfg.exp / "segments"))
    assert n_segments == 6  # one utterance per sentence
    splits_before = _split_rows(cfg.exp)
    assert sum(splits_before.values()) == 6 and all(splits_before.values())
    import json

    assignment = json.loads((cfg.exp / "splits.json").read_text())

    # nothing changed: every stage is skipped
    assert run(cfg, 1, 5) == []

    # the second subset arrives: a new speaker, and a new book of a known one
    librilight_file(root, "medium/200/b9/ch0", SENTENCES[2:4], "mb-en1")
    librilight_file(root, "medium/100/b8/ch0", SENTENCES[:1], "mb-us1")
    second = _by_stage(run(cfg, 1, 5))
    assert sorted(second) == [1, 2, 3, 4, 5]
    assert second[1].counts["items processed"] == 2  # two new files
    assert second[1].counts["shards reused"] == 3  # the three books of small
    assert second[2].counts["items processed"] == 2
    new_utts = 3
    for n in (3, 4, 5):
        assert second[n].counts["items processed"] == new_utts, n
        assert second[n].counts["shards reused"] == first[n].counts["shards processed"], n
    assert len(load_dataset_dir(cfg.exp / "segments")) == n_segments + new_utts

    # the split counts add up, and no known speaker moved
    rows = _split_rows(cfg.exp)
    assert sum(rows.values()) == len(load_dataset_dir(cfg.exp / "phonemes")) == 9
    assert len(load_dataset_dir(cfg.exp / "tokens/all")) == 9
    grown = json.loads((cfg.exp / "splits.json").read_text())
    assert {s: grown[s] for s in assignment} == assignment and grown["200"] == "train"
    assert rows["train"] == splits_before["train"] + new_utts

    # no stage wrote a full copy: every Arrow file lives in a stage's shards
    arrows = list(cfg.exp.rglob("*.arrow"))
    assert arrows and all("shards" in p.relative_to(cfg.exp).parts for p in arrows)
    for view in ("files", "segments", "manifest", "phonemes", "tokens/train", "tokens/dev"):
        assert (cfg.exp / view / "view.json").is_file()

    # a changed file (new mtime and size) is found, and only its book is redone
    librilight_file(root, "small/101/b1/ch0", SENTENCES[3:4], "mb-us2")
    third = _by_stage(run(cfg, 1, 3))
    assert third[1].counts["items processed"] == 1 and third[2].counts["items processed"] == 1
    assert third[3].counts["items processed"] == 1
    assert len(load_dataset_dir(cfg.exp / "manifest")) == 8  # 2 utterances became 1


def test_training_reads_the_split_views_and_their_length_index(tmp_path, tiny_codec_dir):
    """Fewer than three speakers: dev is drawn from training utterances, never empty."""
    from echovox.dataview import read_lengths
    from echovox.lm.data import TokenDataset

    root = tmp_path / "ll"
    librilight_file(root, "small/1/b/ch0", SENTENCES, "mb-us1")
    librilight_file(root, "small/2/b/ch0", SENTENCES[:2], "mb-us2")
    cfg = _cfg(tmp_path, tiny_codec_dir)
    reports = _by_stage(run(cfg, 1, 5))
    assert any("no dev speakers" in n for n in reports[5].notes)
    rows = _split_rows(cfg.exp)
    assert rows["dev"] >= 1 and rows["train"] >= 1 and sum(rows.values()) == 6
    train = TokenDataset(cfg.exp / "tokens/train", max_phonemes=500)
    lengths = read_lengths(cfg.exp / "tokens/train")
    assert train.lengths == lengths["n_frames"].tolist()
    assert train[0].codes.shape[1] == train.lengths[0]
    dev_ids = set(load_dataset_dir(cfg.exp / "tokens/dev")["id"])
    assert not dev_ids & set(load_dataset_dir(cfg.exp / "tokens/train")["id"])


@pytest.mark.parametrize("value", ["auto", 2, "2"])
def test_num_proc_auto_is_one_per_gpu(tmp_path, value):
    import torch

    cfg = _cfg(tmp_path, tmp_path, work={"num_proc": value})
    assert cfg.work.num_proc == (max(1, torch.cuda.device_count()) if value == "auto" else 2)
    with pytest.raises(ValueError, match="positive count or 'auto'"):
        _cfg(tmp_path, tmp_path, work={"num_proc": "many"})


def test_shipped_config_is_sized_for_a_node(tmp_path):
    import yaml
    from recipe_helpers import REPO

    from echovox.recipes.config import load_config

    cfg = load_config(REPO / "recipes/librilight/config.yaml")
    assert "duplicate" not in cfg.corpus.subsets  # unlab-60k = small + medium + large
    assert cfg.asr.backend == "whisper" and cfg.eval.librispeech and cfg.eval.per_speaker == 0
    assert isinstance(cfg.work.num_proc, int)  # "auto" became one per GPU
    for kind in ("ar", "nar"):
        text = (REPO / getattr(cfg.lm, f"{kind}_config")).read_text()
        trainer = yaml.safe_load(text)["trainer"]
        assert trainer["precision"] == "bf16-mixed" and trainer["accumulate_grad_batches"] > 1
        assert "preset: valle" in text


class ListeningDouble:
    """Stands in for echovox.eval.asr's Whisper (tested in tests/eval): the interface stage 3
    uses, with a confidence per utterance from a script and the flag `silent` for one."""

    def __init__(self, confidences):
        self.confidences = list(confidences)

    def transcribe_detailed(self, wavs):
        from types import SimpleNamespace

        out = []
        for _ in wavs:
            conf = self.confidences.pop(0)
            flag = "silent" if conf is None else None
            out.append(SimpleNamespace(text="" if flag else "the boat sailed across the harbour",
                                       confidence=conf, flag=flag))  # fmt: skip
        return out


def test_stage3_on_the_asr_interface_and_stage4_filters(tmp_path, monkeypatch, tiny_codec_dir):
    from echovox.eval import asr as eval_asr

    root = tmp_path / "ll"
    librilight_file(root, "small/1/b/ch0", SENTENCES[:3], "mb-us1", snr=25.0)
    librilight_file(root, "small/2/b/ch0", SENTENCES[:2], "mb-us2", snr=4.0)
    seen = {}

    def load_asr(backend, model=None, device="auto", threads=None, batch_size=8, language="en"):
        seen.update(backend=backend, device=device, language=language, batch_size=batch_size)
        return ListeningDouble([0.9, 0.2, None, 0.95, 0.9])

    monkeypatch.setattr(eval_asr, "load_asr", load_asr, raising=False)
    filters = {"min_confidence": 0.5, "min_snr": 10.0}
    cfg = _cfg(tmp_path, tiny_codec_dir, asr={"backend": "whisper", "batch_size": 8},
               filters=filters)  # fmt: skip
    reports = _by_stage(run(cfg, 1, 4))
    assert seen == {"backend": "whisper", "device": "cpu", "language": "en", "batch_size": 8}
    assert reports[3].skipped == {"ASR flag: silent": 1}
    manifest = load_dataset_dir(cfg.exp / "manifest")
    assert sorted(manifest["asr_confidence"]) == [0.2, 0.9, 0.9, 0.95]
    assert reports[4].skipped == {"filter: ASR confidence below 0.5": 1,
                                  "filter: SNR below 10.0": 2}  # fmt: skip
    assert len(load_dataset_dir(cfg.exp / "phonemes")) == 1


def test_rate_and_duration_filters():
    from echovox.recipes.config import FilterConfig
    from echovox.recipes.phonemes import utterance_filter

    row = {"start": 1.0, "end": 3.0, "snr": None, "asr_confidence": None}
    f = FilterConfig(min_phones_per_second=5, max_phones_per_second=25, max_seconds=10)
    assert utterance_filter(row, 20, f) is None  # 10 phonemes a second
    assert "speaking rate below 5" in utterance_filter(row, 4, f)
    assert "speaking rate above 25" in utterance_filter(row, 60, f)
    assert "duration below 3" in utterance_filter(row, 20, FilterConfig(min_seconds=3))
    assert utterance_filter(row, 20, FilterConfig(min_confidence=0.9, min_snr=30)) is None


def test_an_unreachable_codec_says_what_to_pass(monkeypatch):
    """The hub's offline error (an OSError, as EncodecCodec.load re-raises it) becomes a line
    that names what to pass instead."""
    from echovox.codec import Codec
    from echovox.recipes import tokens
    from echovox.recipes.tokens import CodecUnavailable, TokenizeParams, load_codec

    def offline(path_or_id, device=None):
        raise OSError(f"We couldn't connect to 'https://huggingface.co' to load {path_or_id}")

    monkeypatch.setattr(Codec, "from_pretrained", staticmethod(offline))
    monkeypatch.setattr(tokens, "_CODEC", None)
    with pytest.raises(CodecUnavailable, match="not a local folder.*--codec PATH"):
        load_codec(TokenizeParams("facebook/encodec_24khz", 8, 1, "cpu"))


def test_stage8_list_follows_valle_protocol(tmp_path):
    """eval.librispeech: LibriSpeech test-clean, 4-10 s targets, 3-s prompts."""
    import soundfile as sf
    from recipe_helpers import tone_bursts

    from echovox.recipes.stage import StageReport
    from echovox.recipes.train import build_eval_list

    ls = tmp_path / "test-clean" / "61" / "70968"
    ls.mkdir(parents=True)
    lines = []
    for k, seconds in enumerate([3.0, 5.0, 6.0, 12.0]):
        sf.write(ls / f"61-70968-{k:04d}.flac", tone_bursts([(0.1, seconds - 0.1)], seconds), 16000)
        lines.append(f"61-70968-{k:04d} HE BEGAN A CONFUSED COMPLAINT NUMBER {k}")
    (ls / "61-70968.trans.txt").write_text("\n".join(lines) + "\n")
    cfg = _cfg(tmp_path, tmp_path, eval={"librispeech": str(tmp_path / "test-clean"),
                                         "per_speaker": 0})  # fmt: skip
    built = build_eval_list(cfg, StageReport(8, "evaluate"))
    assert len(built.items) == 2  # the 3 s and 12 s utterances are no targets
    assert all("-0001" in i.id or "-0002" in i.id for i in built.items)
    missing = _cfg(tmp_path, tmp_path, eval={"librispeech": str(tmp_path / "nope")})
    with pytest.raises(FileNotFoundError, match="VALL-E's protocol"):
        build_eval_list(missing, StageReport(8, "evaluate"))


def test_stage6_takes_frame_rate_and_codebooks_from_the_codec(tmp_path):
    import yaml
    from recipe_helpers import REPO

    from echovox.checkpoint import write_json
    from echovox.recipes.train import run_yaml

    cfg = _cfg(tmp_path, tmp_path, lm={"ar_config": str(REPO / "lm/configs/ar_valle.yaml"),
                                       "devices": 8, "num_nodes": 4})  # fmt: skip
    codec = {"frame_rate": 50.0, "n_q": 6, "codebook_size": 2048, "sample_rate": 16000}
    write_json(cfg.exp / "tokens/codec.json", codec)
    data = yaml.safe_load(run_yaml(cfg, "ar").read_text())
    assert data["data"]["frame_rate"] == 50.0
    assert data["model"]["model_overrides"]["n_codebooks"] == 6
    assert data["model"]["model_overrides"]["codebook_size"] == 2048
    assert data["trainer"]["devices"] == 8 and data["trainer"]["num_nodes"] == 4


@pytest.mark.slow
def test_stage6_under_torchrun_trains_on_two_processes(tmp_path, tiny_codec_dir):
    """The multi-node launch of recipes/librilight/README.md, on one machine: torchrun starts
    the recipe's stage 6 in two processes, whose `echovox lm train` children join one DDP run
    through torchrun's environment; rank 0 alone records the stage."""
    import dataclasses
    import json
    import subprocess
    import sys

    import yaml
    from recipe_helpers import REPO

    root = tmp_path / "ll"
    for k in range(3):
        librilight_file(root, f"small/{k}/b/ch0", SENTENCES[k : k + 2], f"mb-us{k + 1}")
    cfg = _cfg(tmp_path, tiny_codec_dir)
    run(cfg, 1, 5)
    codec = json.loads((cfg.exp / "tokens/codec.json").read_text())
    # a command-line dict replaces the YAML's whole model_overrides: repeat the codec's shape
    shape = {"max_frames": 2048, "n_codebooks": codec["n_q"]}
    shape["codebook_size"] = codec["codebook_size"]
    overrides = ["--trainer.max_steps=2", "--trainer.val_check_interval=2",
                 "--trainer.accelerator=cpu", "--data.num_workers=0",
                 f"--model.model_overrides={json.dumps(shape)}"]  # fmt: skip
    recipe = dataclasses.asdict(cfg)
    recipe["lm"].update(ar_config=str(REPO / "lm/configs/ar_tiny.yaml"), kinds=["ar"],
                        devices=2, num_nodes=1, overrides=overrides)  # fmt: skip
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", "29517", "-m", "echovox.app.cli", "recipe", "run", str(path),
                "--stage", "6", "--stop_stage", "6"]  # fmt: skip
    r = subprocess.run(torchrun, cwd=REPO, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    log = (cfg.exp / "lm/ar/train.log").read_text()
    assert "distributed_backend=gloo" in log and "GLOBAL_RANK: 1" in log
    assert (cfg.exp / "lm/ar/export/config.json").is_file()
    assert json.loads((cfg.exp / ".done/stage6.done").read_text())["input"]


def _libriheavy_cut(rel: str, k: int, start: float, end: float, text: str) -> dict:
    """One line of libriheavy_cuts_<subset>.jsonl.gz, in k2-fsa/libriheavy's schema."""
    rec = rel.rsplit(".", 1)[0]
    sup = {"id": f"{rec}_{k}", "recording_id": rec, "start": 0, "duration": end - start,
           "channel": 0, "language": "English", "speaker": rel.split("/")[1],
           "custom": {"texts": [text, text.upper()], "pre_texts": ["", ""],
                      "begin_byte": 0, "end_byte": 1}}  # fmt: skip
    recording = {"id": rec, "sampling_rate": 16000, "num_samples": 0, "duration": 0.0,
                 "channel_ids": [0], "sources": [{"type": "file", "channels": [0],
                 "source": f"download/librilight/{rel}"}]}  # fmt: skip
    return {"id": f"{rec}_{k}", "start": start, "duration": end - start, "channel": 0,
            "supervisions": [sup], "recording": recording, "type": "MonoCut"}  # fmt: skip


def test_libriheavy_cuts_and_text_replace_segmentation_and_asr(tmp_path, tiny_codec_dir):
    import gzip
    import json

    root = tmp_path / "ll"
    librilight_file(root, "small/1/b/ch0", SENTENCES[:3], "mb-us1")
    librilight_file(root, "small/2/b/ch0", SENTENCES[3:], "mb-us2")
    librilight_file(root, "small/3/b/ch0", SENTENCES[:1], "mb-us3")  # not in Libriheavy
    truth = json.loads((root / "transcripts/small/1/b/ch0.json").read_text())["sentences"]
    other = json.loads((root / "transcripts/small/2/b/ch0.json").read_text())["sentences"]
    cuts = [
        _libriheavy_cut("small/1/b/ch0.flac", 0, truth[0]["start"], truth[0]["end"],
                        "The boat sailed across the quiet harbour, at dawn."),
        _libriheavy_cut("small/1/b/ch0.flac", 1, truth[1]["start"], truth[2]["end"],
                        "Nobody expected it. She folded the letter."),
        _libriheavy_cut("small/2/b/ch0.flac", 0, other[0]["start"], other[0]["end"],
                        "A cold wind came down."),
    ]  # fmt: skip
    (tmp_path / "lh").mkdir()
    with gzip.open(tmp_path / "lh/libriheavy_cuts_small.jsonl.gz", "wt") as fh:
        fh.writelines(json.dumps(c) + "\n" for c in cuts)
    cfg = _cfg(tmp_path, tiny_codec_dir, asr={"backend": "libriheavy"},
               corpus={"root": str(root), "subsets": ["small"], "libriheavy": str(tmp_path / "lh")},
               segment={"min_seconds": 1.0, "max_seconds": 20.0})  # fmt: skip
    reports = _by_stage(run(cfg, 1, 3))
    assert reports[2].skipped == {"no Libriheavy cut of this file (it has no text there)": 1}
    manifest = load_dataset_dir(cfg.exp / "manifest")
    assert list(manifest["text"]) == [c["supervisions"][0]["custom"]["texts"][0] for c in cuts]
    assert list(manifest["start"]) == [c["start"] for c in cuts]
    assert set(manifest["asr_backend"]) == {"libriheavy"} and set(manifest["speaker"]) == {"1", "2"}
    # the manifest changes: stage 2 notices and redoes its shards
    cuts[1]["supervisions"][0]["custom"]["texts"][0] = "Nobody expected it."
    with gzip.open(tmp_path / "lh/libriheavy_cuts_small.jsonl.gz", "wt") as fh:
        fh.writelines(json.dumps(c) + "\n" for c in cuts)
    reports = _by_stage(run(cfg, 1, 3))
    assert sorted(reports) == [2, 3] and reports[2].counts["shards processed"] == 3
    # stage 3 is keyed on stage 2's output: only the book whose text changed is redone
    assert reports[3].counts["shards processed"] == 1 and reports[3].counts["shards reused"] == 1
    assert load_dataset_dir(cfg.exp / "manifest")["text"][1] == "Nobody expected it."
