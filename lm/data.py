"""Token datasets for the codec LMs: reading, duration-bucketed batching, and collation.

A token dataset is a Hugging Face `datasets.Dataset` saved with `save_to_disk`, one row per
utterance, with the columns

    id: str   speaker: str   phonemes: list[int] (SymbolTable ids)
    codes: list[list[int]] ([Q, T] codec codes)   n_frames: int (T)

The recipes write it, as a view over their shards (echovox.dataview) with a length index;
this module reads it. Lengths come from that index (or the `n_frames` column), so building the
sampler never decodes the codes.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

COLUMNS = ("id", "speaker", "phonemes", "codes", "n_frames")


class TokenDataError(ValueError):
    """A token dataset that is missing, has the wrong columns, or holds a malformed row."""


@dataclass
class TokenItem:
    """One utterance: phonemes [L], codes [Q, T]."""

    id: str
    speaker: str
    phonemes: Tensor
    codes: Tensor


class TokenDataset(Dataset):
    """Rows of a token dataset as `TokenItem`s, checked against the model's codec shape.

    n_codebooks: keep the first n codebooks (a dataset may hold more than the model uses);
    codebook_size: codes must lie in [0, codebook_size); n_phonemes: ids below it.
    max_frames, max_phonemes: utterances the model cannot take (with `prompt_frames` of NAR
    prompt on top of the frames) are left out, with a warning that counts them, rather than
    failing hours into a run.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        n_codebooks: int | None = None,
        codebook_size: int | None = None,
        n_phonemes: int | None = None,
        max_frames: int | None = None,
        max_phonemes: int | None = None,
        prompt_frames: int = 0,
    ) -> None:
        import datasets

        from echovox.dataview import ViewError, open_dataset, read_lengths

        path = Path(path)
        if not path.exists():
            raise TokenDataError(f"token dataset not found: {path}")
        try:
            ds = open_dataset(path)  # a recipe's split view, or a save_to_disk folder
        except (FileNotFoundError, ViewError) as err:
            raise TokenDataError(f"{path} is not a dataset saved with save_to_disk: {err}") from err
        if isinstance(ds, datasets.DatasetDict):
            raise TokenDataError(f"{path} holds splits {list(ds)}; point at one split's folder")
        missing = [c for c in COLUMNS if c not in ds.column_names]
        if missing:
            raise TokenDataError(f"{path} lacks columns {missing} (has {ds.column_names})")
        if len(ds) == 0:
            raise TokenDataError(f"{path} is empty")
        self.path = path
        self.ds = ds
        self.n_codebooks = n_codebooks
        self.codebook_size = codebook_size
        self.n_phonemes = n_phonemes
        # a view's length index makes start-up seconds at any size; else scan the columns
        lengths = read_lengths(path)
        frames = lengths.get("n_frames")
        if frames is None:
            frames = np.asarray(ds["n_frames"], dtype=np.int64)
        frames = np.asarray(frames, dtype=np.int64)
        keep = np.ones(len(frames), dtype=bool)
        if max_frames is not None:
            keep &= frames + np.minimum(prompt_frames, frames // 2) <= max_frames
        if max_phonemes is not None:
            n_phon = lengths.get("n_phonemes")
            if n_phon is None:
                n_phon = np.asarray([len(p) for p in ds["phonemes"]])
            keep &= np.asarray(n_phon) <= max_phonemes
        self.index = np.flatnonzero(keep)
        self.n_skipped = int((~keep).sum())
        if self.n_skipped:
            import warnings

            warnings.warn(
                f"{path}: left out {self.n_skipped} of {len(frames)} utterances longer than the "
                f"model takes (max_frames={max_frames}, max_phonemes={max_phonemes})",
                stacklevel=2,
            )
        if len(self.index) == 0:
            raise TokenDataError(f"{path}: no utterance fits the model's length limits")
        self.lengths: list[int] = frames[self.index].tolist()

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index: int) -> TokenItem:
        row = self.ds[int(self.index[index])]
        uid = row["id"]
        phonemes = torch.tensor(row["phonemes"], dtype=torch.long)
        try:
            codes = torch.tensor(row["codes"], dtype=torch.long)
        except ValueError as err:  # ragged lists
            raise TokenDataError(f"{self.path} row {uid!r}: codes are not [Q, T]: {err}") from err
        if phonemes.ndim != 1 or len(phonemes) == 0:
            raise TokenDataError(f"{self.path} row {uid!r}: no phonemes")
        if codes.ndim != 2 or codes.shape[1] != row["n_frames"] or codes.shape[1] == 0:
            raise TokenDataError(
                f"{self.path} row {uid!r}: codes of shape {tuple(codes.shape)} do not match "
                f"n_frames={row['n_frames']}"
            )
        if self.n_codebooks is not None:
            if codes.shape[0] < self.n_codebooks:
                raise TokenDataError(
                    f"{self.path} row {uid!r}: {codes.shape[0]} codebooks, the model needs "
                    f"{self.n_codebooks}"
                )
            codes = codes[: self.n_codebooks]
        if self.codebook_size is not None and (
            int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size
        ):
            raise TokenDataError(
                f"{self.path} row {uid!r}: codes outside [0, {self.codebook_size})"
            )
        if self.n_phonemes is not None and (
            int(phonemes.min()) < 0 or int(phonemes.max()) >= self.n_phonemes
        ):
            raise TokenDataError(
                f"{self.path} row {uid!r}: phoneme ids outside [0, {self.n_phonemes}); "
                "was it written with another symbol table?"
            )
        return TokenItem(id=uid, speaker=row["speaker"], phonemes=phonemes, codes=codes)


