import pytest
import torch

from echovox.lm.ar import ARModel
from echovox.lm.config import ARConfig, ConfigError, NARConfig
from echovox.lm.nar import NARModel

V, K, Q = 40, 32, 4


def _ar_batch(bos: int, pad: int):
    phon = torch.tensor([[3, 4, 5, 6, 7, 8], [9, 10, 11, 0, 0, 0]])
    phon_lens = torch.tensor([6, 3])
    audio = torch.randint(0, K, (2, 10))
    audio[:, 0] = bos
    audio[1, 7:] = pad
    return phon, phon_lens, audio, torch.tensor([10, 7])


def test_presets_match_the_issue():
    v = ARConfig.from_name("valle")
    assert (v.n_layers, v.n_heads, v.d_model, v.d_ffn) == (12, 16, 1024, 4096)
    s = ARConfig.from_name("small")
    assert (s.n_layers, s.d_model) == (6, 384)
    assert NARConfig.from_name("tiny").d_model < s.d_model
    with pytest.raises(ConfigError, match="unknown"):
        ARConfig.from_name("huge")
    with pytest.raises(ConfigError, match="divisible"):
        ARConfig(d_model=100, n_heads=3)
    with pytest.raises(ConfigError, match="at least 2"):
        NARConfig(n_codebooks=1)


def test_special_audio_ids_are_outside_the_codec_range(ar_config):
    ids = {ar_config.eos_id, ar_config.bos_id, ar_config.audio_pad_id}
    assert len(ids) == 3 and min(ids) >= ar_config.codebook_size
    assert ar_config.n_outputs == K + 1


def test_cached_decoding_equals_full_forward(ar_config):
    model = ARModel(ar_config).eval()
    phon, phon_lens, audio, audio_lens = _ar_batch(ar_config.bos_id, ar_config.audio_pad_id)
    full = model(phon, phon_lens, audio, audio_lens).logits  # [B, T, V]
    # prefill the first 4 audio tokens (the prompt), then decode the rest one by one
    n_prompt = 4
    model.setup_caches(2, phon.shape[1] + audio.shape[1])
    prompt_lens = torch.tensor([n_prompt, n_prompt])
    logits = model.prefill(phon, phon_lens, audio[:, :n_prompt], prompt_lens)
    torch.testing.assert_close(logits, full[:, n_prompt - 1], atol=1e-5, rtol=1e-5)
    for t in range(n_prompt, 7):  # both items are real up to 7
        logits = model.decode_one(audio[:, t], torch.tensor([t, t]))
        torch.testing.assert_close(logits, full[:, t], atol=1e-5, rtol=1e-5)


def test_cached_decoding_with_uneven_prompts_matches_each_item_alone(ar_config):
    model = ARModel(ar_config).eval()
    phon, phon_lens, audio, audio_lens = _ar_batch(ar_config.bos_id, ar_config.audio_pad_id)
    prompt_lens = torch.tensor([5, 3])  # uneven: the cache holds a masked gap for item 1
    model.setup_caches(2, 32)
    batched = [model.prefill(phon, phon_lens, audio[:, :5], prompt_lens)]
    pos = prompt_lens.clone()
    nxt = torch.tensor([1, 2])
    for _ in range(3):
        batched.append(model.decode_one(nxt, pos))
        pos += 1
    for i in range(2):
        L, P = int(phon_lens[i]), int(prompt_lens[i])
        seq = torch.cat([audio[i, :P], torch.tensor([int(nxt[i])] * 3)])
        full = model(phon[i : i + 1, :L], phon_lens[i : i + 1], seq[None], torch.tensor([P + 3]))
        for step in range(4):
            torch.testing.assert_close(
                batched[step][i], full.logits[0, P - 1 + step], atol=1e-5, rtol=1e-5
            )


def test_ar_is_causal_over_audio(ar_config):
    model = ARModel(ar_config).eval()
    phon, phon_lens, audio, audio_lens = _ar_batch(ar_config.bos_id, ar_config.audio_pad_id)
    a = model(phon, phon_lens, audio, audio_lens).logits
    changed = audio.clone()
    changed[:, 5] = (changed[:, 5] + 1) % K
    b = model(phon, phon_lens, changed, audio_lens).logits
    torch.testing.assert_close(a[:, :5], b[:, :5])
    assert not torch.allclose(a[0, 5:], b[0, 5:])


def test_ar_padding_does_not_change_real_positions(ar_config):
    model = ARModel(ar_config).eval()
    phon, phon_lens, audio, audio_lens = _ar_batch(ar_config.bos_id, ar_config.audio_pad_id)
    batched = model(phon, phon_lens, audio, audio_lens).logits
    alone = model(phon[1:, :3], phon_lens[1:], audio[1:, :7], audio_lens[1:]).logits
    torch.testing.assert_close(batched[1, :7], alone[0], atol=1e-5, rtol=1e-5)


def _nar_inputs():
    phon = torch.randint(1, V, (2, 6))
    phon_lens = torch.tensor([6, 4])
    prompt = torch.randint(0, K, (2, Q, 5))
    prompt_lens = torch.tensor([5, 3])
    target = torch.randint(0, K, (2, Q, 8))
    target_lens = torch.tensor([8, 6])
    return phon, phon_lens, prompt, prompt_lens, target, target_lens


