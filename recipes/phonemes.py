"""Stage 4: normalise and phonemise transcripts with echovox.text, and split by speaker.

Splits are by speaker, never by utterance, so dev/test measure voices the model never heard.
A speaker's split is fixed by a hash of (seed, speaker), not by the order speakers were found,
so growing a corpus does not move existing speakers between splits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .stage import ShardJob, ShardResult, StageReport, load_dataset_dir, run_sharded

SPLITS = ("train", "dev", "test")


def phonemes_features():
    from datasets import Features, List, Value

    from .asr import manifest_features

    f = dict(manifest_features())
    f.update(
        normalized=Value("string"),
        phonemes=List(Value("int32")),
        n_unk=Value("int32"),
        split=Value("string"),
    )
    return Features(f)


def assign_splits(speakers: list[str], cfg, notes: list[str] | None = None) -> dict[str, str]:
    """speaker -> 'train' | 'dev' | 'test'; speakers in `exclude_speakers` are left out.

    `heldout_speakers` go to test. Then `test_speakers` and `dev_speakers` more are drawn (by
    hash order), but only while at least one training speaker remains.
    """
    notes = notes if notes is not None else []
    exclude = set(map(str, cfg.exclude_speakers))
    heldout = set(map(str, cfg.heldout_speakers))
    out: dict[str, str] = {}
    pool = []
    for spk in sorted(set(speakers)):
        if spk in exclude:
            continue
        if spk in heldout:
            out[spk] = "test"
        else:
            pool.append(spk)
    pool.sort(key=lambda s: hashlib.sha256(f"{cfg.seed}:{s}".encode()).hexdigest())
    n_test = min(cfg.test_speakers, max(0, len(pool) - 1))
    n_dev = min(cfg.dev_speakers, max(0, len(pool) - 1 - n_test))
    if (n_test, n_dev) != (cfg.test_speakers, cfg.dev_speakers):
        notes.append(
            f"only {len(pool)} speaker(s) to split: {n_test} test and {n_dev} dev speakers drawn "
            f"(asked {cfg.test_speakers} and {cfg.dev_speakers}) so that training keeps one"
        )
    for i, spk in enumerate(pool):
        out[spk] = "test" if i < n_test else "dev" if i < n_test + n_dev else "train"
    return out


@dataclass
class PhonemeParams:
    language: str
    symbols_path: str
    split_of: dict[str, str]


_FRONTEND = None


def _frontend(p: PhonemeParams):
    global _FRONTEND
    if _FRONTEND is None or _FRONTEND[0] != (p.language, p.symbols_path):
        from echovox.text import Phonemizer, SymbolTable

        _FRONTEND = (
            (p.language, p.symbols_path),
            Phonemizer(p.language),
            SymbolTable.load(p.symbols_path),
        )
    return _FRONTEND[1], _FRONTEND[2]


def phonemize_shard(rows: list[dict], p: PhonemeParams) -> ShardResult:
    from echovox.text import normalize, split_sentences

    result = ShardResult()
    phonemizer, symbols = _frontend(p)
    keep, sentences, owners = [], [], []
    for row in rows:
        split = p.split_of.get(row["speaker"])
        if split is None:
            result.skipped.append((row["id"], "speaker is in splits.exclude_speakers"))
            continue
        try:
            norm = normalize(row["text"], p.language)
            parts = split_sentences(norm)
        except ValueError as err:
            result.skipped.append((row["id"], f"text cannot be normalised: {err}"))
            continue
        if not parts:
            result.skipped.append((row["id"], "nothing speakable in the transcript"))
            continue
        keep.append((row, norm, split))
        sentences.extend(parts)
        owners.extend([len(keep) - 1] * len(parts))
    # one batched espeak call per shard: starting espeak per utterance would dominate the stage
    tokens = phonemizer.phonemize(sentences) if sentences else []
    per_row: list[list[str]] = [[] for _ in keep]
    for owner, toks in zip(owners, tokens):
        if toks:
            if per_row[owner]:
                per_row[owner].append("_")
            per_row[owner].extend(toks)
    for (row, norm, split), toks in zip(keep, per_row):
        if not toks:
            result.skipped.append((row["id"], "phonemizer produced no phonemes"))
            continue
        ids = symbols.encode(toks)
        out = dict(row)
        out.update(
            normalized=norm,
            phonemes=ids,
            n_unk=sum(i == symbols.unk_id for i in ids),
            split=split,
        )
        result.rows.append(out)
    return result


def stage_phonemize(cfg, force: bool = False) -> StageReport:
    from echovox.text import SymbolTable

    from .stage import reset_work, summarize_hours

    report = StageReport(4, "normalise + phonemise + split")
    work = cfg.exp / "shards" / "phonemize"
    if force:
        reset_work(work)
    manifest = load_dataset_dir(cfg.exp / "manifest")
    symbols_path = cfg.exp / "symbols.json"
    if not symbols_path.exists():
        SymbolTable.default().save(symbols_path)
    split_of = assign_splits(manifest.unique("speaker"), cfg.splits, report.notes)
    job = ShardJob(
        fn_path="echovox.recipes.phonemes:phonemize_shard",
        params=PhonemeParams(cfg.text.language, str(symbols_path), split_of),
        work=work,
        out=cfg.exp / "phonemes",
        features=phonemes_features(),
        shard_size=cfg.work.shard_size * 4,  # cheap per item; bigger batches for espeak
        desc="phonemize",
    )
    ds = run_sharded(job, manifest, cfg.work, report)
    if ds is not None:
        report.counts["utterances"] = len(ds)
        for split in SPLITS:
            spk = {s for s, v in split_of.items() if v == split}
            report.counts[f"{split} speakers"] = len(spk)
        report.hours.update(summarize_hours(ds, by="split"))
        n_unk = sum(ds["n_unk"])
        if n_unk:
            report.notes.append(f"{n_unk} phoneme(s) not in the symbol table became <unk>")
    return report
