"""Stage machinery shared by every recipe: reports, `.done` markers, and sharded work.

Why sharding everywhere, even for the small corpus: the same code path then runs on a laptop
(`num_proc` processes) and on a cluster (`rank`/`world_size`, one invocation per node or GPU).
A shard is a fixed slice of the previous stage's output; it is written to a temporary folder
and renamed into place, so a killed job leaves either a whole shard or none, and a rerun picks
up at the first missing shard with no duplicates and no loss.
"""

from __future__ import annotations

import contextlib
import importlib
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
    from datasets import load_from_disk

    return load_from_disk(str(path))


# --------------------------------------------------------------------------- sharded map


def _resolve(fn_path: str) -> Callable:
    module, name = fn_path.rsplit(":", 1)
    return getattr(importlib.import_module(module), name)


def _shard_dir(work: Path, index: int) -> Path:
    return work / f"shard-{index:05d}"


def _process_shards(
    fn_path: str, shards: list[tuple[int, list[dict]]], params: Any, work: str, features, queue
) -> None:
    """Worker body: process shards one by one, publishing each atomically."""
    fn = _resolve(fn_path)
    work = Path(work)
    for index, source, a, b in shards:
        out = _shard_dir(work, index)
        if out.exists():
            continue
        rows = _slice(source, a, b)
        result: ShardResult = fn(rows, params)
        ds = rows_to_dataset(result.rows, features)
        tmp = work / f".shard-{index:05d}.tmp-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        _save(ds, tmp / "data")
        write_json(tmp / "report.json", {"n_in": len(rows), "skipped": result.skipped})
        os.replace(tmp, out)  # the commit point of this shard
        if queue is not None:
            queue.put(len(rows))


def _slice(source, a: int, b: int) -> list[dict]:
    """Rows a..b of a list or of an on-disk Dataset. A Dataset is only read shard by shard, so
    a stage over tens of millions of utterances never holds them all as Python dicts."""
    if isinstance(source, list):
        return source[a:b]
    return source.select(range(a, b)).to_list()


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
    """A stage's map over its rows, shard by shard. fn_path: the function, as
    'module:function' so that spawned workers can import it, called as fn(rows, params) ->
    ShardResult. Each shard of `shard_size` rows is published under `work`; once every shard
    exists they are merged into the dataset at `out` (with `features`). desc: the progress
    bar's label."""

    fn_path: str
    params: Any
    work: Path
    out: Path
    features: Any
    shard_size: int
    desc: str = ""


def run_sharded(job: ShardJob, rows, workers, report: StageReport):
    """Map job.fn over `rows` (a list of dicts, or a `datasets.Dataset`, which is then read
    shard by shard) in shards, then merge every shard into the dataset at job.out.

    workers: the recipe's WorkConfig. Rank r of its `world_size` takes shards r,
    r + world_size, ...; its `num_proc` local processes split those again. The merge happens
    only once every shard of every rank exists; until then `report.complete` is False and
    job.out is not written. Returns the merged dataset or None."""
    work = Path(job.work)
    work.mkdir(parents=True, exist_ok=True)
    n_shards = math.ceil(len(rows) / job.shard_size)
    _check_plan(work, {"n_items": len(rows), "shard_size": job.shard_size, "n_shards": n_shards})
    rank, world_size = workers.rank, workers.world_size
    # a killed worker leaves its half-written shard in a tmp folder: drop ours (only this
    # rank writes these shard numbers, so another rank's live work is never touched)
    for tmp in work.glob(".shard-*.tmp-*"):
        if int(tmp.name.split("-")[1].split(".")[0]) % world_size == rank:
            shutil.rmtree(tmp, ignore_errors=True)
    size = job.shard_size
    mine = [
        (i, rows, i * size, min(len(rows), (i + 1) * size))
        for i in range(n_shards)
        if i % world_size == rank and not _shard_dir(work, i).exists()
    ]
    already = n_shards - len(mine) - sum(1 for i in range(n_shards) if i % world_size != rank)
    if already:
        report.notes.append(f"{already} shard(s) were already done (resumed)")
    if mine:
        _process_here_or_in_workers(job, mine, workers.num_proc)
    present = [i for i in range(n_shards) if _shard_dir(work, i).exists()]
    if len(present) < n_shards:
        report.complete = False
        report.notes.append(
            f"{len(present)} of {n_shards} shards exist; the others belong to other ranks. "
            "Rerun with --rank 0 once every rank has finished, to merge."
        )
        return None
    return _merge_shards(job, n_shards, report)


def _check_plan(work: Path, plan: dict) -> None:
    """Shards are only resumed for the very input they were cut from."""
    plan_path = work / "plan.json"
    if not plan_path.exists():
        write_json(plan_path, plan)
        return
    old = read_json(plan_path)
    if old != plan:
        raise RuntimeError(
            f"{work} holds shards of a different input ({old} vs now {plan}); the previous "
            "stage changed. Rerun this stage with --force to start it over."
        )


def _process_here_or_in_workers(job: ShardJob, mine, num_proc: int) -> None:
    """This rank's shards, in this process (num_proc 1) or in num_proc spawned ones."""
    from tqdm.auto import tqdm

    total = sum(b - a for _, _, a, b in mine)
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


def _merge_shards(job: ShardJob, n_shards: int, report: StageReport):
    from datasets import concatenate_datasets

    parts, n_in = [], 0
    for i in range(n_shards):
        d = _shard_dir(Path(job.work), i)
        parts.append(load_dataset_dir(d / "data"))
        rep = read_json(d / "report.json")
        n_in += rep["n_in"]
        for item, reason in rep["skipped"]:
            report.skip(item, reason)
    merged = concatenate_datasets(parts) if parts else rows_to_dataset([], job.features)
    save_dataset_atomic(merged, job.out)
    report.counts["input items"] = n_in
    report.counts["output rows"] = len(merged)
    return load_dataset_dir(job.out)


class _ListQueue:
    """In-process stand-in for the multiprocessing queue: progress goes straight to the bar."""

    def __init__(self, bar):
        self.bar = bar

    def put(self, n: int) -> None:
        self.bar.update(n)


# --------------------------------------------------------------------------- stage runner


@dataclass
class Stage:
    number: int
    name: str
    fn: Callable[..., StageReport] | None  # None: not wired yet; `why` says what it waits for
    why: str = ""


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
        if not first <= st.number <= last:
            continue
        marker = done_marker(exp, st.number)
        if marker.exists() and not force:
            print(f"stage {st.number} ({st.name}): already done ({marker}); skipping", flush=True)
            continue
        if st.fn is None:
            print(f"stage {st.number} ({st.name}): not wired yet: {st.why}. Stopping here.")
            break
        print(f"stage {st.number} ({st.name}): starting", flush=True)
        # this stage's output is about to change: later stages built on the old one are stale
        for later in stages:
            stale = done_marker(exp, later.number)
            if later.number > st.number and stale.exists():
                stale.unlink()
                print(f"  stage {later.number} marked not done: its input is being rebuilt")
        t0 = time.time()
        report = st.fn(cfg, force=force)
        report.seconds = time.time() - t0
        print(report.format(), flush=True)
        write_json(exp / "reports" / f"stage{st.number}.json", asdict(report))
        reports.append(report)
        if not report.complete:
            break
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {report.seconds:.1f}s\n")
    return reports


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
