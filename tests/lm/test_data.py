import pytest
import torch

from echovox.lm.data import (
    Collator,
    DurationBucketSampler,
    Sharding,
    SpeakerPrompts,
    TokenDataError,
    TokenDataset,
    write_token_dataset,
)


def _rows(n=12, q=3, k=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        t = 5 + (i * 7) % 23
        rows.append(
            {
                "id": f"utt{i}",
                "speaker": f"spk{i % 3}",
                "phonemes": torch.randint(1, 30, (3 + i % 5,), generator=g).tolist(),
                "codes": torch.randint(0, k, (q, t), generator=g).tolist(),
                "n_frames": t,
            }
        )
    return rows


def test_dataset_reads_rows_and_trims_codebooks(tmp_path):
    rows = _rows()
    ds = TokenDataset(write_token_dataset(tmp_path / "tok", rows), n_codebooks=2, codebook_size=16)
    assert len(ds) == 12 and ds.lengths == [r["n_frames"] for r in rows]
    item = ds[4]
    assert item.id == "utt4" and item.speaker == "spk1"
    assert item.codes.shape == (2, rows[4]["n_frames"])
    assert item.codes.tolist() == rows[4]["codes"][:2]
    assert item.phonemes.tolist() == rows[4]["phonemes"]


def test_dataset_errors_are_clear(tmp_path):
    with pytest.raises(TokenDataError, match="not found"):
        TokenDataset(tmp_path / "nothing")
    path = write_token_dataset(tmp_path / "tok", _rows())
    with pytest.raises(TokenDataError, match="needs 4"):
        TokenDataset(path, n_codebooks=4)[0]
    with pytest.raises(TokenDataError, match="outside"):
        TokenDataset(path, codebook_size=4)[0]
    with pytest.raises(TokenDataError, match="symbol table"):
        TokenDataset(path, n_phonemes=2)[0]
    bad = _rows(2)
    bad[1]["n_frames"] += 1
    with pytest.raises(TokenDataError, match="n_frames"):
        TokenDataset(write_token_dataset(tmp_path / "bad", bad))[1]
    import datasets

    datasets.Dataset.from_dict({"id": ["a"]}).save_to_disk(str(tmp_path / "cols"))
    with pytest.raises(TokenDataError, match="lacks columns"):
        TokenDataset(tmp_path / "cols")


LENGTHS = [int(x) for x in torch.randint(5, 60, (101,), generator=torch.Generator().manual_seed(0))]


def test_sampler_respects_max_frames_and_covers_everything():
    s = DurationBucketSampler(LENGTHS, max_frames=150, num_buckets=4, seed=1)
    batches = list(s)
    assert sorted(i for b in batches for i in b) == list(range(101))
    for b in batches:
        assert max(LENGTHS[i] for i in b) * len(b) <= 150


def test_sampler_is_deterministic_per_epoch_and_seed():
    a = DurationBucketSampler(LENGTHS, max_frames=150, seed=1)
    b = DurationBucketSampler(LENGTHS, max_frames=150, seed=1)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b)
    assert list(DurationBucketSampler(LENGTHS, max_frames=150, seed=2)) != list(b)


def test_sampler_shares_are_disjoint_and_equal():
    shares = [
        list(DurationBucketSampler(LENGTHS, 150, shard=Sharding(3, r), seed=4)) for r in range(3)
    ]
    assert len({len(s) for s in shares}) == 1
    single = list(DurationBucketSampler(LENGTHS, 150, seed=4))
    # wrapped round: every batch is used, only the few extra ones repeat
    flat = [tuple(b) for s in shares for b in s]
    assert set(flat) == {tuple(b) for b in single}
    assert len(flat) - len(single) < 3
    dropped = [
        list(DurationBucketSampler(LENGTHS, 150, shard=Sharding(3, r, drop_last=True), seed=4))
        for r in range(3)
    ]
    flat = [tuple(b) for s in dropped for b in s]
    assert len(flat) == len(set(flat)) == 3 * len(dropped[0])


def test_sampler_resumes_mid_epoch():
    s = DurationBucketSampler(LENGTHS, 150, seed=3)
    s.set_epoch(2)
    full = list(s)
    resumed = DurationBucketSampler(LENGTHS, 150, seed=3)
    resumed.load_state_dict({"epoch": 2, "seed": 3, "skip": None})
    resumed.skip(2, 5)
    assert len(resumed) == len(full)
    assert list(resumed) == full[5:]
    assert list(resumed) == full  # the skip applies once


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError):
        DurationBucketSampler(LENGTHS, 0)
    with pytest.raises(ValueError):
        DurationBucketSampler([], 10)
    with pytest.raises(ValueError, match="rank"):
        DurationBucketSampler(LENGTHS, 10, shard=Sharding(2, 2))


