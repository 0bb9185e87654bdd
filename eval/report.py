"""Aggregates of an `echovox eval run` and its markdown report.

Words first (DESIGN.md, convention 13): results.md and results.json lead with the words table,
one row per path and mode (cross-sentence, then continuation, when the run has both): ground
truth, codec resynthesis, perfect AR (the reference's own first codebook completed by the NAR),
model; columns WER and CER with their standard errors, each also as a ratio to the ground
truth's on the same items, and the number of items. Top to bottom each row adds one stage's
loss: the codec's, the NAR's, the AR's.

Then a table per group (all items, then each mode when the list has both) of the voice and
speed: metric | output | [true q1 + NAR] | [codec resynthesis] | ground truth | ratio / target,
the bracketed columns where the run scored them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .metrics import CharErrors, WordErrors, corpus_rate, corpus_stderr
from .testlist import MODES

# the words table's rows in order, each path adding one stage's loss to the one above
PATHS = (
    ("ground_truth", "ground truth"),
    ("resynthesis", "codec resynthesis"),
    ("teacher_forced", "perfect AR (true q1 + NAR)"),
    ("output", "model"),
)
MODE_TITLES = {"cross": "cross-sentence", "continuation": "continuation"}


def aggregate(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Aggregates of item records: corpus WER, means of SIM and duration ratio, speaker-ID
    accuracy, total RTF; `wer_ratio` and `sim_ratio` over the items scored on both sides."""
    outs = [r for r in records if r.get("output")]
    gts = [r for r in records if r.get("ground_truth") and "wer" in r["ground_truth"]]

    def errs(part: Mapping[str, Any]) -> WordErrors:
        return WordErrors.from_json(part["wer"])

    def mean(values) -> float | None:
        vals = [v for v in values if v is not None]
        return float(np.mean(vals)) if vals else None

    def accuracy(parts) -> float | None:
        ids = [p.get("speaker_id") for p in parts]
        ids = [s for s in ids if s is not None]
        return sum(s["correct"] for s in ids) / len(ids) if ids else None

    synth_s = sum(r["output"]["synthesis_seconds"] for r in outs)
    out_s = sum(r["output"]["seconds"] for r in outs)
    output = {
        "n": len(outs),
        "wer": corpus_rate(errs(r["output"]) for r in outs),
        "sim_o": mean(r["output"]["sim_o"] for r in outs),
        "speaker_id_accuracy": accuracy(r["output"] for r in outs),
        "duration_ratio": mean(r["output"]["duration_ratio"] for r in outs),
        "rtf": synth_s / out_s if out_s > 0 else None,
        "output_seconds": round(out_s, 3),
    }
    truth = {
        "n": len(gts),
        "wer": corpus_rate(errs(r["ground_truth"]) for r in gts),
        "sim": mean(r["ground_truth"].get("sim") for r in gts),
        "speaker_id_accuracy": accuracy(r["ground_truth"] for r in gts),
    }

    def scored(key: str) -> dict[str, Any]:
        """WER, SIM-o and speaker-ID of the items' `key` part (resynthesis, teacher_forced)."""
        parts = [r[key] for r in records if r.get(key) and "wer" in r[key]]
        return {
            "n": len(parts),
            "wer": corpus_rate(errs(p) for p in parts),
            "sim_o": mean(p["sim_o"] for p in parts),
            "speaker_id_accuracy": accuracy(parts),
        }

    gt_ids = {r["id"] for r in gts}
    paired = [r for r in outs if r["id"] in gt_ids]
    wer_o = corpus_rate(errs(r["output"]) for r in paired)
    wer_g = corpus_rate(errs(r["ground_truth"]) for r in paired)
    sim_o = mean(r["output"]["sim_o"] for r in paired)
    sim_g = mean(r["ground_truth"].get("sim") for r in paired)
    return {
        "n_items": len(records),
        "n_failed": sum(r["status"] == "failed" for r in records),
        "output": output,
        "resynthesis": scored("resynthesis"),
        "teacher_forced": scored("teacher_forced"),
        "ground_truth": truth,
        "n_paired": len(paired),
        "wer_ratio": wer_o / wer_g if wer_o is not None and wer_g else None,
        "sim_ratio": sim_o / sim_g if sim_o is not None and sim_g else None,
    }


