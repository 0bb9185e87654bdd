"""The frame-rate codec: shapes, framing, persistence, the Codec interface."""

from __future__ import annotations

import math

import pytest
import torch

from echovox.checkpoint import CheckpointError
from echovox.codec import Codec, FrameCodec, FrameCodecConfig
from echovox.codec.nn.spectral import LogMel, istft_same


@pytest.fixture
def tiny() -> FrameCodec:
    torch.manual_seed(0)
    return FrameCodec(FrameCodecConfig.from_name("tiny")).eval()


def test_istft_same_inverts_a_same_framed_stft():
    """Overlap-add of a signal's own windowed frames gives the signal back, T frames making
    exactly T * hop samples (the framing the head and the mel front end share)."""
    hop, n_fft = 160, 640
    x = torch.randn(2, 50 * hop)
    window = torch.hann_window(n_fft)
    pad = (n_fft - hop) // 2
    padded = torch.nn.functional.pad(x, (pad, n_fft - hop - pad))
    spec = torch.stft(padded, n_fft, hop, window=window, center=False, return_complex=True)
    assert spec.shape[-1] == 50
    y = istft_same(spec, hop, window)
    assert y.shape == x.shape
    # the first and last frames lack their neighbours' overlap; the inside is exact
    assert torch.allclose(y[:, n_fft:-n_fft], x[:, n_fft:-n_fft], atol=1e-4)


def test_log_mel_gives_one_frame_per_hop():
    mel = LogMel(16000, n_fft=640, hop=200, n_mels=40)
    out = mel(torch.randn(3, 1, 200 * 17) * 0.1)
    assert out.shape == (3, 40, 17) and torch.isfinite(out).all()
    assert float(mel(torch.zeros(1, 1, 2000)).max()) == pytest.approx(math.log(1e-5))


@pytest.mark.parametrize("samples", [1, 159, 160, 161, 3200])
def test_encode_decode_shapes(tiny, samples):
    hop = tiny.hop_length
    codes = tiny.encode(torch.randn(2, 1, samples) * 0.1)
    frames = math.ceil(samples / hop)
    assert codes.shape == (2, 4, frames) and codes.dtype == torch.long
    assert tiny.decode(codes).shape == (2, 1, frames * hop)
    assert tiny.encode(torch.randn(1, 1, samples) * 0.1, n_q=2).shape == (1, 2, frames)


def test_forward_trims_to_the_input_and_reports_the_quantiser(tiny):
    tiny.train()
    out = tiny(torch.randn(3, 1, 1000) * 0.1)
    assert out.audio.shape == (3, 1, 1000)
    assert out.codes.shape == (3, 4, 7) and out.commitment_loss.ndim == 0
    assert out.n_q.shape == (3,)


def test_chunked_encoding_matches_whole_encoding(tiny):
    """Audio longer than chunk_seconds is encoded in chunks with context on both sides; the
    tiny preset's receptive field fits in that context, so the codes are the same."""
    wav = torch.randn(1, 1, int(2.6 * 16000)) * 0.1
    chunked = tiny.encode(wav)
    tiny.chunk_seconds = 10.0
    assert torch.equal(chunked, tiny.encode(wav))


def test_expected_decoding_of_one_hot_rows_equals_decoding(tiny):
    codes = tiny.encode(torch.randn(1, 1, 1600) * 0.1)
    probs = torch.nn.functional.one_hot(codes, tiny.codebook_size).float()
    assert torch.allclose(tiny.decode_expected(probs), tiny.decode(codes), atol=1e-5)


def test_save_and_load_roundtrip(tiny, tmp_path):
    wav = torch.randn(1, 1, 4000) * 0.1
    tiny.save_pretrained(tmp_path / "fc", weights_dtype="float16")
    loaded = Codec.from_pretrained(tmp_path / "fc", device="cpu")
    assert isinstance(loaded, FrameCodec) and loaded.config == tiny.config
    assert loaded.encode(wav).shape == tiny.encode(wav).shape
    assert (loaded.bitrate(), loaded.frame_rate) == (tiny.bitrate(), 100.0)
    (tmp_path / "fc" / "model.safetensors").write_bytes(b"junk")
    with pytest.raises(CheckpointError):
        Codec.from_pretrained(tmp_path / "fc", device="cpu")


def test_config_checks_and_presets():
    c = FrameCodecConfig.from_name("speech_16k")
    assert (c.frame_rate, c.n_fft, c.bitrate()) == (40.0, 1600, 4800.0)
    with pytest.raises(ValueError, match="multiple of encoder_rate"):
        FrameCodecConfig(hop_length=401, encoder_rate=2)
    with pytest.raises(ValueError, match="unknown frame codec preset"):
        FrameCodecConfig.from_name("huge")
    with pytest.raises(ValueError, match="unknown frame codec config keys"):
        FrameCodecConfig.from_dict({"strides": [2, 4]})


def test_speech_16k_is_cheap_enough():
    """The default's size is what the speed target was measured on (benchmarks/codec_speed.py):
    about 5M parameters, every ConvNeXt block at the 40 Hz frame rate."""
    model = FrameCodec(FrameCodecConfig.from_name("speech_16k"))
    assert 4.5e6 < sum(p.numel() for p in model.parameters()) < 5.5e6
