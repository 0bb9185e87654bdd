"""Stage 4: normalise and phonemise transcripts with echovox.text, and split by speaker.

Splits are by speaker, never by utterance, so dev/test measure voices the model never heard.
A speaker's split is fixed by a hash of (seed, speaker), not by the order speakers were found,
so growing a corpus does not move existing speakers between splits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from echovox.checkpoint import read_json, write_json

from .stage import ShardJob, ShardResult, StageReport, digest, run_sharded, units_of

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


def assign_splits(
    speakers: list[str], cfg, notes: list[str] | None = None, previous: dict | None = None
) -> dict[str, str]:
    """speaker -> 'train' | 'dev' | 'test'; speakers in `exclude_speakers` are left out.

    `heldout_speakers` go to test; speakers in `previous` (the assignment of an earlier run)
    keep their split, so a growing corpus never moves a speaker. Then new speakers are drawn
    (by hash order) until test and dev hold `test_speakers` and `dev_speakers`, but only while
    at least one training speaker remains; the rest train.
    """
    notes = notes if notes is not None else []
    exclude = set(map(str, cfg.exclude_speakers))
    heldout = set(map(str, cfg.heldout_speakers))
    previous = previous or {}
    out: dict[str, str] = {}
    pool = []
    for spk in sorted(set(speakers)):
        if spk in exclude:
            continue
        if spk in heldout:
            out[spk] = "test"
        elif spk in previous:
            out[spk] = previous[spk]
        else:
            pool.append(spk)
    pool.sort(key=lambda s: hashlib.sha256(f"{cfg.seed}:{s}".encode()).hexdigest())
    have = {v: sum(1 for s, x in out.items() if x == v and s not in heldout) for v in SPLITS}
    spare = len(pool) + have["train"] - 1  # speakers that may leave training
    n_test = max(0, min(cfg.test_speakers - have["test"], spare))
    n_dev = max(0, min(cfg.dev_speakers - have["dev"], spare - n_test))
    got = (have["test"] + n_test, have["dev"] + n_dev)
    if got[0] < cfg.test_speakers or got[1] < cfg.dev_speakers:
        notes.append(
            f"only {len(pool) + sum(have.values())} speaker(s) to split: {got[0]} test and "
            f"{got[1]} dev speakers (asked {cfg.test_speakers} and {cfg.dev_speakers}) so that "
            "training keeps one"
        )
    for i, spk in enumerate(pool):
        out[spk] = "test" if i < n_test else "dev" if i < n_test + n_dev else "train"
    return out


def utterance_filter(row: dict, n_phonemes: int, f) -> str | None:
    """Why stage 4's filters (FilterConfig) drop this utterance, or None."""
    seconds = row["end"] - row["start"]
    conf, snr = row.get("asr_confidence"), row.get("snr")
    rate = n_phonemes / max(seconds, 1e-6)
    checks = [
        (f.min_confidence, conf is not None and conf < (f.min_confidence or 0), "ASR confidence"),
        (f.min_snr, snr is not None and snr < (f.min_snr or 0), "SNR"),
        (f.min_phones_per_second, rate < (f.min_phones_per_second or 0), "speaking rate"),
        (f.min_seconds, seconds < (f.min_seconds or 0), "duration"),
    ]
    for bound, low, what in checks:
        if bound is not None and low:
            return f"filter: {what} below {bound}"
    if f.max_phones_per_second is not None and rate > f.max_phones_per_second:
        return f"filter: speaking rate above {f.max_phones_per_second} phonemes/s"
    if f.max_seconds is not None and seconds > f.max_seconds:
        return f"filter: duration above {f.max_seconds} s"
    return None


@dataclass
class PhonemeParams:
    language: str
    symbols_path: str
    split_of: dict[str, str]
    filters: Any = None  # FilterConfig


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
        dropped = utterance_filter(row, len(ids), p.filters) if p.filters else None
        if dropped:
            result.skipped.append((row["id"], dropped))
            continue
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

    report = StageReport(4, "normalise + phonemise + filter + split")
    work = cfg.exp / "shards" / "phonemize"
    if force:
        reset_work(work)
    units = units_of(cfg.exp / "manifest")
    symbols_path = cfg.exp / "symbols.json"
    if not symbols_path.exists():
        SymbolTable.default().save(symbols_path)
    split_of = stable_splits(cfg, {s for u in units for s in u.speakers}, force, report.notes)
    job = ShardJob(
        fn_path="echovox.recipes.phonemes:phonemize_shard",
        params=PhonemeParams(cfg.text.language, str(symbols_path), split_of, cfg.filters),
        work=work,
        out=cfg.exp / "phonemes",
        features=phonemes_features(),
        shard_size=cfg.work.shard_size * 4,  # cheap per item; bigger batches for espeak
        desc="phonemize",
        stamp=[cfg.text.language, digest(symbols_path.read_text()), cfg.filters],
        # a shard changes when one of its speakers changes split, not when a speaker is added
        unit_stamp=lambda unit: {s: split_of.get(s) for s in unit.speakers},
    )
    ds = run_sharded(job, units, cfg.work, report)
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


def stable_splits(cfg, speakers: set[str], force: bool, notes: list[str]) -> dict[str, str]:
    """assign_splits, starting from exp_dir/splits.json (the last run's) unless forced, and
    saved back: adding speakers never moves one that was already split."""
    path = cfg.exp / "splits.json"
    previous = read_json(path) if path.is_file() and not force else {}
    split_of = assign_splits(sorted(speakers), cfg.splits, notes, previous)
    write_json(path, split_of)
    return split_of