def words_rows(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The words table (results.json's "words"): for each mode in the records (MODES order),
    a row per path scored on any item, in PATHS order: n items, corpus WER and CER, their
    standard errors (corpus_stderr: over items) and their ratios to the ground truth's over
    the n_paired items that have both."""
    rows = []
    for mode in MODES:
        recs = [r for r in records if r["mode"] == mode]
        truth = {r["id"]: r["ground_truth"] for r in recs if _has_words(r["ground_truth"])}
        for key, title in PATHS:
            parts = {r["id"]: r[key] for r in recs if _has_words(r.get(key))}
            if parts:
                rows.append({"mode": mode, "path": key, "title": title, **_words(parts, truth)})
    return rows


def _has_words(part: Mapping[str, Any] | None) -> bool:
    return bool(part) and "wer" in part and "cer" in part


def _words(parts: Mapping[str, Any], truth: Mapping[str, Any]) -> dict[str, Any]:
    """n, WER and CER of `parts` (by item id), their standard errors and their ratios to the
    ground truth's (`truth`, by id) over the items in both."""
    paired = [i for i in parts if i in truth]
    row: dict[str, Any] = {"n": len(parts), "n_paired": len(paired)}
    for unit, cls in (("wer", WordErrors), ("cer", CharErrors)):
        errs = {i: cls.from_json(p[unit]) for i, p in parts.items()}
        row[unit] = corpus_rate(errs.values())
        row[f"{unit}_se"] = corpus_stderr(errs.values())
        own = corpus_rate(errs[i] for i in paired)
        ref = corpus_rate(cls.from_json(truth[i][unit]) for i in paired)
        row[f"{unit}_ratio"] = own / ref if own is not None and ref else None
    return row


# The project's targets for a zero-shot model on held-out voices: WER at most 1.3x the ground
# truth's under the same ASR (cross-sentence and continuation), SIM-o at least 0.80
# (resemblyzer), speaker-ID at least 80 %, end-to-end RTF at most 0.25 on a 2-core CPU.
TARGETS = {"wer_ratio": 1.3, "sim_o": 0.80, "speaker_id": 0.80, "rtf": 0.25}


def format_markdown(results: Mapping[str, Any]) -> str:
    """results.md: a header, the words table, a table per group (all, then each mode when
    there are two) of the voice and speed, and the failed items."""
    asr = results["asr"]["backend"]
    enc = results["speaker_encoder"]["backend"]
    model = results["model_dir"] or "(ground truth only)"
    if results["model_dir"] and results.get("outputs") is False:
        model += " (outputs not synthesised: reference-derived columns only)"
    lines = [
        f"# echovox eval: {results['test_list']}",
        "",
        f"model: {model}; ASR: {asr} "
        f"({results['asr']['model']}); speaker encoder: {enc}; seed {results['seed']}; "
        f"device {results['device']}"
        + ("; AR decoded with float16 weight copies" if results.get("half_weights") else "")
        + ("; NAR and codec decoder in bfloat16" if results.get("bf16") else ""),
    ]
    lines += _words_table(results["words"], asr, results["text_normalizer"])
    for name, agg in results["aggregate"].items():
        lines += _group_table(name, agg, enc)
    failed = [r for r in results["items"] if r["status"] == "failed"]
    if failed:
        lines += ["", "Failed items:", ""]
        lines += [f"- {r['id']} (line {r['line']}): {r['error']}" for r in failed[:20]]
        if len(failed) > 20:
            lines.append(f"- ... and {len(failed) - 20} more (results.json lists all)")
    return "\n".join(lines) + "\n"


def _line(cells: list[str]) -> str:
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def _words_table(rows: Sequence[Mapping[str, Any]], asr: str, normalizer: str) -> list[str]:
    """mode | path | WER % | x ground truth | CER % | x ground truth | n, a row per words row."""
    lines = [
        "",
        f"## Words: WER and CER ({asr}), ± one standard error over items",
        "",
        f"Both sides normalised by {normalizer}. x ground truth: the path's rate over the "
        "ground truth's on the same items; target: the model's WER at most "
        f"{TARGETS['wer_ratio']:.1f}x the ground truth's (a perfect AR's at most 1.15x).",
        "",
        _line(["mode", "path", "WER %", "x ground truth", "CER %", "x ground truth", "n"]),
        _line(["---"] * 7).replace(" ", ""),
    ]
    for r in rows:
        cells = [MODE_TITLES.get(r["mode"], r["mode"]), r["title"]]
        for unit in ("wer", "cer"):
            cells += [_pm(r[unit], r[f"{unit}_se"]), _num(r[f"{unit}_ratio"], 2, "x")]
        lines.append(_line([*cells, str(r["n"])]))
    if not rows:
        lines.append("(no item was scored)")
    return lines


def _group_table(name: str, agg: Mapping[str, Any], enc: str) -> list[str]:
    """metric | output | [true q1 + NAR] | [codec resynthesis] | ground truth | ratio / target,
    the bracketed columns where the run scored them."""
    o, g = agg["output"], agg["ground_truth"]
    # true q1 + NAR: the reference's first codebook completed by the NAR (a perfect AR);
    # codec resynthesis: the references through the codec alone, the ceiling on a clone
    extra = [
        (title, agg[key])
        for key, title in (
            ("teacher_forced", "true q1 + NAR"),
            ("resynthesis", "codec resynthesis"),
        )
        if (agg.get(key) or {"n": 0})["n"] > 0
    ]

    def row(metric: str, out: str, each, truth: str, target: str) -> str:
        """each: the extra columns' cell from their aggregate (a function), or one text."""
        cells = (each(e) if callable(each) else each for _, e in extra)
        return _line([metric, out, *cells, truth, target])

    return [
        "",
        f"## {name}: {agg['n_items']} items, {agg['n_failed']} failed",
        "",
        _line(["metric", "output", *(t for t, _ in extra), "ground truth", "ratio / target"]),
        _line(["---"] * (4 + len(extra))).replace(" ", ""),
        row(
            f"SIM-o ({enc})",
            _num(o["sim_o"], 3),
            lambda e: _num(e.get("sim_o"), 3),
            _num(g["sim"], 3),
            f"{_num(agg['sim_ratio'], 2, 'x')} (target SIM-o >= {TARGETS['sim_o']:.2f})",
        ),
        row(
            "speaker-ID accuracy %",
            _pct(o["speaker_id_accuracy"]),
            lambda e: _pct(e.get("speaker_id_accuracy")),
            _pct(g["speaker_id_accuracy"]),
            f"target >= {100 * TARGETS['speaker_id']:.0f}",
        ),
        row(
            "duration ratio (output / reference)", _num(o["duration_ratio"], 2), "", "1.00",
            "target 1.00",
        ),
        row(
            "RTF (synthesis time / output time)", _num(o["rtf"], 2), "", "",
            f"target <= {TARGETS['rtf']:.2f}",
        ),
        row("items scored", str(o["n"]), lambda e: str(e["n"]), str(g["n"]), ""),
        row("items failed", str(agg["n_failed"]), "", "", "0"),
    ]  # fmt: skip


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def _pm(v: float | None, se: float | None) -> str:
    """A rate in % with its standard error, when there is one."""
    return _pct(v) if v is None or se is None else f"{_pct(v)} ± {_pct(se)}"


def _num(v: float | None, digits: int, suffix: str = "") -> str:
    return "-" if v is None else f"{v:.{digits}f}{suffix}"
