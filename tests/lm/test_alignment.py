"""Alignment learning for the AR: the prior, the losses, alignment heads, and training with them."""

from __future__ import annotations

import pytest
import torch

from echovox.lm.alignment import (
    attention_png,
    beta_binomial_log_prior,
    diagonality,
    forward_sum_loss,
    phoneme_ctc_loss,
    prior_weight,
    text_attention,
)
from echovox.lm.ar import ARModel
from echovox.lm.config import ARConfig, ConfigError
from echovox.lm.data import Collator, TokenItem, toy_rows, write_token_dataset
from echovox.lm.lightning import AlignSettings, LMTask

TOY = dict(n_phonemes=40, codebook_size=32, n_codebooks=1)


def test_prior_rows_are_distributions_moving_along_the_diagonal():
    p = beta_binomial_log_prior(torch.tensor([5, 3]), torch.tensor([10, 6]), L=5, T=12).exp()
    assert p.shape == (2, 12, 5)
    assert torch.allclose(p[0, :10].sum(-1), torch.ones(10), atol=1e-5)
    assert torch.allclose(p[1, :6, :3].sum(-1), torch.ones(6), atol=1e-5)
    peaks = p[0, :10].argmax(-1)
    assert peaks[0] == 0 and peaks[-1] == 4 and bool((peaks[1:] >= peaks[:-1]).all())
    assert float(p[1, 6:].sum()) == pytest.approx(6 * 5)  # outside the item: log 0 = 0 -> 1
    assert float(p[1, :6, 3:].sum()) == pytest.approx(6 * 2)


def test_prior_weight_anneals_linearly():
    assert prior_weight(0, 0.5, 100, 200) == 0.5
    assert prior_weight(150, 0.5, 100, 200) == pytest.approx(0.25)
    assert prior_weight(200, 0.5, 100, 200) == 0.0
    assert prior_weight(10, 0.0, 100, 200) == 0.0


