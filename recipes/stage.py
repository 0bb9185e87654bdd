"""Stage machinery shared by every recipe: reports, `.done` markers, and sharded work.

Why sharding everywhere, even for the small corpus: the same code path then runs on a laptop
(`num_proc` processes) and on a cluster (`rank`/`world_size`, one invocation per node or GPU).
A shard is a fixed slice of the previous stage's output; it is written to a temporary folder
and renamed into place, so a killed job leaves either a whole shard or none, and a rerun picks
up at the first missing shard with no duplicates and no loss.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import json
import math
import multiprocessing as mp
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from echovox.checkpoint import read_json, write_json

MAX_EXAMPLES = 20  # skipped items listed by name in a report; the rest are only counted


@dataclass
class StageReport:
    """What a stage did. `complete` is False when this rank finished its share but other ranks'
    shards are still missing, so the stage must not be marked done yet."""

    stage: int
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    hours: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    examples: list[list[str]] = field(default_factory=list)  # [item, reason]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    complete: bool = True

    def skip(self, item: str, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append([item, reason])

    def format(self) -> str:
        lines = [f"stage {self.stage} ({self.name}): {'done' if self.complete else 'partial'}"]
        lines += [f"  {k}: {v}" for k, v in self.counts.items()]
        lines += [f"  hours {k}: {v:.3f}" for k, v in self.hours.items()]
        n_skipped = sum(self.skipped.values())
        if n_skipped:
            lines.append(f"  skipped {n_skipped}:")
            lines += [f"    {n} x {reason}" for reason, n in sorted(self.skipped.items())]
            lines += [f"    e.g. {item}: {reason}" for item, reason in self.examples[:5]]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"  took {self.seconds:.1f} s")
        return "\n".join(lines)


@dataclass
class ShardResult:
    """One shard's output rows and the items it skipped, each with a reason."""

    rows: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def skip_reason(err: BaseException) -> str:
    """A short, countable reason: the error type and its message without file names, so that
    a report groups 'cannot read audio file' across thousands of files."""
    msg = str(err).split("\n")[0]
    return f"{type(err).__name__}: {msg}"[:200]


def done_marker(exp: Path, stage: int) -> Path:
    return exp / ".done" / f"stage{stage}.done"


# --------------------------------------------------------------------------- datasets helpers


def quiet_datasets() -> None:
    """Our own bars count items; datasets' per-save bars would drown them."""
    import datasets

    datasets.disable_progress_bars()


def _save(ds, path: Path) -> None:
    # an empty dataset must be written as one (empty) shard: with the default of zero arrow
    # files, datasets 5 cannot load it back
    ds.save_to_disk(str(path), num_shards=1 if len(ds) == 0 else None)


def save_dataset_atomic(ds, path: Path) -> Path:
    """`save_to_disk` into a temporary sibling, then rename: readers never see half a dataset."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    _save(ds, tmp)
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    return path


def rows_to_dataset(rows: list[dict], features):
    from datasets import Dataset

    if not rows:
        return Dataset.from_dict({k: [] for k in features}, features=features)
    return Dataset.from_list(rows, features=features)


def load_dataset_dir(path: Path):
    """A stage's output: a view over its shards (echovox.dataview) or a plain dataset."""
    from echovox.dataview import open_dataset

    return open_dataset(path)


