"""`echovox eval compare A B`: two `eval run` results of one test list, paired item by item.

Two models scored on the same 100 items differ by less than the spread between items, so the
two aggregate tables alone cannot say whether a change helped: a SIM-o 0.03 higher can be one
item in ten moving a lot or every item moving a little. Paired per item, the mean of B - A and
its standard error say that (the spread of a difference of paired scores is far smaller than
that of either), and so do the counts of items where B scored higher and lower.

For every item id present in both results and each part scored in both (the output, true q1 +
NAR, codec resynthesis), the metrics are the item's WER and CER, SIM-o, speaker-ID (1 right,
0 wrong: the mean difference is the accuracy's, and "higher"/"lower" count the items gained and
lost) and, for the output, the duration ratio. The corpus WER and CER of the paired items are
given beside the per-item means, since `eval run` reports the corpus figures.

The ship rule (ship_verdict, applied by default) reads words first (DESIGN.md, convention 13):
B is "worse" when any part's WER or CER rose by more than one standard error of the paired
difference, whatever it gains in SIM-o, speaker-ID or speed.

Written here rather than taken from scipy.stats.ttest_rel: only the mean difference, its
standard error and the counts are wanted, in a few lines of numpy, with no p-value to misread.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import CharErrors, WordErrors, corpus_rate

PARTS = (
    ("output", "output"),
    ("teacher_forced", "true q1 + NAR"),
    ("resynthesis", "codec resynthesis"),
)
# (key, title, unit scale for the markdown, digits), words first
METRICS = (
    ("wer", "WER % (per item)", 100.0, 1),
    ("cer", "CER % (per item)", 100.0, 1),
    ("sim_o", "SIM-o", 1.0, 4),
    ("speaker_id", "speaker-ID %", 100.0, 1),
    ("duration_ratio", "duration ratio", 1.0, 3),
)
# the metrics the ship rule reads, and how their item records are counted
WORD_METRICS = {"wer": WordErrors, "cer": CharErrors}


class ResultsError(ValueError):
    """A results file that cannot be compared: missing, unreadable, or not `eval run` output."""


def load_results(path: str | Path) -> dict[str, Any]:
    """An `eval run` results.json, or the folder holding one."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    if not p.is_file():
        raise ResultsError(
            f"{path}: no such results file (give `eval run`'s results.json or its folder)"
        )
    try:
        results = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"{p}: not readable JSON ({err})") from err
    items = results.get("items") if isinstance(results, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) and "id" in i for i in items):
        raise ResultsError(f"{p}: not an `echovox eval run` results file (no items with ids)")
    ids = [i["id"] for i in items]
    if len(set(ids)) != len(ids):
        raise ResultsError(f"{p}: item ids repeat, so items cannot be paired by id")
    results["_path"] = str(p)
    return results


def _value(part: Mapping[str, Any] | None, metric: str) -> float | None:
    if not part:
        return None
    if metric in WORD_METRICS:
        w = part.get(metric)
        return None if not w or w.get(metric) is None else float(w[metric])
    if metric == "speaker_id":
        s = part.get("speaker_id")
        return None if not s else float(bool(s["correct"]))
    v = part.get(metric)
    return None if v is None or not math.isfinite(float(v)) else float(v)