class SpeakerPrompts:
    """Per speaker, the utterances of a dataset short enough to be another utterance's AR
    prompt: at most `max_frames` frames, whole, so that their phonemes are exactly what they
    say (a cut utterance would need an alignment to cut its phonemes too)."""

    def __init__(self, dataset: TokenDataset, max_frames: int) -> None:
        if max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {max_frames}")
        self.dataset = dataset
        self.max_frames = max_frames
        # the id and speaker columns are read here, not by every TokenDataset: only this needs
        # them, and only for the short utterances
        short = [i for i, n in enumerate(dataset.lengths) if n <= max_frames]
        rows = dataset.ds.select_columns(["id", "speaker"]).select(dataset.index[short])
        self.ids: dict[int, str] = dict(zip(short, rows["id"]))
        self.by_speaker: dict[str, list[int]] = {}
        for i, speaker in zip(short, rows["speaker"]):
            self.by_speaker.setdefault(speaker, []).append(i)

    def draw(self, item: TokenItem, rng: np.random.Generator) -> TokenItem | None:
        """Another utterance of item's speaker, or None when the speaker has no other short
        one (the item then trains without a prompt)."""
        pool = [i for i in self.by_speaker.get(item.speaker, []) if self.ids[i] != item.id]
        if not pool:
            return None
        return self.dataset[pool[int(rng.integers(len(pool)))]]


@dataclass(frozen=True)
class Sharding:
    """How a sampler's batches are shared among data-parallel ranks: num_replicas and rank
    (None: from torch.distributed when it is initialised, else 1 and 0); drop_last cuts the
    batch list to a multiple of the replica count instead of wrapping it round."""

    num_replicas: int | None = None
    rank: int | None = None
    drop_last: bool = False


