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

import math
from dataclasses import dataclass

import numpy as np

from echovox.audio import AudioError, load_audio

from .stage import (
    ShardJob,
    ShardResult,
    StageReport,
    load_dataset_dir,
    run_sharded,
    save_dataset_atomic,
)

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

        codec = Codec.from_pretrained(p.codec, device=pick_device(p.device)).eval()
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
    from echovox.checkpoint import write_json

    from .phonemes import SPLITS
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
    phon = load_dataset_dir(cfg.exp / "phonemes")
    params = TokenizeParams(t.codec, t.n_q, t.batch_size, t.device)
    job = ShardJob(
        fn_path="echovox.recipes.tokens:tokenize_shard",
        params=params,
        work=work,
        out=work.parent / "tokens-all",
        features=tokens_features(),
        shard_size=cfg.work.shard_size,
        desc="tokenize",
    )
    ds = run_sharded(job, phon, cfg.work, report)
    if ds is None:
        return report
    codec = load_codec(params)
    out = cfg.exp / "tokens"
    for split in SPLITS:
        part = ds.filter(
            lambda col, want=split: [s == want for s in col], batched=True, input_columns="split"
        )
        save_dataset_atomic(part, out / split)
        report.counts[f"{split} utterances"] = len(part)
        report.hours[split] = round(sum(part["duration"]) / 3600.0, 4)
    import shutil

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
    report.notes.append(f"token sets in {out}/{{train,dev,test}}, symbol table and codec.json")
    return report