def paired_stat(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Mean of each side, mean of b - a, its standard error (None under 2 pairs) and the
    number of pairs where b is higher and lower."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError("paired samples must have the same length")
    n = len(x)
    if n == 0:
        return {"n": 0, "a": None, "b": None, "diff": None, "stderr": None, "higher": 0, "lower": 0}
    d = y - x
    return {
        "n": n,
        "a": float(x.mean()),
        "b": float(y.mean()),
        "diff": float(d.mean()),
        "stderr": float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else None,
        "higher": int((d > 0).sum()),
        "lower": int((d < 0).sum()),
    }


def compare_results(
    a: Mapping[str, Any], b: Mapping[str, Any], ship_rule: bool = True
) -> dict[str, Any]:
    """B minus A, item by item, for every part and metric both results scored (see module);
    with ship_rule, the "verdict" of ship_verdict (None without)."""
    items_a = {i["id"]: i for i in a["items"]}
    items_b = {i["id"]: i for i in b["items"]}
    common = [k for k in items_a if k in items_b]
    notes = []
    if not common:
        raise ResultsError(
            f"{a.get('_path', 'A')} and {b.get('_path', 'B')} share no item ids: "
            "they are not results of one test list"
        )
    for key, what in (
        ("test_list", "test lists"),
        ("asr", "ASR"),
        ("text_normalizer", "text normalisers"),
        ("speaker_encoder", "speaker encoders"),
    ):
        if a.get(key) != b.get(key):
            notes.append(f"the two runs used different {what}: {a.get(key)} against {b.get(key)}")
    only = len(items_a) - len(common), len(items_b) - len(common)
    if any(only):
        notes.append(f"{only[0]} item(s) only in A and {only[1]} only in B are left out")
    parts: dict[str, Any] = {}
    for part, _title in PARTS:
        pairs = [(items_a[k].get(part), items_b[k].get(part)) for k in common]
        stats = _part_stats(part, [(pa, pb) for pa, pb in pairs if pa and pb])
        if stats:
            parts[part] = stats
    return {
        "format": "echovox-eval-compare-v1",
        "a": {"results": a.get("_path"), "model_dir": a.get("model_dir"), "n_items": len(items_a)},
        "b": {"results": b.get("_path"), "model_dir": b.get("model_dir"), "n_items": len(items_b)},
        "n_common": len(common),
        "notes": notes,
        "verdict": ship_verdict(parts) if ship_rule else None,
        "parts": parts,
    }


def _part_stats(part: str, pairs: Sequence[tuple[Mapping, Mapping]]) -> dict[str, Any]:
    """paired_stat of every metric scored on both sides of some (A, B) pairs of one part's
    records, and the corpus WER and CER ("corpus_wer", "corpus_cer") over the same pairs."""
    stats: dict[str, Any] = {}
    for metric, *_ in METRICS:
        if metric == "duration_ratio" and part != "output":
            continue
        both = [
            (pa, pb, va, vb)
            for pa, pb in pairs
            if (va := _value(pa, metric)) is not None and (vb := _value(pb, metric)) is not None
        ]
        if not both:
            continue
        stats[metric] = paired_stat([x[2] for x in both], [x[3] for x in both])
        if metric in WORD_METRICS:
            cls = WORD_METRICS[metric]
            stats[f"corpus_{metric}"] = {
                "n": len(both),
                "a": corpus_rate(cls.from_json(x[0][metric]) for x in both),
                "b": corpus_rate(cls.from_json(x[1][metric]) for x in both),
            }
    return stats


def ship_verdict(parts: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The ship rule: "worse" when any part's per-item WER or CER rose by more than one
    standard error of the paired difference, whatever SIM-o, speaker-ID or speed it gains (a
    change that costs words does not ship); "better" when none rose so and one fell by more;
    "same" when the words moved within noise (then the voice and speed decide); "none" when
    no part was scored for words in both runs. One pair has no standard error: any rise
    counts. `rose`/`fell`: the part, metric, diff, stderr and n of each move beyond noise."""
    rose, fell, n_word = [], [], 0
    for part, _title in PARTS:
        for metric in WORD_METRICS:
            s = parts.get(part, {}).get(metric)
            if not s or not s["n"]:
                continue
            n_word += 1
            move = {"part": part, "metric": metric, **{k: s[k] for k in ("diff", "stderr", "n")}}
            noise = s["stderr"] or 0.0
            if s["diff"] > noise:
                rose.append(move)
            elif s["diff"] < -noise:
                fell.append(move)
    verdict = "worse" if rose else "better" if fell else "same" if n_word else "none"
    return {
        "verdict": verdict,
        "rose": rose,
        "fell": fell,
        "line": _verdict_line(verdict, rose, fell, parts),
    }


def _verdict_line(verdict: str, rose: list, fell: list, parts: Mapping[str, Any]) -> str:
    titles = dict(PARTS)

    def moves(ms: list) -> str:
        return ", ".join(
            f"{titles[m['part']]} {m['metric'].upper()} {100 * m['diff']:+.1f} points "
            + ("(one pair, no SE)" if m["stderr"] is None else f"(SE {100 * m['stderr']:.1f})")
            for m in ms
        )

    if verdict == "worse":
        gains = [
            f"{titles[p]} SIM-o {s['sim_o']['diff']:+.3f}"
            for p, s in parts.items()
            if "sim_o" in s and (s["sim_o"]["diff"] or 0) > 0
        ]
        return (
            f"verdict: worse, does not ship: {moves(rose)} rose by more than one standard "
            "error, and words come first whatever else B gains"
            + (f" ({', '.join(gains)})" if gains else "")
        )
    if verdict == "better":
        return (
            f"verdict: better words: {moves(fell)} fell by more than one standard error and "
            "no WER or CER rose by more"
        )
    if verdict == "same":
        return (
            "verdict: same words: no WER or CER moved by more than one standard error; "
            "SIM-o, speaker-ID and speed decide"
        )
    return "verdict: none: no part was scored for words in both runs"


def format_compare_markdown(cmp: Mapping[str, Any]) -> str:
    """A table per part: metric | pairs | A | B | B - A | standard error | B higher | B lower."""
    lines = [
        "# echovox eval compare: B minus A, paired by item",
        "",
        f"A: {cmp['a']['results']} (model {cmp['a']['model_dir']})",
        f"B: {cmp['b']['results']} (model {cmp['b']['model_dir']})",
        f"{cmp['n_common']} items in both",
    ]
    if cmp.get("verdict"):
        lines += ["", cmp["verdict"]["line"]]
    lines += [f"note: {n}" for n in cmp["notes"]]

    def num(v: float | None, scale: float, digits: int, sign: bool = False) -> str:
        if v is None:
            return "-"
        return f"{v * scale:{'+' if sign else ''}.{digits}f}"

    titles = dict(PARTS)
    for part, stats in cmp["parts"].items():
        lines += [
            "",
            f"## {titles[part]}",
            "",
            "| metric | pairs | A | B | B - A | standard error | B higher | B lower |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for metric, title, scale, digits in METRICS:
            s = stats.get(metric)
            if s is None:
                continue
            lines.append(
                f"| {title} | {s['n']} | {num(s['a'], scale, digits)} "
                f"| {num(s['b'], scale, digits)} | {num(s['diff'], scale, digits, True)} "
                f"| {num(s['stderr'], scale, digits)} | {s['higher']} | {s['lower']} |"
            )
        for metric in WORD_METRICS:
            c = stats.get(f"corpus_{metric}")
            if c is None:
                continue
            diff = None if c["a"] is None or c["b"] is None else c["b"] - c["a"]
            lines.append(
                f"| {metric.upper()} % (corpus) | {c['n']} | {num(c['a'], 100, 1)} "
                f"| {num(c['b'], 100, 1)} | {num(diff, 100, 1, True)} | | | |"
            )
    return "\n".join(lines) + "\n"


__all__ = [
    "ResultsError",
    "compare_results",
    "format_compare_markdown",
    "load_results",
    "paired_stat",
    "ship_verdict",
]