def test_collator_pads_and_draws_stable_prompt_spans(tmp_path):
    ds = TokenDataset(write_token_dataset(tmp_path / "tok", _rows()))
    items = [ds[i] for i in (0, 3, 7)]
    collate = Collator(phoneme_pad_id=0, prompt_frames=6, seed=0)
    batch = collate(items)
    assert batch.phonemes.shape == (3, max(len(it.phonemes) for it in items))
    assert batch.codes.shape == (3, 3, max(it.codes.shape[1] for it in items))
    for i, it in enumerate(items):
        n = it.codes.shape[1]
        assert batch.code_lens[i] == n
        assert torch.equal(batch.codes[i, :, :n], it.codes)
        assert bool((batch.codes[i, :, n:] == 0).all())
        p, s = int(batch.prompt_lens[i]), int(batch.prompt_starts[i])
        assert 1 <= p <= min(6, n // 2) and 0 <= s <= n - p
        assert torch.equal(batch.prompt_codes()[i, :, :p], it.codes[:, s : s + p])
    again = collate(items)
    assert torch.equal(again.prompt_starts, batch.prompt_starts)


def test_collator_prefix_mode_takes_the_prompt_from_the_start_and_out_of_the_target(tmp_path):
    ds = TokenDataset(write_token_dataset(tmp_path / "tok", _rows()))
    items = [ds[i] for i in (0, 3, 7)]
    span = Collator(phoneme_pad_id=0, prompt_frames=6, seed=0)(items)
    codes, lens = span.nar_target()  # span mode: the whole utterance, prompt included
    assert codes is span.codes and lens is span.code_lens
    batch = Collator(phoneme_pad_id=0, prompt_frames=6, seed=0, prompt_mode="prefix")(items)
    assert not batch.prompt_in_target
    assert batch.prompt_starts.tolist() == [0, 0, 0]
    assert torch.equal(batch.prompt_lens, span.prompt_lens)  # same lengths as span mode
    codes, lens = batch.nar_target()
    assert codes.shape == (3, 3, int(lens.max()))
    for i, it in enumerate(items):
        n, p = it.codes.shape[1], int(batch.prompt_lens[i])
        assert torch.equal(batch.prompt_codes()[i, :, :p], it.codes[:, :p])
        assert int(lens[i]) == n - p >= 1  # the prompt is at most half: the target stays
        assert torch.equal(codes[i, :, : n - p], it.codes[:, p:])
        assert bool((codes[i, :, n - p :] == 0).all())
    with pytest.raises(ValueError, match="prompt_mode"):
        Collator(prompt_mode="other")


def test_collator_puts_another_utterance_of_the_speaker_in_front_for_the_ar(tmp_path):
    rows = _rows(n=12)
    ds = TokenDataset(write_token_dataset(tmp_path / "tok", rows))
    prompts = SpeakerPrompts(ds, max_frames=20)
    short = {r["id"] for r in rows if r["n_frames"] <= 20}
    assert {prompts.ids[i] for p in prompts.by_speaker.values() for i in p} == short
    for speaker, pool in prompts.by_speaker.items():
        assert all(rows[i]["id"] == prompts.ids[i] and rows[i]["speaker"] == speaker for i in pool)
    collate = Collator(0, prompt_frames=6, seed=0, ar_prompts=prompts, separator_id=31)
    items = [ds[i] for i in range(12)]
    batch = collate(items)
    assert batch.ids == [it.id for it in items]
    joined = 0
    for i, it in enumerate(items):
        start = int(batch.loss_starts[i])
        n = int(batch.code_lens[i])
        assert torch.equal(batch.codes[i, :, start:n], it.codes)  # the item's own frames last
        if start == 0:  # its speaker has no other utterance short enough
            assert n == it.codes.shape[1]
            assert not [
                j for j in prompts.by_speaker.get(it.speaker, []) if prompts.ids[j] != it.id
            ]
            continue
        joined += 1
        prompt = next(
            ds[j]
            for j in prompts.by_speaker[it.speaker]
            if torch.equal(batch.codes[i, :, :start], ds[j].codes) and prompts.ids[j] != it.id
        )
        assert prompt.speaker == it.speaker and prompt.codes.shape[1] <= 20
        L = len(prompt.phonemes)
        ph = batch.phonemes[i, : int(batch.phoneme_lens[i])]
        assert torch.equal(ph, torch.cat([prompt.phonemes, torch.tensor([31]), it.phonemes]))
        assert L + 1 + len(it.phonemes) == int(batch.phoneme_lens[i])
    assert joined >= 6
    assert torch.equal(collate(items).codes, batch.codes)  # the same batch draws the same
    assert Collator(0, prompt_frames=6).__call__(items).loss_starts is None
    with pytest.raises(ValueError, match="separator_id"):
        Collator(ar_prompts=prompts)
    with pytest.raises(ValueError, match="max_frames"):
        SpeakerPrompts(ds, 0)


def test_dataset_leaves_out_what_the_model_cannot_take(tmp_path):
    rows = _rows()
    path = write_token_dataset(tmp_path / "tok", rows)
    with pytest.warns(UserWarning, match="left out"):
        ds = TokenDataset(path, max_frames=20, prompt_frames=4)
    frames = [r["n_frames"] for r in rows]
    kept = [i for i, n in enumerate(frames) if n + min(4, n // 2) <= 20]
    assert 0 < len(kept) < len(rows)
    assert ds.lengths == [frames[i] for i in kept]
    assert [ds[j].id for j in range(len(ds))] == [f"utt{i}" for i in kept]
    with pytest.raises(TokenDataError, match="no utterance fits"):
        TokenDataset(path, max_frames=2)
