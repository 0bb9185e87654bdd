import pytest
import torch

from echovox.codec.matching import match_latents


def test_each_frame_moves_to_the_mean_of_its_nearest_reference_frames():
    # reference frames along three directions; a frame near direction 0 matches frame 0 (and,
    # with k=2, also frame 1, the next closest by cosine)
    ref = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 5.0]]).T[None]  # [1, D, P]
    latent = torch.tensor([[2.0, 0.1, 0.0], [0.0, 0.1, 1.0]]).T[None]  # [1, D, T=2]
    full = match_latents(latent, ref, k=1, weight=1.0)
    assert torch.allclose(full[0, :, 0], ref[0, :, 0])
    assert torch.allclose(full[0, :, 1], ref[0, :, 2])  # cosine, not distance: the long one
    half = match_latents(latent, ref, k=1, weight=0.5)
    assert torch.allclose(half, 0.5 * (latent + full))
    two = match_latents(latent, ref, k=2, weight=1.0)
    assert torch.allclose(two[0, :, 0], ref[0, :, :2].mean(1))


def test_weight_zero_and_empty_latent_leave_it_alone_and_k_is_capped():
    g = torch.Generator().manual_seed(0)
    latent, ref = torch.randn(2, 4, 7, generator=g), torch.randn(2, 4, 3, generator=g)
    assert torch.equal(match_latents(latent, ref, weight=0.0), latent)
    empty = latent[:, :, :0]
    assert match_latents(empty, ref).shape == (2, 4, 0)
    # k above the reference's length: every frame becomes the reference's mean frame
    out = match_latents(latent, ref, k=10, weight=1.0)
    assert torch.allclose(out, ref.mean(2, keepdim=True).expand_as(out), atol=1e-6)


def test_batch_items_match_their_own_reference():
    g = torch.Generator().manual_seed(1)
    latent, ref = torch.randn(2, 4, 5, generator=g), torch.randn(2, 4, 6, generator=g)
    both = match_latents(latent, ref, k=2, weight=0.7)
    for b in range(2):
        one = match_latents(latent[b : b + 1], ref[b : b + 1], k=2, weight=0.7)
        assert torch.allclose(both[b : b + 1], one)


@pytest.mark.parametrize(
    "latent, ref, kw, message",
    [
        (torch.zeros(4, 5), torch.zeros(1, 4, 3), {}, r"\[B, D, T\]"),
        (torch.zeros(1, 4, 5), torch.zeros(1, 3, 3), {}, "differ"),
        (torch.zeros(1, 4, 5), torch.zeros(1, 4, 0), {}, "no frames"),
        (torch.zeros(1, 4, 5), torch.zeros(1, 4, 3), {"k": 0}, "k must be"),
        (torch.zeros(1, 4, 5), torch.zeros(1, 4, 3), {"weight": 1.5}, "weight must be"),
    ],
)
def test_bad_arguments_are_named(latent, ref, kw, message):
    with pytest.raises(ValueError, match=message):
        match_latents(latent, ref, **kw)


# ------------------------------------------------------------------------- match_spectrum
SR = 16000