def test_forward_sum_rewards_monotonic_attention():
    T, L = 20, 5
    diag = torch.full((1, 1, T, L), -5.0)
    for t in range(T):
        diag[0, 0, t, t * L // T] = 5.0
    lens = (torch.tensor([L]), torch.tensor([T]))
    good = forward_sum_loss(diag, *lens)
    assert float(good) < 0.05 < 10 < float(forward_sum_loss(diag.flip(-1), *lens))
    # padding beyond an item's text or frames is ignored
    padded = torch.full((1, 1, T + 3, L + 2), 9.0)
    padded[:, :, :T, :L] = diag
    assert float(forward_sum_loss(padded, *lens)) == pytest.approx(float(good), abs=1e-5)
    # more tokens than frames: no path, no loss and no NaN gradient
    s = torch.zeros(1, 2, 3, 6, requires_grad=True)
    loss = forward_sum_loss(s, torch.tensor([6]), torch.tensor([3]))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.isfinite(s.grad).all()


def test_phoneme_ctc_reads_the_phonemes_back():
    V = 6
    phonemes = torch.tensor([[2, 4, 4, 1]])
    logits = torch.full((1, 9, V + 1), -8.0)
    for t, p in enumerate([2, 2, V, 4, V, 4, 1, 1, V]):  # 2 2 _ 4 _ 4 1 1 _ -> 2 4 4 1
        logits[0, t, p] = 8.0
    good = phoneme_ctc_loss(logits, torch.tensor([9]), phonemes, torch.tensor([4]))
    bad = phoneme_ctc_loss(logits.flip(1), torch.tensor([9]), phonemes, torch.tensor([4]))
    assert float(good) < 0.01 < float(bad)


def _model(**kw) -> ARModel:
    torch.manual_seed(0)
    return ARModel(ARConfig.from_name("tiny", **TOY, **kw)).eval()


def test_alignment_heads_see_only_the_text_from_audio_positions():
    model = _model(align_layers=[1], align_heads=2)
    attn = model.blocks[1].attn
    attn.capture = True
    ph, pl = torch.randint(5, 40, (2, 6)), torch.tensor([6, 4])
    au, al = torch.randint(0, 32, (2, 9)), torch.tensor([9, 7])
    out = model(ph, pl, au, al)
    # changing the audio keys cannot change what an alignment head reads: only queries move,
    # so its text distribution's shape is fixed by the text; check via the mask instead
    mask = model.align_mask(model.attention_mask(pl, 6, al, 9), 6)
    assert not mask[:, :2, 6:, 6:].any()  # alignment heads: audio rows never see audio
    assert mask[:, 2:, 6:, 6:].any()  # the other heads still do
    assert mask[0, :2, 6:, :6].all() and not mask[1, :2, 6:, 4:6].any()  # the item's text only
    assert torch.isfinite(out.logits).all()
    assert attn.scores.shape == (2, 4, 15, 15)


def test_cached_decoding_equals_forward_with_alignment_heads():
    model = _model(align_layers=[0, 1], align_heads=1)
    ph, pl = torch.randint(5, 40, (2, 7)), torch.tensor([7, 5])
    au = torch.randint(0, 32, (2, 8))
    model.setup_caches(2, 20)
    first = model.prefill(ph, pl, au[:, :5], torch.tensor([5, 5]))
    assert torch.allclose(first, model(ph, pl, au[:, :5], torch.tensor([5, 5])).logits[:, 4])
    for t in range(5, 8):
        step = model.decode_one(au[:, t], torch.tensor([t, t]))
        full = model(ph, pl, au[:, : t + 1], torch.tensor([t + 1, t + 1])).logits[:, t]
        assert torch.allclose(step, full, atol=1e-5)


def test_prior_bias_reaches_only_the_alignment_heads():
    model = _model(align_layers=[0], align_heads=1)
    pl, al = torch.tensor([4]), torch.tensor([6])
    mask = model.attention_mask(pl, 4, al, 6)
    prior = beta_binomial_log_prior(pl, al, 4, 6)
    bias = model.align_mask(mask, 4, prior)
    assert torch.allclose(bias[0, 0, 4:, :4], prior[0])
    assert float(bias[0, 1, 4:, :4].abs().max()) == 0.0  # other heads: no prior
    assert bias[0, 0, 4:, 4:].isinf().all()


def test_config_rules():
    with pytest.raises(ConfigError, match="align_layers"):
        ARConfig.from_name("tiny", align_layers=[5], align_heads=1)
    with pytest.raises(ConfigError, match="together"):
        ARConfig.from_name("tiny", align_layers=[0])
    with pytest.raises(ValueError, match="alignment heads"):
        LMTask("ar", "tiny", TOY, align=AlignSettings(forward_sum_weight=0.1))
    with pytest.raises(ValueError, match="phoneme_ctc"):
        LMTask("ar", "tiny", TOY, align=AlignSettings(phoneme_ctc_weight=0.1))
    new_keys = ("align_layers", "align_heads", "phoneme_ctc")
    saved = {k: v for k, v in ARConfig.from_name("tiny").to_dict().items() if k not in new_keys}
    old = ARConfig.from_dict(saved)
    assert old.align_layers == [] and not old.phoneme_ctc  # configs saved before load as before


@pytest.mark.slow
def test_training_with_both_remedies_learns_and_draws_the_attention(tmp_path, monkeypatch):
    """The toy task with the prior, the forward-sum loss and phoneme CTC: the losses fall, and
    the alignment head's attention ends up monotonic (its peak moves forward through the text)."""
    rows = toy_rows(200, **{**TOY, "n_codebooks": 1}, frames_per_phoneme=3)
    items = [
        TokenItem(r["id"], r["speaker"], torch.tensor(r["phonemes"]), torch.tensor(r["codes"]))
        for r in rows
    ]
    align = AlignSettings(
        prior_scale=1.0, prior_anneal_start=40, prior_anneal_end=80,
        forward_sum_weight=1.0, phoneme_ctc_weight=0.5,
    )  # fmt: skip
    task = LMTask(
        "ar", "tiny", {**TOY, "align_layers": [1], "align_heads": 1, "phoneme_ctc": True},
        align=align,
    )  # fmt: skip
    logged = {}
    task.log = lambda *a, **k: None
    task.log_dict = lambda d, **k: logged.update({k2: float(v) for k2, v in d.items()})
    opt = torch.optim.AdamW(task.parameters(), lr=3e-3)
    collate = Collator(0, prompt_frames=4)
    g = torch.Generator().manual_seed(0)
    first = None
    monkeypatch.setattr(LMTask, "global_step", property(lambda self: self._step_now))
    for step in range(100):
        task._step_now = step
        batch = collate([items[j] for j in torch.randint(0, len(items), (12,), generator=g)])
        loss = task._step(batch, "train", step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if first is None:
            first = dict(logged)
    assert logged["train/forward_sum"] < 0.5 * first["train/forward_sum"]
    assert logged["train/phoneme_ctc"] < 0.5 * first["train/phoneme_ctc"]
    assert logged["train/prior_weight"] == 0.0  # annealed away by step 80
    task.eval()
    with torch.no_grad():
        batch = collate(items[:1])
        task._step(batch, "val", 0)
        n, t = int(batch.phoneme_lens[0]), int(batch.code_lens[0]) + 1
        probs = task._align_scores(batch.phonemes.shape[1])[0, 0, :t, :n].softmax(-1)
    peaks = probs.argmax(-1)
    assert int(peaks[-1]) >= n - 2 and int(peaks[1]) <= 1
    assert float((peaks[1:] >= peaks[:-1]).float().mean()) > 0.8
    attention_png(probs, tmp_path / "a.png")
    from PIL import Image

    assert Image.open(tmp_path / "a.png").size[0] >= n


def test_diagonality_tells_a_walking_attention_from_a_spread_one():
    M, N = 60, 30
    walk = torch.zeros(M, N)
    walk[torch.arange(M), (torch.arange(M) * N) // M] = 1.0
    assert float(diagonality(walk)) == pytest.approx(1.0)
    uniform = torch.full((M, N), 1.0 / N)
    assert 0.15 < float(diagonality(uniform)) < 0.3  # about 2 * band
    stuck = torch.zeros(M, N)
    stuck[:, 0] = 1.0  # every frame on the first phoneme
    assert float(diagonality(stuck)) < 0.15


def test_text_attention_rows_are_distributions_over_the_text_for_any_ar():
    ph, codes = torch.randint(5, 40, (7,)), torch.randint(0, 32, (9,))
    for model in (_model(), _model(align_layers=[1], align_heads=2)):
        att = text_attention(model, ph, codes)
        assert att.shape == (2, 4, 10, 7)
        assert torch.allclose(att.sum(-1), torch.ones(2, 4, 10), atol=1e-5)
        assert all(b.attn.scores is None and not b.attn.capture for b in model.blocks)
    # an alignment head's rows are its softmax over the text scores alone
    model.blocks[1].attn.capture = True
    L = ph.shape[0]
    audio = torch.cat([torch.tensor([model.config.bos_id]), codes])[None]
    model(ph[None], torch.tensor([L]), audio, torch.tensor([10]))
    own = model.blocks[1].attn.scores[0, :2, L:, :L].softmax(-1)
    assert torch.allclose(att[1, :2], own, atol=1e-5)


def test_attention_command_draws_and_scores_an_export(tmp_path, capsys):
    import json

    from PIL import Image

    from echovox.lm.checkpoint import save_pretrained
    from echovox.lm.cli import attention

    data = write_token_dataset(tmp_path / "tok", toy_rows(6, **{**TOY, "n_codebooks": 1}))
    export = save_pretrained(_model(align_layers=[0], align_heads=1), tmp_path / "ar")
    attention(str(export), str(data), output=str(tmp_path / "att.png"), items=3)
    out = json.loads(capsys.readouterr().out)
    assert out["items"] == 3 and len(out["diagonality"]) == 2 and len(out["diagonality"][0]) == 4
    assert 0.0 <= out["best"]["diagonality"] <= 1.0
    assert Image.open(tmp_path / "att.png").size[0] > 4
    with pytest.raises(ValueError, match="items"):
        attention(str(export), str(data), output=str(tmp_path / "x.png"), items=0)
    with pytest.raises(FileNotFoundError, match="not found"):
        attention(str(tmp_path / "nope"), str(data), output=str(tmp_path / "x.png"))
