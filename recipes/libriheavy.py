"""Libriheavy (github.com/k2-fsa/libriheavy): LibriLight's own audio cut into utterances with
the books' text (cased and punctuated), about 50k hours, as lhotse cut manifests
`libriheavy_cuts_<subset>.jsonl.gz` (its `cases_and_punc/lhotse` folder).

With `corpus.libriheavy: FOLDER`, stage 2 takes Libriheavy's cuts instead of cutting at pauses
and keeps their text, and stage 3 (`asr.backend: libriheavy`) takes that text instead of
recognising speech: no ASR hours at all. The manifests are split once by book into
`exp_dir/libriheavy/<subset>/<speaker>/<book>.jsonl`, so a stage-2 shard reads only its books'
cuts; the split is redone only when a manifest's size or mtime changes.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

from echovox.checkpoint import read_json, write_json

from .stage import digest

AUDIO_PREFIX = "download/librilight/"  # Libriheavy's manifests hard-code this folder


def manifests(folder: Path, subsets: list[str]) -> list[Path]:
    found = [folder / f"libriheavy_cuts_{s}.jsonl.gz" for s in subsets]
    found = [f for f in found if f.is_file()]
    if not found:
        raise FileNotFoundError(
            f"corpus.libriheavy {folder} holds no libriheavy_cuts_<subset>.jsonl.gz for "
            f"subsets {subsets} (the cases_and_punc/lhotse folder of k2-fsa/libriheavy)"
        )
    return found


def _cut_row(cut: dict) -> tuple[str, dict]:
    """(the audio's path relative to the LibriLight root, the utterance) of one cut."""
    sup = cut["supervisions"][0]
    texts = (sup.get("custom") or {}).get("texts") or [sup.get("text") or ""]
    source = cut["recording"]["sources"][0]["source"]
    rel = source.split(AUDIO_PREFIX, 1)[-1]
    start = float(cut["start"])
    return rel, {"id": cut["id"], "start": start, "end": start + float(cut["duration"]),
                 "text": texts[0], "stem": Path(rel).stem}  # fmt: skip


def build_index(folder: str | Path, subsets: list[str], out: Path) -> str:
    """Split the manifests by book into out/ (once per manifest version); returns the
    version's stamp, which stage 2's shards carry."""
    files = manifests(Path(folder), subsets)
    stamp = digest([(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files])
    done = out / "stamp.json"
    if done.is_file() and read_json(done).get("stamp") == stamp:
        return stamp
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    for f in files:
        _split_by_book(f, tmp)
    write_json(tmp / "stamp.json", {"stamp": stamp})
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return stamp


def _split_by_book(manifest: Path, out: Path) -> None:
    """Cuts come grouped by recording: one book's lines are buffered, then appended to its
    file, so the split holds one book in memory, not the manifest."""
    book, rows = None, []

    def flush():
        if rows:
            path = out / f"{book}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as fh:
                fh.writelines(json.dumps(r) + "\n" for r in rows)
        rows.clear()

    with gzip.open(manifest, "rt", encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            rel, row = _cut_row(json.loads(line))
            this = str(Path(rel).parent)
            if this != book:
                flush()
                book = this
            rows.append(row)
    flush()


def cuts_of(index: str, row: dict) -> list[dict]:
    """Libriheavy's utterances of one stage-1 file row, in time order ([] when it has none)."""
    path = Path(index) / row["subset"] / row["speaker"] / f"{row['book']}.jsonl"
    if not path.is_file():
        return []
    cuts = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted((c for c in cuts if c["stem"] == row["stem"]), key=lambda c: c["start"])
