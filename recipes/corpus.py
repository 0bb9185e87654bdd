"""Stage 1 of the LibriLight-shaped recipes: find and verify the tree, count hours per subset.

Layout: `<root>/<subset>/<speakerID>/<book>/<file>.flac` with `<file>.json` beside each flac.
The JSON is read in stage 2 (segmentation), which is where a bad one costs that file only.
Sharded by book: a book folder is a unit whose fingerprint is its files' sizes and mtimes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .stage import ShardJob, ShardResult, StageReport, Unit, digest, reset_work, run_sharded

LIBRILIGHT_DOCS = (
    "LibriLight is not downloaded by echovox. The official archives (small.tar ~577 h, "
    "medium.tar ~5.2k h, large.tar ~52k h, duplicate.tar ~4.5k h) are documented at "
    "https://github.com/facebookresearch/libri-light/blob/main/data_preparation/README.md "
    "(files under https://dl.fbaipublicfiles.com/librilight/data/). Unpack them under "
    "corpus.root so that <root>/<subset>/<speaker>/<book>/<file>.flac exists."
)

AUDIO_SUFFIXES = (".flac", ".wav")


def files_features():
    from datasets import Features, Value

    return Features(
        {
            "path": Value("string"),
            "subset": Value("string"),
            "speaker": Value("string"),
            "book": Value("string"),
            "stem": Value("string"),
            "duration": Value("float64"),
            "has_json": Value("bool"),
        }
    )


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def list_tree(root: Path, subsets: list[str], notes: list[str]) -> list[Unit]:
    """One unit per <subset>/<speaker>/<book> folder: its audio files with their size and
    mtime, and those of their JSON, so that a changed, added or removed file changes the
    fingerprint of its book only. Only directory listings and stat calls: no audio is read."""
    units = []
    for subset in subsets:
        sub = root / subset
        if not sub.is_dir():
            notes.append(f"subset {subset!r} not present under {root}")
            continue
        stray = 0
        for book in sorted(p for p in sub.glob("*/*") if p.is_dir()):
            rows = []
            for path in sorted(book.iterdir()):
                if path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file():
                    continue
                size, mtime = _stat(path)
                meta = path.with_suffix(".json")
                jsize, jmtime = _stat(meta) if meta.is_file() else (-1, -1)
                rows.append({"rel": str(path.relative_to(root)), "subset": subset,
                             "size": size, "mtime": mtime, "json_size": jsize,
                             "json_mtime": jmtime})  # fmt: skip
            if rows:
                key = f"{subset}/{book.parent.name}/{book.name}"
                units.append(Unit(key, digest(rows), rows, len(rows), [book.parent.name]))
        stray = sum(1 for p in sub.glob("*") if p.is_file() and not p.name.startswith("."))
        stray += sum(1 for p in sub.glob("*/*") if p.is_file() and not p.name.startswith("."))
        if stray:
            notes.append(f"{subset}: {stray} file(s) outside <speaker>/<book>/ ignored")
    return units


def verify_shard(rows: list[dict], root: str) -> ShardResult:
    """Read the header of every audio file of a book: its duration, or why it is skipped."""
    import soundfile as sf

    result = ShardResult()
    for row in rows:
        rel = row["rel"]
        path = Path(root) / rel
        if row["size"] == 0:
            result.skipped.append((rel, "zero-length audio (empty file)"))
            continue
        try:
            info = sf.info(str(path))
            duration = float(info.frames) / float(info.samplerate)
        except Exception as err:  # soundfile raises several types for corrupt files
            result.skipped.append((rel, f"unreadable audio: {type(err).__name__}"))
            continue
        if duration <= 0:
            result.skipped.append((rel, "zero-length audio"))
            continue
        result.rows.append(
            {
                "path": str(path),
                "subset": row["subset"],
                "speaker": path.parent.parent.name,
                "book": path.parent.name,
                "stem": path.stem,
                "duration": duration,
                "has_json": row["json_size"] >= 0,
            }
        )
    return result


def probe_tree(cfg) -> str:
    """Stage 1's input, cheaply: the listing's fingerprints (sizes and mtimes)."""
    root = Path(cfg.corpus.root)
    units = list_tree(root, cfg.corpus.subsets, []) if root.is_dir() else []
    return digest([str(root.resolve()), [(u.key, u.fingerprint) for u in units]])


def stage_verify(cfg, force: bool = False) -> StageReport:
    """Sharded by book and resumable; a rerun after the tree grew reads only the new books."""
    report = StageReport(1, "verify tree")
    root = Path(cfg.corpus.root)
    report.notes.append(LIBRILIGHT_DOCS)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus.root {root} does not exist. {LIBRILIGHT_DOCS}")
    units = list_tree(root, cfg.corpus.subsets, report.notes)
    if not units:
        raise FileNotFoundError(
            f"no <subset>/<speaker>/<book>/<file>.flac under {root} for subsets "
            f"{cfg.corpus.subsets}. {LIBRILIGHT_DOCS}"
        )
    work = cfg.exp / "shards" / "verify"
    if force:
        reset_work(work)
    job = ShardJob(
        fn_path="echovox.recipes.corpus:verify_shard",
        params=str(root.resolve()),
        work=work,
        out=cfg.exp / "files",
        features=files_features(),
        shard_size=cfg.work.shard_size * 8,  # a header read per file: cheap, a book per shard
        desc="verify",
    )
    ds = run_sharded(job, units, cfg.work, report)
    if ds is None:
        return report
    report.counts["files"] = len(ds)
    speakers, books = ds["speaker"], ds["book"]
    report.counts["speakers"] = len(set(speakers))
    report.counts["books"] = len(set(zip(speakers, books)))
    report.hours.update(_hours_by_subset(ds))
    no_json = len(ds) - sum(ds["has_json"])
    if no_json:
        report.notes.append(f"{no_json} file(s) have no JSON: stage 2 runs a VAD on them")
    return report


def _hours_by_subset(ds) -> dict[str, float]:
    hours: Counter = Counter()
    for subset, d in zip(ds["subset"], ds["duration"]):
        hours[subset] += d / 3600.0
    return {k: round(v, 4) for k, v in sorted(hours.items())}