class DurationBucketSampler(Sampler[list[int]]):
    """Batches of similar duration holding at most `max_frames` frames including padding.

    Per epoch: utterances are sorted by length into `num_buckets` equal-count buckets, shuffled
    within each bucket, packed greedily, and the batches shuffled; everything is drawn from
    (seed, epoch), so an epoch's batches are the same on every run and every rank. With several
    replicas each rank takes a disjoint share; the batch list is first cut (drop_last) or
    wrapped round (default) to a multiple of the replica count, so every rank runs the same
    number of steps and DDP never waits on a missing rank.

    Resuming mid-epoch: `skip(epoch, n)` makes the next iteration of that epoch start at the
    rank's n-th batch. `len()` stays the whole epoch's count, which Lightning's loop expects.
    An utterance longer than `max_frames` forms a batch of its own.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        max_frames: int,
        *,
        num_buckets: int = 10,
        shuffle: bool = True,
        seed: int = 0,
        shard: Sharding | None = None,
        max_batch_size: int | None = None,
    ) -> None:
        shard = shard or Sharding()
        num_replicas, rank, drop_last = shard.num_replicas, shard.rank, shard.drop_last
        if max_frames < 1:
            raise ValueError(f"max_frames must be positive, got {max_frames}")
        if len(lengths) == 0:
            raise ValueError("no utterances to batch")
        if num_replicas is None or rank is None:
            dist = torch.distributed
            ready = dist.is_available() and dist.is_initialized()
            num_replicas = (
                dist.get_world_size() if ready else 1 if num_replicas is None else num_replicas
            )
            rank = dist.get_rank() if ready else 0 if rank is None else rank
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} not in [0, {num_replicas})")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.max_frames = max_frames
        self.num_buckets = max(1, min(num_buckets, len(lengths)))
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.num_replicas = num_replicas
        self.rank = rank
        self.max_batch_size = max_batch_size
        self.epoch = 0
        self._skip: tuple[int, int] | None = None
        if self._rank_count(len(self._all_batches(0))) == 0:
            raise ValueError(
                f"{len(self._all_batches(0))} batches cannot be shared by {num_replicas} ranks "
                "with drop_last"
            )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def sampler(self) -> DurationBucketSampler:
        """Lightning calls `set_epoch` on `dataloader.batch_sampler.sampler`, not on the batch
        sampler itself; pointing that attribute here lets it reach us."""
        return self

    def skip(self, epoch: int, n_batches: int) -> None:
        """Start epoch `epoch` at this rank's batch `n_batches` (already trained on)."""
        self._skip = (epoch, n_batches)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "seed": self.seed, "skip": self._skip}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = state["epoch"]
        self.seed = state["seed"]
        self._skip = tuple(state["skip"]) if state.get("skip") else None

    def _all_batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch])
        order = np.argsort(self.lengths, kind="stable")
        batches: list[list[int]] = []
        for bucket in np.array_split(order, self.num_buckets):
            if self.shuffle:
                bucket = rng.permutation(bucket)
            batch: list[int] = []
            longest = 0
            for i in bucket.tolist():
                n = int(self.lengths[i])
                grown = max(longest, n) * (len(batch) + 1)
                full = self.max_batch_size is not None and len(batch) >= self.max_batch_size
                if batch and (grown > self.max_frames or full):
                    batches.append(batch)
                    batch, longest = [], 0
                batch.append(i)
                longest = max(longest, n)
            if batch:
                batches.append(batch)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def _rank_count(self, n: int) -> int:
        return n // self.num_replicas if self.drop_last else math.ceil(n / self.num_replicas)

    def rank_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches of `epoch`, in order."""
        batches = self._all_batches(epoch)
        total = self._rank_count(len(batches)) * self.num_replicas
        while len(batches) < total:  # wrap round so that every rank gets the same count
            batches = batches + batches[: total - len(batches)]
        return batches[:total][self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.rank_batches(self.epoch)
        start = 0
        if self._skip is not None and self._skip[0] == self.epoch:
            start = self._skip[1]
            self._skip = None
        yield from batches[start:]

    def __len__(self) -> int:
        return len(self.rank_batches(self.epoch))


@dataclass
class TokenBatch:
    """A padded batch. Padding: phonemes with the pad id, codes with 0; use the lengths.

    phonemes: [B, L], phoneme_lens: [B]; codes: [B, Q, T], code_lens: [B];
    prompt_starts, prompt_lens: [B], the NAR's prompt span inside each utterance's frames.
    prompt_in_target: whether the NAR is trained on the prompt's frames too (Collator's
        prompt_mode "span") or only on the frames after the prompt ("prefix").
    loss_starts: [B], the AR's first scored frame: 0, or, when the Collator put another
        utterance of the speaker in front as a prompt, that utterance's frame count.
    """

    ids: list[str]
    phonemes: Tensor
    phoneme_lens: Tensor
    codes: Tensor
    code_lens: Tensor
    prompt_starts: Tensor
    prompt_lens: Tensor
    prompt_in_target: bool = True
    loss_starts: Tensor | None = None

    def prompt_codes(self) -> Tensor:
        """[B, Q, P_max]: each item's prompt span, left-aligned and padded with 0."""
        B, Q, _ = self.codes.shape
        P = max(1, int(self.prompt_lens.max()))
        idx = self.prompt_starts[:, None] + torch.arange(P, device=self.codes.device)[None]
        idx = idx.clamp(max=self.codes.shape[2] - 1)
        out = self.codes.gather(2, idx[:, None, :].expand(B, Q, P))
        keep = torch.arange(P, device=self.codes.device)[None] < self.prompt_lens[:, None]
        return out * keep[:, None, :]

    def nar_target(self) -> tuple[Tensor, Tensor]:
        """(codes [B, Q, T'], lengths [B]): the frames the NAR is trained to predict. The whole
        utterance when the prompt is a span inside it; the frames after the prompt when the
        prompt is the utterance's start, left-aligned and padded with 0."""
        if self.prompt_in_target:
            return self.codes, self.code_lens
        B, Q, T = self.codes.shape
        lens = self.code_lens - self.prompt_lens
        n = max(1, int(lens.max()))
        idx = self.prompt_lens[:, None] + torch.arange(n, device=self.codes.device)[None]
        out = self.codes.gather(2, idx.clamp(max=T - 1)[:, None, :].expand(B, Q, n))
        keep = torch.arange(n, device=self.codes.device)[None] < lens[:, None]
        return out * keep[:, None, :], lens

    def __len__(self) -> int:
        return len(self.ids)


