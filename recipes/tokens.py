"""Stage 5: encode every utterance with a codec into int16 codes [Q, T], per split.

Batched (utterances of similar length together, zero-padded, codes trimmed back to each
utterance's own frame count), on this worker's GPU when there is one, sharded and resumable
through `run_sharded`.

Running on N GPUs:
  * one machine: `work.num_proc: N` (or `--num_proc N`); worker i uses cuda:i.
  * a cluster: launch the same command once per GPU or node with `--rank R --world_size N`
    (e.g. `--rank $SLURM_PROCID --world_size $SLURM_NTASKS`); each rank encodes shards
    R, R+N, ... and writes them atomically to the shared exp folder. When all ranks are done,
    run the command once more with `--rank 0`: it finds every shard present and merges.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echovox.audio import AudioError, load_audio
from echovox.checkpoint import write_json

from .stage import ShardJob, ShardResult, StageReport, run_sharded

INT16_MAX = 32767


def tokens_features():
    from datasets import Features, List, Value

    return Features(
        {
            "id": Value("string"),
            "speaker": Value("string"),
            "book": Value("string"),
            "text": Value("string"),
            "split": Value("string"),
            "duration": Value("float32"),
            "phonemes": List(Value("int32")),
            "codes": List(List(Value("int16"))),
            "n_frames": Value("int32"),
        }
    )


class CodecUnavailable(RuntimeError):
    """tokenize.codec cannot be loaded: the message says what to pass instead."""

    def __init__(self, codec: str, err: BaseException):
        hub = not Path(codec).exists()
        hint = (
            " It is not a local folder, so it would come from the Hugging Face hub, which "
            "cannot be reached (offline, or HF_HUB_OFFLINE set) or does not have it."
            if hub
            else ""
        )
        super().__init__(
            f"tokenize.codec {codec!r} cannot be loaded ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200]}).{hint} Pass a local codec folder instead: "
            "--codec PATH (or tokenize.codec: PATH), e.g. one written by `echovox codec train` "
            "or a downloaded copy of facebook/encodec_24khz (config.json + weights)."
        )


@dataclass
class TokenizeParams:
    codec: str
    n_q: int | None
    batch_size: int
    device: str


_CODEC = None


def load_codec(p: TokenizeParams):
    """One codec per process, on this worker's device, reused for every shard."""
    global _CODEC
    if _CODEC is None or _CODEC[0] != p:
        from echovox.codec import Codec

        from .asr import pick_device

        try:
            codec = Codec.from_pretrained(p.codec, device=pick_device(p.device)).eval()
        except (OSError, ValueError) as err:  # hub errors are OSErrors; bad folders ValueErrors
            raise CodecUnavailable(p.codec, err) from err
        if codec.codebook_size - 1 > INT16_MAX:
            raise ValueError(
                f"codebook size {codec.codebook_size} does not fit int16 token storage"
            )
        _CODEC = (p, codec)
    return _CODEC[1]


def tokenize_shard(rows: list[dict], p: TokenizeParams) -> ShardResult:
    import torch

    result = ShardResult()
    codec = load_codec(p)
    sr, hop = codec.sample_rate, codec.hop_length
    loaded = []
    for row in rows:
        try:
            wav = load_audio(row["path"], sr, start=row["start"], end=row["end"])
        except AudioError as err:
            result.skipped.append((row["id"], str(err).replace(row["path"], "<file>")))
            continue
        loaded.append((row, wav))
    # longest first, so each batch pads little and an out-of-memory shows up at once
    loaded.sort(key=lambda rw: -len(rw[1]))
    for b in range(0, len(loaded), p.batch_size):
        batch = loaded[b : b + p.batch_size]
        longest = len(batch[0][1])
        wav = torch.zeros(len(batch), 1, longest)
        for i, (_, w) in enumerate(batch):
            wav[i, 0, : len(w)] = torch.from_numpy(w)
        codes = codec.encode(wav, n_q=p.n_q)  # [B, Q, T]
        for i, (row, w) in enumerate(batch):
            n = math.ceil(len(w) / hop)
            c = codes[i, :, :n].numpy().astype(np.int16)
            result.rows.append(
                {
                    "id": row["id"],
                    "speaker": row["speaker"],
                    "book": row["book"],
                    "text": row["normalized"],
                    "split": row["split"],
                    "duration": len(w) / sr,
                    "phonemes": row["phonemes"],
                    "codes": c.tolist(),
                    "n_frames": n,
                }
            )
    # restore the input order, so a token set does not depend on batch size
    order = {r["id"]: i for i, r in enumerate(rows)}
    result.rows.sort(key=lambda r: order[r["id"]])
    return result