def digest(obj: Any) -> str:
    """A stable hash of JSON-able data (dataclasses included)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = asdict(obj)
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def dataset_fingerprint(path: Path) -> str | None:
    """What a later stage compares to decide whether its input changed: a view's fingerprint
    (its shards' keys and content fingerprints), or a plain dataset's saved state."""
    from echovox.dataview import is_view, read_view

    path = Path(path)
    if is_view(path):
        return read_view(path)["fingerprint"]
    state = path / "state.json"
    return digest(state.read_text()) if state.is_file() else None


# --------------------------------------------------------------------------- sharded map
#
# A stage's input is a list of units (one upstream shard each, or the rows of a listing),
# each with a fingerprint that changes whenever its rows may have. A unit is cut into shards
# of `shard_size` rows; a shard is named by its key and stamped with a fingerprint of
# (unit fingerprint, slice, stage parameters). A rerun keeps every shard whose stamp still
# matches and computes only new or changed ones, so a corpus that grows by a subset costs only
# the new subset, at every stage; a shard whose unit is gone is dropped from the output.


@dataclass
class Unit:
    """Rows processed (or reused) together: `rows` is a list of dicts or the path of a dataset
    folder (an upstream shard). speakers: the speakers in it, when known."""

    key: str
    fingerprint: str
    rows: list[dict] | str
    n_rows: int
    speakers: list[str] = field(default_factory=list)


def units_of(source) -> list[Unit]:
    """The units of a stage's input: a view's shards, a plain dataset folder (one unit), or a
    list of rows (one unit)."""
    from echovox.dataview import is_view, read_view

    if isinstance(source, list):
        speakers = sorted({str(r["speaker"]) for r in source if "speaker" in r})
        return [Unit("all", digest(source), source, len(source), speakers)]
    path = Path(source)
    if is_view(path):
        body = read_view(path)
        return [
            Unit(
                u["key"],
                u["fingerprint"],
                str((path / u["path"]).resolve()),
                u["n_rows"],
                u.get("speakers", []),
            )  # fmt: skip
            for u in body.get("units", [])
        ]
    ds = load_dataset_dir(path)
    speakers = sorted(map(str, ds.unique("speaker"))) if "speaker" in ds.column_names else []
    return [Unit("all", dataset_fingerprint(path) or "", str(path), len(ds), speakers)]


def _resolve(fn_path: str) -> Callable:
    module, name = fn_path.rsplit(":", 1)
    return getattr(importlib.import_module(module), name)


@dataclass
class Piece:
    """One shard to be: rows a..b of a unit, published as work/<name>."""

    name: str
    key: str
    fingerprint: str
    source: list[dict] | str
    a: int
    b: int


def _read_rows(source, a: int, b: int) -> list[dict]:
    """Rows a..b of a list or of a dataset folder: a stage over tens of millions of utterances
    never holds them all as Python dicts."""
    if isinstance(source, list):
        return source[a:b]
    from datasets import load_from_disk

    return load_from_disk(source).select(range(a, b)).to_list()


def _publish(work: Path, piece: Piece, ds, report: dict) -> None:
    """Write the shard to a temporary folder, then rename it into place (the commit point); a
    stale shard of the same key is moved aside first and deleted after."""
    tmp = work / f".{piece.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    _save(ds, tmp / "data")
    write_json(tmp / "report.json", report)
    out = work / piece.name
    old = work / f".{piece.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _process_shards(fn_path: str, pieces: list[Piece], params, work: str, features, queue):
    """Worker body: process pieces one by one, publishing each atomically."""
    fn = _resolve(fn_path)
    work = Path(work)
    for piece in pieces:
        rows = _read_rows(piece.source, piece.a, piece.b)
        result: ShardResult = fn(rows, params)
        ds = rows_to_dataset(result.rows, features)
        speakers = sorted({str(r["speaker"]) for r in result.rows if "speaker" in r})
        report = {
            "key": piece.key,
            "fingerprint": piece.fingerprint,
            # what the next stage is keyed on: the output itself, so a shard that was redone
            # (new settings, a touched file) with the same result costs the next stage nothing
            "content": digest(result.rows),
            "n_in": len(rows),
            "n_out": len(ds),
            "skipped": result.skipped,
            "speakers": speakers,
        }
        _publish(work, piece, ds, report)
        if queue is not None:
            queue.put(len(rows))


def _worker_entry(fn_path, shards, params, work, features, queue, worker_index, env):
    os.environ.update(env)
    os.environ["ECHOVOX_WORKER_INDEX"] = str(worker_index)
    import torch

    quiet_datasets()
    torch.set_num_threads(1)  # one thread per process: num_proc processes share the cores
    _process_shards(fn_path, shards, params, work, features, queue)


def worker_index() -> int:
    """Which local worker this process is (0 when not in a pool); picks its GPU."""
    return int(os.environ.get("ECHOVOX_WORKER_INDEX", "0"))


@dataclass
class ShardJob:
    """A stage's map over its input, shard by shard. fn_path: the function, as
    'module:function' so that spawned workers can import it, called as fn(rows, params) ->
    ShardResult. Each shard of `shard_size` rows is published under `work`; once every shard
    exists, a view over them (echovox.dataview, no copy) is written at `out`. desc: the
    progress bar's label. stamp: what, besides the input, decides a shard's content (the
    stage's settings that change its output; default `params`); unit_stamp(unit) adds a
    per-unit part (e.g. the split of the unit's speakers)."""

    fn_path: str
    params: Any
    work: Path
    out: Path
    features: Any
    shard_size: int
    desc: str = ""
    stamp: Any = None
    unit_stamp: Callable[[Unit], Any] | None = None


def plan_pieces(job: ShardJob, units: list[Unit]) -> list[Piece]:
    stamp = digest(job.params if job.stamp is None else job.stamp)
    pieces = []
    for unit in units:
        extra = digest(job.unit_stamp(unit)) if job.unit_stamp else ""
        size = max(1, job.shard_size)
        for k in range(math.ceil(unit.n_rows / size)):
            key = f"{unit.key}#{k}"
            fp = digest([unit.fingerprint, k, size, stamp, extra])
            name = "shard-" + hashlib.sha1(key.encode()).hexdigest()[:20]
            b = min(unit.n_rows, (k + 1) * size)
            pieces.append(Piece(name, key, fp, unit.rows, k * size, b))
    return pieces


def _up_to_date(work: Path, piece: Piece) -> bool:
    rep = work / piece.name / "report.json"
    return rep.is_file() and read_json(rep).get("fingerprint") == piece.fingerprint


def run_sharded(job: ShardJob, source, workers, report: StageReport):
    """Map job.fn over `source` (units_of: a view, a dataset folder or a list of rows) in
    shards, computing only shards that are missing or whose input or settings changed, then
    write the view job.out over every shard.

    workers: the recipe's WorkConfig. Rank r of its `world_size` takes shards r,
    r + world_size, ... (in key order); its `num_proc` local processes split those again. The
    view is written only once every shard of every rank is up to date; until then
    `report.complete` is False. Returns the view as a Dataset, or None."""
    work = Path(job.work)
    work.mkdir(parents=True, exist_ok=True)
    units = source if isinstance(source, list) and source and isinstance(source[0], Unit) else None
    pieces = plan_pieces(job, units if units is not None else units_of(source))
    rank, world_size = workers.rank, workers.world_size
    ours = [p for i, p in enumerate(pieces) if i % world_size == rank]
    mine = [p for p in ours if not _up_to_date(work, p)]
    for p in mine:  # a killed worker's half-written shard (only this rank writes these names)
        for tmp in work.glob(f".{p.name}.*"):
            shutil.rmtree(tmp, ignore_errors=True)
    report.counts["shards reused"] = len(ours) - len(mine)
    report.counts["shards processed"] = len(mine)
    report.counts["items processed"] = sum(p.b - p.a for p in mine)
    if len(ours) > len(mine):
        report.notes.append(
            f"{len(ours) - len(mine)} shard(s) were already done (resumed, or their input "
            "is unchanged)"
        )
    if mine:
        _process_here_or_in_workers(job, mine, workers.num_proc)
    stale = [p for p in pieces if not _up_to_date(work, p)]
    if stale:
        report.complete = False
        report.notes.append(
            f"{len(pieces) - len(stale)} of {len(pieces)} shards are done; the others belong "
            "to other ranks. Rerun with --rank 0 once every rank has finished, to merge."
        )
        return None
    return _write_view(job, pieces, report)


def _process_here_or_in_workers(job: ShardJob, mine, num_proc: int) -> None:
    """This rank's shards, in this process (num_proc 1) or in num_proc spawned ones."""
    from tqdm.auto import tqdm

    total = sum(p.b - p.a for p in mine)
    bar = tqdm(total=total, desc=job.desc, unit="item", dynamic_ncols=True)
    if num_proc <= 1:
        queue = _ListQueue(bar)
        _process_shards(job.fn_path, mine, job.params, str(job.work), job.features, queue)
    else:
        _spawn_workers(job, mine, num_proc, bar)
    bar.close()


def _spawn_workers(job: ShardJob, mine, num_proc: int, bar) -> None:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = []
    for w in range(num_proc):
        share = mine[w::num_proc]
        if not share:
            continue
        args = (job.fn_path, share, job.params, str(job.work), job.features, queue, w, {})
        p = ctx.Process(target=_worker_entry, args=args)
        p.start()
        procs.append(p)
    while any(p.is_alive() for p in procs) or not queue.empty():
        with contextlib.suppress(Exception):
            bar.update(queue.get(timeout=0.5))
    for p in procs:
        p.join()
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} worker(s) failed (exit codes {failed})")


def _write_view(job: ShardJob, pieces: list[Piece], report: StageReport):
    """The stage's output: a view over its shards in key order (no copy). Shards of units that
    are gone from the input are left out of it."""
    from echovox.dataview import load_view, write_view

    work = Path(job.work)
    units, n_in, n_out = [], 0, 0
    for p in pieces:
        rep = read_json(work / p.name / "report.json")
        n_in += rep["n_in"]
        for item, reason in rep["skipped"]:
            report.skip(item, reason)
        n_out += rep["n_out"]
        data = os.path.relpath((work / p.name / "data").resolve(), Path(job.out).resolve())
        fingerprint = rep.get("content", p.fingerprint)
        units.append({"key": p.key, "fingerprint": fingerprint, "n_rows": rep["n_out"],
                      "path": data, "speakers": rep.get("speakers", [])})  # fmt: skip
    parts = [work / p.name / "data" for p in pieces]
    write_view(job.out, parts, job.features, meta={"units": units})
    keep = {p.name for p in pieces}
    gone = [d for d in work.glob("shard-*") if d.name not in keep]
    if gone:
        # left on disk, not deleted: input taken out of the config by mistake (a subset, a
        # speaker) costs nothing to put back, ASR hours included
        report.notes.append(
            f"{len(gone)} shard(s) of {work} are not in the view: their input is no longer "
            "there. They stay on disk, reused if it comes back; delete them to free the space"
        )
    report.counts["input items"] = n_in
    report.counts["output rows"] = n_out
    return load_view(job.out)


class _ListQueue:
    """In-process stand-in for the multiprocessing queue: progress goes straight to the bar."""

    def __init__(self, bar):
        self.bar = bar

    def put(self, n: int) -> None:
        self.bar.update(n)


# --------------------------------------------------------------------------- stage runner


@dataclass
class Stage:
    """fn None: not wired yet; `why` says what it waits for. probe(cfg): a cheap fingerprint
    of the stage's input and settings; a stage whose probe differs from the one its `.done`
    marker recorded runs again (and, its shards being keyed by content, does only what is
    new). A stage without a probe is marked not done whenever an earlier stage runs."""

    number: int
    name: str
    fn: Callable[..., StageReport] | None
    why: str = ""
    probe: Callable[[Any], str | None] | None = None


def _marker_probe(marker: Path) -> str | None:
    try:
        return json.loads(marker.read_text()).get("input")
    except (OSError, ValueError, AttributeError):
        return None  # a marker from before probes: plain text


def _is_done(cfg, st: Stage, force: bool) -> bool:
    marker = done_marker(cfg.exp, st.number)
    if force or not marker.exists():
        return False
    if st.probe is not None and st.fn is not None and st.probe(cfg) != _marker_probe(marker):
        print(f"stage {st.number} ({st.name}): its input or settings changed since it was "
              "done; running it again (unchanged shards are reused)", flush=True)  # fmt: skip
        return False
    print(f"stage {st.number} ({st.name}): already done ({marker}); skipping", flush=True)
    return True


def run_stages(
    cfg, stages: list[Stage], stage: int | None, stop_stage: int | None, force: bool = False
) -> list[StageReport]:
    exp = cfg.exp
    exp.mkdir(parents=True, exist_ok=True)
    quiet_datasets()
    first = stages[0].number if stage is None else stage
    last = stages[-1].number if stop_stage is None else stop_stage
    reports = []
    for st in stages:
        if not first <= st.number <= last or _is_done(cfg, st, force):
            continue
        if st.fn is None:
            print(f"stage {st.number} ({st.name}): not wired yet: {st.why}. Stopping here.")
            break
        print(f"stage {st.number} ({st.name}): starting", flush=True)
        # this stage's output is about to change: later stages that cannot tell by a probe
        # whether their input changed are stale
        for later in stages:
            stale = done_marker(exp, later.number)
            if later.number > st.number and later.probe is None and stale.exists():
                stale.unlink()
                print(f"  stage {later.number} marked not done: its input is being rebuilt")
        t0 = time.time()
        report = st.fn(cfg, force=force)
        report.seconds = time.time() - t0
        print(report.format(), flush=True)
        reports.append(report)
        if not report.complete:
            write_json(exp / "reports" / f"stage{st.number}.json", asdict(report))
            break
        if launcher_rank() != 0:
            continue  # under torchrun or srun every process runs the stage; rank 0 records it
        write_json(exp / "reports" / f"stage{st.number}.json", asdict(report))
        stamp = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": round(report.seconds, 1),
                 "input": st.probe(cfg) if st.probe else None}  # fmt: skip
        write_json(done_marker(exp, st.number), stamp)
    return reports


def launcher_rank() -> int:
    """This process's global rank under torchrun (RANK) or srun (SLURM_PROCID), else 0."""
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))


def reset_work(work: Path) -> None:
    """--force: throw away a stage's shards so it recomputes from scratch."""
    if work.exists():
        shutil.rmtree(work)


def summarize_hours(ds, by: str = "split") -> dict[str, float]:
    """Hours of audio in a dataset with start/end columns, grouped by a column (columnar:
    millions of rows take seconds)."""
    import numpy as np

    if len(ds) == 0:
        return {}
    start = np.asarray(ds.with_format("numpy")["start"], dtype=np.float64)
    end = np.asarray(ds.with_format("numpy")["end"], dtype=np.float64)
    keys = list(ds[by]) if by in ds.column_names else ["all"] * len(ds)
    hours: Counter = Counter()
    for k, d in zip(keys, (end - start) / 3600.0):
        hours[k] += float(d)
    return {k: round(v, 4) for k, v in sorted(hours.items())}