def _tone_mix(seconds: float, freqs_amps, seed: int = 0) -> torch.Tensor:
    """A voiced-like test signal: sines plus a little noise, [S] float32."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SR)) / SR
    x = sum(a * torch.sin(2 * torch.pi * f * t) for f, a in freqs_amps)
    return (x + 0.01 * torch.randn(t.shape, generator=g)).float()


def _band_db(wav: torch.Tensor, lo: float, hi: float) -> float:
    from echovox.codec.matching import _stft_frame, long_term_spectrum

    db = long_term_spectrum(wav, SR)
    freqs = torch.linspace(0, SR / 2, _stft_frame(SR) // 2 + 1)
    return float(db[(freqs >= lo) & (freqs < hi)].mean())


def test_match_spectrum_moves_the_long_term_spectrum_towards_the_reference():
    """An output with too much treble and a reference with more bass: the filter moves each
    region's level about `weight` of the way (in dB), and keeps the output's RMS."""
    from echovox.codec.matching import match_spectrum

    out = _tone_mix(2.0, [(200, 0.1), (3000, 0.3)])
    ref = _tone_mix(2.0, [(200, 0.3), (3000, 0.1)], seed=1)
    gap = _band_db(ref, 150, 250) - _band_db(out, 150, 250)
    assert gap > 8  # 3x the bass (9.5 dB), and a third of the treble
    full = match_spectrum(out, ref, SR, weight=1.0, bands=64, max_db=30.0)
    half = match_spectrum(out, ref, SR, weight=0.5, bands=64, max_db=30.0)
    assert full.shape == out.shape and torch.isfinite(full).all()

    def tilt(w):  # bass minus treble, dB
        return _band_db(w, 150, 250) - _band_db(w, 2900, 3100)

    assert abs(tilt(full) - tilt(ref)) < 3.0
    assert abs(tilt(half) - 0.5 * (tilt(out) + tilt(ref))) < 3.0
    rms = lambda w: float(w.square().mean().sqrt())  # noqa: E731
    assert rms(full) == pytest.approx(rms(out), rel=1e-4)


def test_match_spectrum_caps_the_gain_and_leaves_silence_short_input_and_weight_zero_alone():
    from echovox.codec.matching import match_spectrum

    out = _tone_mix(1.0, [(200, 0.1), (3000, 0.3)])
    ref = _tone_mix(1.0, [(200, 0.3), (3000, 0.001)], seed=1)  # 50 dB less treble
    capped = match_spectrum(out, ref, SR, weight=1.0, max_db=6.0)
    # the treble is cut by at most 6 dB (plus what the level correction gives back)
    tilt_in = _band_db(out, 150, 250) - _band_db(out, 2900, 3100)
    tilt_out = _band_db(capped, 150, 250) - _band_db(capped, 2900, 3100)
    assert tilt_out - tilt_in == pytest.approx(12.0, abs=1.5)
    assert torch.equal(match_spectrum(out, ref, SR, weight=0.0), out)
    assert torch.equal(match_spectrum(out, torch.zeros(SR), SR), out)  # silent reference
    assert torch.equal(match_spectrum(torch.zeros(SR), ref, SR), torch.zeros(SR))
    short = out[:100]  # under one ~32 ms window
    assert torch.equal(match_spectrum(short, ref, SR), short)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"weight": 1.5}, "weight"),
        ({"frame_weight": -0.1}, "frame_weight"),
        ({"frame_weight": 0.5, "k": 0}, "k must be"),
        ({"bands": 1}, "bands"),
        ({"max_db": 0.0}, "max_db"),
    ],
)
def test_match_spectrum_bad_arguments_are_named(kw, message):
    from echovox.codec.matching import match_spectrum

    x = _tone_mix(0.5, [(200, 0.1)])
    with pytest.raises(ValueError, match=message):
        match_spectrum(x, x, SR, **kw)
    with pytest.raises(ValueError, match="1-D"):
        match_spectrum(x[None], x, SR)
    bad = x.clone()
    bad[10] = float("nan")
    with pytest.raises(ValueError, match="reference holds NaN"):
        match_spectrum(x, bad, SR)
    with pytest.raises(ValueError, match="wav holds NaN"):
        match_spectrum(bad.clone().fill_(float("inf")), x, SR)


def _level_db(wav: torch.Tensor, freq: float) -> float:
    """The level of `freq` in wav's long-term spectrum, dB."""
    from echovox.codec.matching import _stft_frame, long_term_spectrum

    db = long_term_spectrum(wav, SR)
    return float(db[round(freq / (SR / 2) * (_stft_frame(SR) // 2))])


def test_frame_matching_takes_each_sounds_envelope_from_the_reference_frames_like_it():
    """Two sounds whose treble the reference has in opposite directions: 20 dB more in one,
    20 dB less in the other. A fixed equaliser cannot follow both; frame matching (k 1, weight
    1) moves each sound's treble to what the reference's version of that sound has, and a
    pause in the output stays silent."""
    from echovox.codec.matching import match_spectrum

    a = _tone_mix(0.6, [(300, 0.3), (2000, 0.03)])
    b = _tone_mix(0.6, [(1000, 0.3), (4000, 0.03)], seed=2)
    out = torch.cat([a, torch.zeros(SR // 2), b])
    ref_a = _tone_mix(0.6, [(300, 0.3), (2000, 0.3)], seed=3)  # the first sound, brighter
    ref_b = _tone_mix(0.6, [(1000, 0.3), (4000, 0.003)], seed=4)  # the second, duller
    ref = torch.cat([ref_a, ref_b])
    got = match_spectrum(out, ref, SR, weight=0.0, frame_weight=1.0, k=1, max_db=30.0)
    n = len(a)
    mid = slice(n // 4, 3 * n // 4)  # away from the edges, where frames straddle a boundary
    got_a, got_b = got[:n][mid], got[-n:][mid]

    def treble(w, lo, hi):  # treble relative to the sound's main tone, dB
        return _level_db(w, hi) - _level_db(w, lo)

    assert treble(a[mid], 300, 2000) == pytest.approx(-20, abs=2)
    assert treble(ref_a[mid], 300, 2000) == pytest.approx(0, abs=2)
    # within 5 dB of the reference's after a 20 dB move (each band's gain is its mean, and the
    # noise floor shares the band with the tone)
    assert treble(got_a, 300, 2000) == pytest.approx(treble(ref_a[mid], 300, 2000), abs=5)
    assert treble(b[mid], 1000, 4000) == pytest.approx(-20, abs=2)
    assert treble(ref_b[mid], 1000, 4000) < -30
    assert treble(got_b, 1000, 4000) == pytest.approx(treble(ref_b[mid], 1000, 4000), abs=5)
    gap = got[n + SR // 8 : n + 3 * SR // 8]
    assert float(gap.abs().max()) < 1e-3  # the pause is not filled from the reference
    # weight 0.5 on the frames goes about half the way (in dB)
    half = match_spectrum(out, ref, SR, weight=0.0, frame_weight=0.5, k=1, max_db=30.0)
    assert treble(half[:n][mid], 300, 2000) == pytest.approx(-10, abs=4)