def stage_tokenize(cfg, force: bool = False) -> StageReport:
    from .stage import reset_work

    report = StageReport(5, "tokenize")
    t = cfg.tokenize
    if not t.codec:
        raise ValueError(
            "tokenize.codec is not set: give a codec directory (echovox codec train output) "
            "or a pretrained id such as facebook/encodec_24khz"
        )
    work = cfg.exp / "shards" / "tokenize"
    if force:
        reset_work(work)
    params = TokenizeParams(t.codec, t.n_q, t.batch_size, t.device)
    # on the CPU: only its shape is needed here, and the GPUs are for the workers. Fails
    # here, with what to pass instead, before any shard
    codec = load_codec(dataclasses.replace(params, device="cpu"))
    out = cfg.exp / "tokens"
    job = ShardJob(
        fn_path="echovox.recipes.tokens:tokenize_shard",
        params=params,
        work=work,
        out=out / "all",
        features=tokens_features(),
        shard_size=cfg.work.shard_size,
        desc="tokenize",
        stamp={"codec": t.codec, "n_q": t.n_q},
    )
    ds = run_sharded(job, cfg.exp / "phonemes", cfg.work, report)
    if ds is None:
        return report
    write_split_views(ds, out, report)
    shutil.copy(cfg.exp / "symbols.json", out / "symbols.json")
    write_json(
        out / "codec.json",
        {
            "codec": t.codec,
            "sample_rate": codec.sample_rate,
            "frame_rate": codec.frame_rate,
            "n_q": t.n_q or codec.n_codebooks,
            "codebook_size": codec.codebook_size,
        },
    )
    report.notes.append(
        f"token views in {out}/{{train,dev,test}} (indexes over {out}/all's shards, with a "
        "length index), symbol table and codec.json"
    )
    return report


def write_split_views(ds, out: Path, report: StageReport) -> None:
    """tokens/{train,dev,test}: index views over tokens/all (no copy), each with a length
    index (n_frames, n_phonemes) that a training rank reads instead of scanning columns.
    Too few speakers for a dev split (fewer than three): a fixed 2 % of the training
    utterances (by a hash of their id) stand in, so that validation never meets an empty set."""
    import pyarrow.compute as pc

    from echovox.dataview import write_view

    from .phonemes import SPLITS

    table = ds.data  # the shards' Arrow table, memory mapped
    split = table.column("split")
    frames = table.column("n_frames").to_numpy()
    n_phon = pc.list_value_length(table.column("phonemes")).to_numpy()
    index = {s: np.flatnonzero(pc.equal(split, s).to_numpy(zero_copy_only=False)) for s in SPLITS}
    if len(index["dev"]) == 0 and len(index["train"]) > 1:
        ids = table.column("id").to_pylist()
        held = np.array([zlib.crc32(ids[i].encode()) % 50 == 0 for i in index["train"]])
        if not held.any():
            held[0] = True
        index["dev"], index["train"] = index["train"][held], index["train"][~held]
        report.notes.append(
            f"no dev speakers (too few speakers): {len(index['dev'])} training utterances "
            "(2 %, by id hash) are the dev split instead; its loss then measures seen voices"
        )
    parts = [Path(p) for p in _view_parts(out / "all")]
    for s in SPLITS:
        i = index[s]
        lengths = {"n_frames": frames[i], "n_phonemes": n_phon[i]}
        write_view(out / s, parts, tokens_features(), index=i, lengths=lengths)
        report.counts[f"{s} utterances"] = len(i)
        report.hours[s] = round(float(np.asarray(table.column("duration"))[i].sum()) / 3600, 4)


def _view_parts(path: Path) -> list[str]:
    from echovox.dataview import read_view

    return [str((path / p).resolve()) for p in read_view(path)["parts"]]