def test_nar_attends_both_ways(nar_config):
    model = NARModel(nar_config).eval()
    # the zero-initialised adaptive LN would hide stage effects; give it random weights
    for lin in [*model.cond, model.final_cond]:
        torch.nn.init.normal_(lin.weight, std=0.02)
    phon, phon_lens, prompt, prompt_lens, target, target_lens = _nar_inputs()
    a = model(phon, phon_lens, prompt, prompt_lens, target, target_lens, 2).logits
    later = target.clone()
    later[:, 0, 7] = (later[:, 0, 7] + 1) % K  # change the LAST frame of item 0
    b = model(phon, phon_lens, prompt, prompt_lens, later, target_lens, 2).logits
    assert not torch.allclose(a[0, 0], b[0, 0]), "the first frame must see a later frame"
    # codebooks >= stage are not read
    hidden = target.clone()
    hidden[:, 2:] = (hidden[:, 2:] + 1) % K
    c = model(phon, phon_lens, prompt, prompt_lens, hidden, target_lens, 2).logits
    torch.testing.assert_close(a, c)
    # and the stage matters
    d = model(phon, phon_lens, prompt, prompt_lens, target, target_lens, 3).logits
    assert not torch.allclose(a, d)


def test_nar_logits_stay_float32_under_bfloat16_autocast(nar_config):
    """Under a bfloat16 autocast (the Synthesizer's `bf16` on a CPU) the blocks run in bfloat16
    but the output heads in float32: the logits are float32 and the heads' own rounding is
    gone, so only the blocks' rounding separates them from a float32 forward."""
    model = NARModel(nar_config).eval()
    torch.nn.init.normal_(model.heads, std=2.0)  # logits of several units, as trained ones are
    inputs = _nar_inputs()
    with torch.no_grad():
        full = model(*inputs, 1).logits
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(*inputs, 1).logits
            h = torch.randn(1, 4, nar_config.d_model)
            rounded = torch.bmm(h, model.heads[1:2].transpose(1, 2))  # what autocast alone gives
    assert low.dtype == torch.float32 and rounded.dtype == torch.bfloat16
    assert not torch.equal(low, full)  # the blocks did run in bfloat16
    torch.testing.assert_close(low, full, atol=0.1, rtol=0.05)


def test_nar_padding_does_not_change_real_positions(nar_config):
    model = NARModel(nar_config).eval()
    phon, phon_lens, prompt, prompt_lens, target, target_lens = _nar_inputs()
    batched = model(phon, phon_lens, prompt, prompt_lens, target, target_lens, 1).logits
    alone = model(
        phon[1:, :4],
        phon_lens[1:],
        prompt[1:, :, :3],
        prompt_lens[1:],
        target[1:, :, :6],
        target_lens[1:],
        1,
    ).logits
    torch.testing.assert_close(batched[1, :6], alone[0], atol=1e-5, rtol=1e-5)


def test_nar_rejects_bad_stage_and_codebooks(nar_config):
    model = NARModel(nar_config)
    phon, phon_lens, prompt, prompt_lens, target, target_lens = _nar_inputs()
    with pytest.raises(ValueError, match="stage"):
        model(phon, phon_lens, prompt, prompt_lens, target, target_lens, 0)
    with pytest.raises(ValueError, match="codebooks"):
        model(phon, phon_lens, prompt[:, :2], prompt_lens, target, target_lens, 1)


def test_ar_rejects_too_long_input(ar_config):
    model = ARModel(ar_config)
    phon = torch.ones(1, ar_config.max_phonemes + 1, dtype=torch.long)
    audio = torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="max_phonemes"):
        model(phon, torch.tensor([phon.shape[1]]), audio, torch.tensor([3]))


def test_package_exports_resolve_lazily():
    import echovox.lm as lm

    assert lm.ARModel is ARModel and lm.NARConfig is NARConfig
    assert callable(lm.generate_ar) and callable(lm.load_pretrained)
    with pytest.raises(AttributeError):
        lm.nothing_here  # noqa: B018


def test_half_weight_decoding_is_close_and_follows_weight_updates(ar_config):
    model = ARModel(ar_config).eval()
    phon, phon_lens, audio, audio_lens = _ar_batch(ar_config.bos_id, ar_config.audio_pad_id)

    def decode(half: bool) -> torch.Tensor:
        model.setup_caches(2, 32, half_weights=half)
        model.prefill(phon, phon_lens, audio[:, :4], torch.tensor([4, 4]))
        return model.decode_one(audio[:, 4], torch.tensor([4, 4]))

    full, half = decode(False), decode(True)
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, full, atol=2e-2, rtol=2e-2)
    assert not torch.equal(half, full)  # it really ran in float16
    with torch.no_grad():  # the float16 copies must follow the weights
        model.head.weight.mul_(2)
    torch.testing.assert_close(decode(True), decode(False), atol=4e-2, rtol=2e-2)