class Collator:
    """Pads `TokenItem`s into a `TokenBatch` and draws each item's NAR prompt span.

    The prompt is `prompt_frames` frames (3 s, as in VALL-E) of the same utterance, at most
    half of it so that the target stays the longer part. prompt_mode picks where:

    - "span": a random span, and the NAR is trained on every frame, the span's included. This
      is how echovox-tiny's NAR was trained. The prompt's frames reappear in the target, so the
      model could copy them there; at synthesis the prompt is another sentence and there is
      nothing to copy.
    - "prefix": the utterance's first frames, and the NAR is trained on the frames after them
      only. This is the layout of synthesis: the phonemes are the prompt's then the target's,
      the prompt codes are the start of that speech, the target frames continue it.

    ar_prompts: for the AR, put another utterance of the same speaker (`SpeakerPrompts`)
    in front of each item, joined as synthesis joins a prompt and its target: phonemes
    [prompt's, separator_id, item's], codes [prompt's | item's]. The batch's `loss_starts`
    then say where each item's own frames begin; the AR is scored on those only. echovox-tiny's
    AR was trained without (plain continuation of one utterance).

    The span and the prompt utterance are drawn from a hash of (seed, the batch's ids), so a
    batch is the same wherever and whenever it is built: in a worker, after a resume, on
    another rank.
    """

    PROMPT_MODES = ("span", "prefix")

    def __init__(
        self,
        phoneme_pad_id: int = 0,
        prompt_frames: int = 225,
        seed: int = 0,
        prompt_mode: str = "span",
        ar_prompts: SpeakerPrompts | None = None,
        separator_id: int | None = None,
    ) -> None:
        if prompt_mode not in self.PROMPT_MODES:
            raise ValueError(f"prompt_mode must be one of {self.PROMPT_MODES}, got {prompt_mode!r}")
        if ar_prompts is not None and separator_id is None:
            raise ValueError("ar_prompts need the separator_id that joins prompt and target")
        self.ar_prompts = ar_prompts
        self.separator_id = separator_id
        self.phoneme_pad_id = phoneme_pad_id
        self.prompt_frames = prompt_frames
        self.seed = seed
        self.prompt_mode = prompt_mode

    def __call__(self, items: list[TokenItem]) -> TokenBatch:
        if not items:
            raise ValueError("empty batch")
        rng = np.random.default_rng(
            zlib.crc32(f"{self.seed}|{'|'.join(it.id for it in items)}".encode())
        )
        loss_starts = None
        if self.ar_prompts is not None:
            items, loss_starts = self._join_prompts(items, rng)
        B = len(items)
        Q = items[0].codes.shape[0]
        if any(it.codes.shape[0] != Q for it in items):
            raise TokenDataError("items of one batch have different numbers of codebooks")
        L = max(len(it.phonemes) for it in items)
        T = max(it.codes.shape[1] for it in items)
        phonemes = torch.full((B, L), self.phoneme_pad_id, dtype=torch.long)
        codes = torch.zeros(B, Q, T, dtype=torch.long)
        for i, it in enumerate(items):
            phonemes[i, : len(it.phonemes)] = it.phonemes
            codes[i, :, : it.codes.shape[1]] = it.codes
        phoneme_lens = torch.tensor([len(it.phonemes) for it in items])
        code_lens = torch.tensor([it.codes.shape[1] for it in items])
        prompt_lens = torch.minimum(code_lens // 2, torch.tensor(self.prompt_frames))
        if self.prompt_mode == "prefix":
            # a 1-frame utterance keeps its frame as the target and goes without a prompt,
            # so that no batch is left with nothing to score
            starts = [0] * B
        else:
            prompt_lens = prompt_lens.clamp(min=1)
            starts = [int(rng.integers(0, int(n - p) + 1)) for n, p in zip(code_lens, prompt_lens)]
        return TokenBatch(
            ids=[it.id for it in items],
            phonemes=phonemes,
            phoneme_lens=phoneme_lens,
            codes=codes,
            code_lens=code_lens,
            prompt_starts=torch.tensor(starts),
            prompt_lens=prompt_lens,
            prompt_in_target=self.prompt_mode == "span",
            loss_starts=loss_starts,
        )

    def _join_prompts(
        self, items: list[TokenItem], rng: np.random.Generator
    ) -> tuple[list[TokenItem], Tensor]:
        joined, starts = [], []
        sep = torch.tensor([self.separator_id], dtype=torch.long)
        for it in items:
            prompt = self.ar_prompts.draw(it, rng)
            if prompt is None:
                joined.append(it)
                starts.append(0)
                continue
            joined.append(
                TokenItem(
                    id=it.id,
                    speaker=it.speaker,
                    phonemes=torch.cat([prompt.phonemes, sep, it.phonemes]),
                    codes=torch.cat([prompt.codes, it.codes], dim=1),
                )
            )
            starts.append(prompt.codes.shape[1])
        return joined, torch.tensor(starts)


def write_token_dataset(path: str | Path, rows: list[dict]) -> Path:
    """Save rows (dicts with the COLUMNS) as a token dataset; used by tests and toy corpora."""
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "speaker": datasets.Value("string"),
            "phonemes": datasets.Sequence(datasets.Value("int32")),
            "codes": datasets.Sequence(datasets.Sequence(datasets.Value("int16"))),
            "n_frames": datasets.Value("int32"),
        }
    )
    ds = datasets.Dataset.from_list(rows, features=features)
    ds.save_to_disk(str(path))
    return Path(path)


