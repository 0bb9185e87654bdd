"""API contract of Synthesizer on a tiny random-weight model (its output is noise, which is
all plumbing tests need)."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from model_helpers import REPO, SR, mbrola_speech, voice

from echovox.app.synthesizer import ClonedAudio, CloneRequest, TextError, VoicePrompt
from echovox.audio import AudioError
from echovox.eval.errors import AsrUnavailableError

PROMPT_TEXT = "one two three four five"


def test_clone_from_a_file_returns_audio(synth, prompt_wav, tmp_path):
    audio = synth.clone("Hello there.", prompt=prompt_wav, prompt_text=PROMPT_TEXT)
    assert isinstance(audio, ClonedAudio)
    assert audio.waveform.dtype == np.float32 and audio.waveform.ndim == 1
    assert audio.sample_rate == SR and audio.duration > 0
    assert np.isfinite(audio.waveform).all() and np.abs(audio.waveform).max() <= 1.0
    assert audio.seconds > 0 and audio.rtf > 0
    assert audio.chunks == ["Hello there."] and audio.stop_reasons[0] in ("eos", "max_frames")
    path = audio.save(tmp_path / "out.wav")
    data, sr = sf.read(str(path))
    assert sr == SR and len(data) == len(audio.waveform)


def test_clone_from_an_array_at_another_rate(synth):
    audio = synth.clone("Hi.", prompt=(voice(2.0, sr=22_050), 22_050), prompt_text=PROMPT_TEXT)
    assert audio.sample_rate == SR and audio.duration > 0


def test_resynthesize_is_the_codec_round_trip(synth):
    import torch

    x = voice(1.0)
    got = synth.resynthesize(x, SR)
    n_q = synth.nar.config.n_codebooks
    codes = synth.codec.encode(torch.from_numpy(x)[None, None], n_q=n_q)
    want = synth.codec.decode(codes)[0, 0, : len(x)].numpy()
    assert got.dtype == np.float32 and np.allclose(got, np.clip(want, -1, 1), atol=1e-6)
    stereo = np.stack([voice(1.0, sr=22_050)] * 2, axis=1)  # [S, 2] at another rate
    assert len(synth.resynthesize(stereo, 22_050)) == SR
    with pytest.raises(AudioError, match="finite"):
        synth.resynthesize(np.full(1000, np.nan, np.float32), SR)
    with pytest.raises(AudioError, match="non-empty"):
        synth.resynthesize(np.zeros(0, np.float32), SR)


def test_top_level_lazy_export():
    import echovox
    from echovox.app.synthesizer import Synthesizer

    assert echovox.Synthesizer is Synthesizer
    with pytest.raises(AttributeError):
        _ = echovox.not_a_thing


def test_import_echovox_stays_light():
    code = "import sys, echovox; print('torch' in sys.modules, 'gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_seed_makes_runs_repeatable(synth, prompt_wav):
    s = synth.default_settings(seed=123, temperature=1.0)
    a = synth.clone("A short test.", prompt_wav, PROMPT_TEXT, settings=s)
    b = synth.clone("A short test.", prompt_wav, PROMPT_TEXT, settings=s)
    np.testing.assert_array_equal(a.waveform, b.waveform)


def test_long_text_is_chunked_joined_and_reported(synth, prompt_wav):
    calls = []
    sentences = [f"Sentence number {w} is here, and it runs on a little." for w in "abcdefgh"]
    text = " ".join(sentences)  # 8 x 51 characters: more than one 200-character chunk
    audio = synth.clone(text, prompt_wav, PROMPT_TEXT, progress=lambda i, n: calls.append((i, n)))
    n = len(audio.chunks)
    # consecutive sentences are packed into chunks of at most max_chars
    assert n == 3 and calls == [(i, n) for i in range(1, n + 1)]
    assert all(len(c) <= synth.config.text.max_chars for c in audio.chunks)
    assert " ".join(audio.chunks) == text
    # each chunk's audio plus a pause between chunks
    pause = int(synth.config.text.pause_seconds * SR)
    assert len(audio.waveform) > (n - 1) * pause
    assert len(audio.stop_reasons) == n


@pytest.mark.parametrize("trim", [True, False])
def test_each_chunks_silent_edges_are_trimmed_before_the_pause(
    synth, prompt_wav, monkeypatch, trim
):
    """A chunk the AR opened with a long pause joins the next after pause_seconds only."""
    monkeypatch.setattr(synth.config.text, "pack_sentences", False)  # one chunk a sentence
    monkeypatch.setattr(synth.config.text, "trim_silence", trim)
    t = np.arange(SR) / SR
    sound = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    chunk = np.concatenate([np.zeros(SR, np.float32), sound, np.zeros(SR // 2, np.float32)])

    def fake_generate(prompts, ids, settings):
        return [chunk] * len(ids), ["eos"] * len(ids)

    monkeypatch.setattr(synth, "_generate", fake_generate)
    audio = synth.clone("One. Two.", prompt_wav, PROMPT_TEXT)
    pause = int(synth.config.text.pause_seconds * SR)
    if trim:  # 1 s of sound and 0.1 s each side (frame rounding), twice, and one pause
        assert 2 * 1.2 * SR <= len(audio.waveform) - pause <= 2 * 1.25 * SR
    else:
        assert len(audio.waveform) == 2 * len(chunk) + pause


def test_chunks_are_batched_across_batch_size(synth, prompt_wav, monkeypatch):
    monkeypatch.setattr(synth.config.text, "pack_sentences", False)  # one chunk a sentence
    text = "One. Two. Three. Four. Five."
    calls = []
    audio = synth.clone_many(
        [CloneRequest(text, prompt_wav, PROMPT_TEXT)],
        batch_size=2,
        progress=lambda i, n: calls.append(i),
    )[0]
    assert len(audio.chunks) == 5 and calls == [1, 2, 3, 4, 5]


def test_clone_many_keeps_order_and_reuses_a_voice_prompt(synth, prompt_wav):
    vp = synth.prepare_prompt(prompt_wav, PROMPT_TEXT)
    assert isinstance(vp, VoicePrompt) and vp.codes.shape[0] == synth.nar.config.n_codebooks
    outs = synth.clone_many(
        [
            {"text": "The first request.", "prompt": vp},
            {"text": "Second.", "prompt": (voice(1.5), SR), "prompt_text": "hello there"},
        ]
    )
    assert [o.text for o in outs] == ["The first request.", "Second."]
    assert outs[0].prompt_text == PROMPT_TEXT and outs[1].prompt_text == "hello there"


def test_a_long_prompt_is_cut_and_its_transcript_shortened_with_a_warning(synth):
    with pytest.warns(UserWarning, match="cut from"):
        vp = synth.prepare_prompt((voice(6.0), SR), "a b c d e f g h i j k l")
    assert vp.trimmed and len(vp.waveform) <= 3 * SR
    assert 3 <= len(vp.text.split()) <= 7


def test_prompt_seconds_override(synth):
    vp = synth.prepare_prompt((voice(6.0), SR), "x y z", prompt_seconds=1.5)
    assert len(vp.waveform) <= 1.5 * SR


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("   \n\t", "empty"),
        ("!!! ...", "nothing speakable"),
        (None, "string"),
        (42, "string"),
    ],
)
def test_bad_text_is_a_clear_error(synth, prompt_wav, text, match):
    with pytest.raises(TextError, match=match):
        synth.clone(text, prompt_wav, PROMPT_TEXT)


def test_sentences_too_long_for_the_model_are_split_further(synth, prompt_wav, monkeypatch):
    for lm in (synth.ar, synth.nar):
        monkeypatch.setattr(lm.config, "max_phonemes", 64)
    text = "and then we walked along the river and talked about the weather for a while"
    audio = synth.clone(text, prompt_wav, PROMPT_TEXT)
    assert len(audio.chunks) > 1
    assert " ".join(audio.chunks).split() == text.split()


def test_a_word_too_long_for_the_model_is_a_clear_error(synth, prompt_wav, monkeypatch):
    for lm in (synth.ar, synth.nar):
        monkeypatch.setattr(lm.config, "max_phonemes", 40)
    with pytest.raises(TextError, match="too long for this model"):
        synth.clone("supercalifragilisticexpialidocious", prompt_wav, PROMPT_TEXT)


@pytest.mark.parametrize(
    "prompt, match",
    [
        (None, "no voice prompt"),
        ((voice(0.5), SR), "at least 1 s"),
        ((np.zeros(3 * SR, np.float32), SR), "silent"),
        ((np.full(2 * SR, np.nan, np.float32), SR), "NaN"),
        ("/no/such/prompt.wav", "not found"),
        (voice(2.0), "sample rate"),
    ],
)
def test_bad_prompt_is_a_clear_error(synth, prompt, match):
    with pytest.raises(AudioError, match=match):
        synth.clone("Hello.", prompt, PROMPT_TEXT)


def test_unreadable_prompt_file(synth, tmp_path):
    bad = tmp_path / "prompt.wav"
    bad.write_text("this is not audio")
    with pytest.raises(AudioError, match="cannot read"):
        synth.clone("Hello.", bad, PROMPT_TEXT)


def test_empty_prompt_text_is_an_error(synth, prompt_wav):
    with pytest.raises(TextError, match="prompt_text is empty"):
        synth.clone("Hello.", prompt_wav, "   ")


def test_no_asr_backend_says_what_to_pass(synth, prompt_wav, monkeypatch):
    from echovox.eval.asr import PromptTranscriber

    monkeypatch.setattr(synth, "_asr", PromptTranscriber(backend=None))
    with pytest.raises(AsrUnavailableError, match="prompt_text="):
        synth.clone("Hello.", prompt_wav, prompt_text=None)


def test_prompt_text_none_uses_the_offline_asr(synth, monkeypatch):
    """prompt_text=None: Whisper (the packaged offline copy) hears the words of the prompt."""
    from echovox.eval.asr import PromptTranscriber

    monkeypatch.setattr(synth, "_asr", PromptTranscriber())
    assert synth.asr.backend == "whisper"
    said = "Bring the blue folder."
    vp = synth.prepare_prompt(mbrola_speech(said), prompt_text=None, sample_rate=16_000)
    assert {"blue", "folder"} <= set(vp.text.lower().replace(".", "").split())
    assert vp.phoneme_ids


def test_device_auto_is_cpu_here(synth):
    import torch

    assert synth.device == ("cuda" if torch.cuda.is_available() else "cpu")


def test_concurrent_calls_are_safe_and_match_sequential_ones(synth, prompt_wav):
    from concurrent.futures import ThreadPoolExecutor

    s = synth.default_settings(seed=5)
    texts = ["One here.", "Two there.", "Three everywhere.", "Four."]
    expected = [synth.clone(t, prompt_wav, PROMPT_TEXT, settings=s).waveform for t in texts]
    with ThreadPoolExecutor(4) as pool:
        got = list(
            pool.map(lambda t: synth.clone(t, prompt_wav, PROMPT_TEXT, settings=s).waveform, texts)
        )
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)


def test_half_weight_decoding(tiny_model_dir, prompt_wav):
    from echovox.app.synthesizer import Synthesizer

    tts = Synthesizer.from_pretrained(tiny_model_dir, device="cpu", half_weights=True)
    audio = tts.clone("Half precision decode.", prompt_wav, PROMPT_TEXT)
    assert audio.waveform.dtype == np.float32 and audio.duration > 0
    assert np.isfinite(audio.waveform).all()


def test_bf16_autocast_runs_the_nar_and_decoder_in_bfloat16(tiny_model_dir, prompt_wav):
    """bf16 changes only the NAR and the codec decoder: the AR's first codebook, and so the
    length, stay the same, the audio moves by bfloat16 rounding. Unset, it follows the CPU."""
    import torch

    from echovox.app.synthesizer import Synthesizer, native_cpu_bf16

    assert isinstance(native_cpu_bf16(), bool)
    assert Synthesizer.from_pretrained(tiny_model_dir, device="cpu").bf16 is native_cpu_bf16()
    off = Synthesizer.from_pretrained(tiny_model_dir, device="cpu", bf16=False)
    on = Synthesizer.from_pretrained(tiny_model_dir, device="cpu", bf16=True)
    seen = []
    forward = on.nar.forward

    def spy(*args, **kwargs):
        seen.append(torch.is_autocast_enabled("cpu"))
        return forward(*args, **kwargs)

    on.nar.forward = spy
    s = off.default_settings(seed=3)
    a = off.clone("Brown bread, please.", prompt_wav, PROMPT_TEXT, settings=s)
    b = on.clone("Brown bread, please.", prompt_wav, PROMPT_TEXT, settings=s)
    assert seen and all(seen) and not torch.is_autocast_enabled("cpu")
    assert b.waveform.dtype == np.float32 and np.isfinite(b.waveform).all()
    assert a.waveform.shape == b.waveform.shape and not np.array_equal(a.waveform, b.waveform)


def test_half_weights_default_follows_the_stored_weights(tiny_model_dir, prompt_wav, tmp_path):
    """Unset, half_weights is on for a CPU exactly when the AR's weights are stored float16:
    then its float16 decode copies are the stored weights, bit for bit."""
    import torch
    from model_helpers import build_tiny_model
    from safetensors.torch import load_file

    from echovox.app.synthesizer import Synthesizer
    from echovox.model_dir import AR_WEIGHTS

    assert Synthesizer.from_pretrained(tiny_model_dir, device="cpu").half_weights is False
    f16 = build_tiny_model(tmp_path / "f16", weights_dtype="float16")
    tts = Synthesizer.from_pretrained(f16, device="cpu")
    assert tts.model.ar_stored_half and tts.half_weights is True
    assert Synthesizer.from_pretrained(f16, device="cpu", half_weights=False).half_weights is False
    on = Synthesizer.from_pretrained(tiny_model_dir, device="cpu", half_weights=True)
    assert on.half_weights is True

    tts.ar.setup_caches(1, 8, half_weights=True)
    stored = load_file(str(f16 / AR_WEIGHTS))
    w, b = tts.ar._half[1][0]["qkv"]
    assert torch.equal(w, stored["blocks.0.attn.qkv.weight"].t())
    assert torch.equal(b, stored["blocks.0.attn.qkv.bias"])
    audio = tts.clone("Stored half, decoded half.", prompt_wav, PROMPT_TEXT)
    assert np.isfinite(audio.waveform).all() and audio.duration > 0


def test_batches_group_chunks_of_similar_length(synth, prompt_wav, monkeypatch):
    seen = []
    real = synth._generate

    def spy(prompts, chunk_ids, settings):
        seen.append([len(c) for c in chunk_ids])
        return real(prompts, chunk_ids, settings)

    monkeypatch.setattr(synth, "_generate", spy)
    monkeypatch.setattr(synth.config.text, "pack_sentences", False)  # one chunk a sentence
    text = (
        "A much longer sentence than the others in this text. Hi. Yes. And another long one here."
    )
    audio = synth.clone_many([CloneRequest(text, prompt_wav, PROMPT_TEXT)], batch_size=2)[0]
    assert len(audio.chunks) == 4
    flat = [n for batch in seen for n in batch]
    assert flat == sorted(flat) and [len(b) for b in seen] == [2, 2]
    # the output is still in the text's order
    assert audio.chunks[0].startswith("A much longer")


def test_expected_nar_decoding(tmp_path, prompt_wav):
    """nar_decoding "expected" decodes the mean residual vectors under the NAR's softmax: with
    an unsure (random) NAR it differs from decoding the picked codes, and once the NAR is
    certain (its heads scaled up until each softmax is one-hot) the two are the same."""
    import dataclasses

    import torch
    from model_helpers import build_tiny_model

    from echovox.app.synthesizer import Synthesizer

    tts = Synthesizer.from_pretrained(
        build_tiny_model(tmp_path / "m", nar_decoding="expected"), device="cpu", bf16=False
    )
    assert tts.config.nar_decoding == "expected"
    codes_cfg = dataclasses.replace(tts.config, nar_decoding="codes")

    def both():
        out = {}
        for name, cfg in (("expected", tts.config), ("codes", codes_cfg)):
            keep, tts.config = tts.config, cfg
            try:
                out[name] = tts.clone("Expected decoding.", prompt_wav, PROMPT_TEXT).waveform
            finally:
                tts.config = keep
        return out["expected"], out["codes"]

    expected, codes = both()
    assert np.isfinite(expected).all() and len(expected) == len(codes)
    assert not np.allclose(expected, codes, atol=1e-3)
    with torch.no_grad():
        tts.nar.heads.mul_(1e6)
    expected, codes = both()
    np.testing.assert_allclose(expected, codes, atol=1e-5)


@pytest.mark.parametrize("nar_decoding", ["codes", "expected"])
def test_voice_match_decodes_the_prompts_own_frames(tmp_path, prompt_wav, nar_decoding):
    """voice_match weight 1, k 1: every latent that reaches the decoder is one of the prompt's
    (its codes' latents); weight 0 decodes as before; a resynthesis has no prompt to match."""
    import dataclasses

    import torch
    from model_helpers import build_tiny_model

    from echovox.app.synthesizer import Synthesizer
    from echovox.model_dir import VoiceMatchConfig

    tts = Synthesizer.from_pretrained(
        build_tiny_model(
            tmp_path / "m",
            nar_decoding=nar_decoding,
            voice_match=VoiceMatchConfig(weight=1.0, k=1),
        ),
        device="cpu",
        bf16=False,
    )
    assert tts.config.voice_match == VoiceMatchConfig(weight=1.0, k=1)
    seen = []
    decode_latent = tts.codec.decode_latent

    def spy(latent):
        seen.append(latent.clone())
        return decode_latent(latent)

    tts.codec.decode_latent = spy
    voice = tts.prepare_prompt(prompt_wav, PROMPT_TEXT)
    matched = tts.clone("Match the voice.", voice).waveform
    prompt_latent = tts.codec.codes_latent(voice.codes[None])[0].T  # [P, D]
    frames = seen[-1][0].T  # [T, D]
    assert len(frames) > 0
    distance = torch.cdist(frames, prompt_latent).min(1).values
    assert float(distance.max()) < 1e-4

    plain = dataclasses.replace(tts.config, voice_match=VoiceMatchConfig())
    keep, tts.config = tts.config, plain
    try:
        unmatched = tts.clone("Match the voice.", voice).waveform
    finally:
        tts.config = keep
    assert len(unmatched) == len(matched) and not np.allclose(unmatched, matched, atol=1e-3)

    n = len(seen)
    tts.resynthesize(voice.waveform, tts.sample_rate)  # plain decoding: nothing matched
    assert len(seen) == n


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_latent_contrast_scales_each_channels_deviation_before_voice_matching(
    tmp_path, prompt_wav, weight
):
    """latent_contrast c: the latent that reaches the decoder is the plain latent's per-channel
    mean plus c times its deviation, then voice-matched when voice_match is on; synthesis
    decodes through it even with voice matching off; a resynthesis is left alone."""
    import dataclasses

    import torch
    from model_helpers import build_tiny_model

    from echovox.app.synthesizer import Synthesizer
    from echovox.codec.matching import match_latents
    from echovox.model_dir import VoiceMatchConfig

    tts = Synthesizer.from_pretrained(
        build_tiny_model(
            tmp_path / "m",
            nar_decoding="expected",
            voice_match=VoiceMatchConfig(weight=weight, k=2),
            latent_contrast=1.5,
        ),
        device="cpu",
        bf16=False,
    )
    assert tts.config.latent_contrast == 1.5
    voice = tts.prepare_prompt(prompt_wav, PROMPT_TEXT)
    q, k = tts.codec.n_codebooks, tts.codec.codebook_size
    probs = torch.randn(q, 30, k, generator=torch.Generator().manual_seed(0)).softmax(-1)
    contrasted = tts.output_latent(probs, voice.codes, expected=True)
    plain = tts.codec.expected_latent(probs[None])
    mean = plain.mean(2, keepdim=True)
    expect = mean + 1.5 * (plain - mean)
    if weight > 0:
        expect = match_latents(expect, tts.codec.codes_latent(voice.codes[None]), 2, weight)
    torch.testing.assert_close(contrasted, expect)
    assert not torch.allclose(contrasted, plain, atol=1e-3)

    seen = []
    output_latent = tts.output_latent

    def spy(*args, **kwargs):
        seen.append(1)
        return output_latent(*args, **kwargs)

    tts.output_latent = spy
    tts.clone("Contrast.", voice)
    assert len(seen) == 1  # through the latent path, voice matching on or off
    tts.resynthesize(voice.waveform, tts.sample_rate)
    assert len(seen) == 1  # a resynthesis decodes its codes as they are
    keep = tts.config
    tts.config = dataclasses.replace(keep, latent_contrast=1.0, voice_match=VoiceMatchConfig())
    try:
        tts.clone("Contrast.", voice)
    finally:
        tts.config = keep
    assert len(seen) == 1  # contrast 1 and no matching: the plain decode


def test_spectral_match_moves_the_outputs_spectrum_towards_the_prompts(tmp_path, prompt_wav):
    """spectral_match (frame matching 0.5, then the equaliser at weight 1): each chunk's
    long-term spectrum ends nearer the prompt's than without it (averaged over the bands), at
    the same length and about the same level; the true-first-codebook completion that
    `echovox eval` scores goes through it too."""
    import dataclasses

    import torch
    from model_helpers import build_tiny_model

    from echovox.app.synthesizer import Synthesizer
    from echovox.codec.losses import mel_filterbank
    from echovox.codec.matching import _stft_frame, long_term_spectrum
    from echovox.model_dir import SpectralMatchConfig

    match = SpectralMatchConfig(weight=1.0, frame_weight=0.5, bands=16, max_db=80.0)
    tts = Synthesizer.from_pretrained(
        build_tiny_model(tmp_path / "m", spectral_match=match), device="cpu", bf16=False
    )
    assert tts.config.spectral_match == match
    voice = tts.prepare_prompt(prompt_wav, PROMPT_TEXT)
    settings = tts.default_settings(seed=3)
    recording = voice.waveform[: tts.sample_rate]  # 1 s: it and the prompt fit the NAR
    matched = tts.clone("Match the spectrum.", voice, settings=settings).waveform
    keep = tts.config
    tts.config = dataclasses.replace(keep, spectral_match=SpectralMatchConfig())
    try:
        plain = tts.clone("Match the spectrum.", voice, settings=settings).waveform
        plain_tf = tts.complete_first_codebook(recording, tts.sample_rate, PROMPT_TEXT, voice)
    finally:
        tts.config = keep
    matched_tf = tts.complete_first_codebook(recording, tts.sample_rate, PROMPT_TEXT, voice)
    assert len(matched) == len(plain) and not np.allclose(matched, plain, atol=1e-3)
    assert len(matched_tf) == len(plain_tf) and not np.allclose(matched_tf, plain_tf, atol=1e-3)

    fb = mel_filterbank(_stft_frame(tts.sample_rate), match.bands, tts.sample_rate, norm=None)

    def bands(w):  # the long-term spectrum in dB, averaged over the filter's mel bands
        db = long_term_spectrum(torch.from_numpy(np.ascontiguousarray(w)), tts.sample_rate)
        return (db @ fb) / fb.sum(0)

    target = bands(voice.waveform)
    for before, after in ((plain, matched), (plain_tf, matched_tf)):
        # the shape of the spectrum (level removed, as the filter keeps the level)
        gap = lambda w: (bands(w) - target) - (bands(w) - target).mean()  # noqa: E731
        assert float(gap(after).abs().mean()) < 0.75 * float(gap(before).abs().mean())
        rms = lambda w: float(np.sqrt(np.mean(np.square(w))))  # noqa: E731
        # the level is kept, but for peaks clipped at full scale (this untrained model is loud)
        assert rms(after) == pytest.approx(rms(before), rel=0.15)


def test_complete_first_codebook_is_the_references_q1_through_the_nar(synth, prompt_wav):
    """What a perfect AR would give: the recording's own first codebook, codebooks 2..Q from
    the NAR (conditioned on the prompt and the text), decoded the model's way."""
    import torch

    from echovox.lm.generate import generate_nar

    ref = voice(1.5, seed=3)
    text = "The reference says this."
    got = synth.complete_first_codebook(ref, SR, text, prompt_wav, PROMPT_TEXT)
    assert got.dtype == np.float32 and len(got) == len(ref) and np.isfinite(got).all()

    vp = synth.prepare_prompt(prompt_wav, PROMPT_TEXT)
    sep = synth.frontend.symbols.id("_")
    phonemes = torch.tensor([*vp.phoneme_ids, sep, *synth.frontend.ids(text)])
    first = synth.codec.encode(torch.from_numpy(ref)[None, None], n_q=1)[0, 0]
    codes = generate_nar(synth.nar, [phonemes], [vp.codes], [first], seed=synth.settings.seed)
    want = synth._decode(codes[0])[: len(ref)]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_complete_first_codebook_rejects_bad_input(synth, prompt_wav):
    with pytest.raises(AudioError, match="finite"):
        synth.complete_first_codebook(np.full(800, np.nan, np.float32), SR, "Hi.", prompt_wav, "x")
    with pytest.raises(AudioError, match="frames"):
        synth.complete_first_codebook(voice(8.0), SR, "Hi.", prompt_wav, PROMPT_TEXT)
    with pytest.raises(TextError):
        synth.complete_first_codebook(voice(1.0), SR, "   ", prompt_wav, PROMPT_TEXT)


def test_prompt_guidance_reaches_the_ar(synth, prompt_wav, monkeypatch):
    """The setting travels to generate_ar with the prompt's phoneme count, which the
    unconditional branch needs to drop the prompt's text (tests/lm checks the guidance)."""
    import echovox.lm.generate as generate

    calls = []
    original = generate.generate_ar

    def recording(model, phonemes, prompt_codes, settings, **kwargs):  # imported at call time
        calls.append((settings.cfg_scale, kwargs["n_prompt_phonemes"], phonemes))
        return original(model, phonemes, prompt_codes, settings, **kwargs)

    monkeypatch.setattr(generate, "generate_ar", recording)
    s = synth.default_settings(cfg_scale=2.0)
    synth.clone("A short test.", prompt_wav, PROMPT_TEXT, settings=s)
    ((scale, n_prompt, phonemes),) = calls
    assert scale == 2.0
    assert 0 < n_prompt[0] < len(phonemes[0])
