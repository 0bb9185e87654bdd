"""Stage 1 of the LibriLight-shaped recipes: find and verify the tree, count hours per subset.

Layout: `<root>/<subset>/<speakerID>/<book>/<file>.flac` with `<file>.json` beside each flac.
The JSON is read in stage 2 (segmentation), which is where a bad one costs that file only.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .stage import StageReport, rows_to_dataset, save_dataset_atomic

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


def scan_tree(root: Path, subsets: list[str], report: StageReport) -> list[dict]:
    """Every audio file of the listed subsets, in a stable (sorted) order."""
    import soundfile as sf
    from tqdm.auto import tqdm

    rows = []
    hours: Counter = Counter()
    for subset in subsets:
        sub = root / subset
        if not sub.is_dir():
            report.notes.append(f"subset {subset!r} not present under {root}")
            continue
        paths = sorted(p for p in sub.glob("*/*/*") if p.suffix.lower() in AUDIO_SUFFIXES)
        known = set(paths)
        stray = [p for p in sub.rglob("*") if p.is_file() and p not in known]
        stray = [p for p in stray if p.suffix != ".json" and not p.name.startswith(".")]
        if stray:
            report.notes.append(
                f"{subset}: {len(stray)} file(s) outside <speaker>/<book>/ ignored, "
                f"e.g. {stray[0].relative_to(root)}"
            )
        for path in tqdm(paths, desc=f"verify {subset}", unit="file", dynamic_ncols=True):
            rel = str(path.relative_to(root))
            if path.stat().st_size == 0:
                report.skip(rel, "zero-length audio (empty file)")
                continue
            try:
                info = sf.info(str(path))
                duration = float(info.frames) / float(info.samplerate)
            except Exception as err:  # soundfile raises several types for corrupt files
                report.skip(rel, f"unreadable audio: {type(err).__name__}")
                continue
            if duration <= 0:
                report.skip(rel, "zero-length audio")
                continue
            has_json = path.with_suffix(".json").is_file()
            rows.append(
                {
                    "path": str(path.resolve()),
                    "subset": subset,
                    "speaker": path.parent.parent.name,
                    "book": path.parent.name,
                    "stem": path.stem,
                    "duration": duration,
                    "has_json": has_json,
                }
            )
            hours[subset] += duration / 3600.0
    report.hours.update({k: round(v, 4) for k, v in sorted(hours.items())})
    return rows


def stage_verify(cfg, force: bool = False) -> StageReport:
    report = StageReport(1, "verify tree")
    root = Path(cfg.corpus.root)
    report.notes.append(LIBRILIGHT_DOCS)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus.root {root} does not exist. {LIBRILIGHT_DOCS}")
    rows = scan_tree(root, cfg.corpus.subsets, report)
    if not rows:
        raise FileNotFoundError(
            f"no <subset>/<speaker>/<book>/<file>.flac under {root} for subsets "
            f"{cfg.corpus.subsets}. {LIBRILIGHT_DOCS}"
        )
    save_dataset_atomic(rows_to_dataset(rows, files_features()), cfg.exp / "files")
    report.counts["files"] = len(rows)
    report.counts["speakers"] = len({r["speaker"] for r in rows})
    report.counts["books"] = len({(r["speaker"], r["book"]) for r in rows})
    no_json = sum(not r["has_json"] for r in rows)
    if no_json:
        report.notes.append(f"{no_json} file(s) have no JSON: stage 2 runs a VAD on them")
    return report