def toy_rows(
    n: int,
    *,
    n_phonemes: int = 40,
    n_codebooks: int = 4,
    codebook_size: int = 32,
    frames_per_phoneme: int = 2,
    min_phonemes: int = 4,
    max_phonemes: int = 8,
    seed: int = 0,
) -> list[dict]:
    """A learnable toy token corpus: each phoneme p becomes `frames_per_phoneme` frames whose
    codes are a fixed function of (p, codebook, frame within the phoneme). Every utterance ends
    with phoneme 4, like the final punctuation of real phonemizer output, so the stop has a cue.
    The AR must copy the phonemes in order and stop after the end phoneme's frames; the NAR maps
    codebook 1 to the others. Ids 0-3 are left out (the SymbolTable's pad/bos/eos/unk)."""
    rng = np.random.default_rng(seed)
    # at most codebook_size distinct phonemes, so that (3 p mod K) tells them apart
    hi = min(n_phonemes, 4 + codebook_size)
    rows = []
    for i in range(n):
        L = int(rng.integers(min_phonemes, max_phonemes + 1))
        ph = np.append(rng.integers(5, hi, L - 1), 4)
        frames = np.repeat(ph, frames_per_phoneme)
        within = np.tile(np.arange(frames_per_phoneme), L)
        q = np.arange(n_codebooks)[:, None]
        codes = (frames[None] * 3 + q * 5 + within[None] * 11) % codebook_size
        rows.append(
            {
                "id": f"toy{i:05d}",
                "speaker": f"spk{i % 4}",
                "phonemes": ph.tolist(),
                "codes": codes.tolist(),
                "n_frames": int(codes.shape[1]),
            }
        )
    return rows
