"""The EnCodec adapter, tested on checkpoints the test writes (no network here)."""

from __future__ import annotations

import pytest
import torch

from echovox.checkpoint import CheckpointError
from echovox.codec import Codec, EncodecCodec


def tiny_encodec_dir(tmp_path, **kw):
    from transformers import EncodecConfig, EncodecModel

    torch.manual_seed(0)
    cfg = EncodecConfig(
        sampling_rate=8000,
        num_filters=4,
        hidden_size=16,
        upsampling_ratios=[4, 2],
        codebook_size=16,
        num_lstm_layers=1,
        target_bandwidths=[8.0, 16.0],  # 4 bit x 1000 Hz per codebook: 2 and 4 codebooks
        **kw,
    )
    model = EncodecModel(cfg).eval()
    # random codebooks: transformers initialises EnCodec's codebook buffers to zeros
    for layer in model.quantizer.layers:
        layer.codebook.embed.normal_()
    path = tmp_path / "encodec"
    model.save_pretrained(str(path))
    return path, model


def test_loads_transformers_directory_and_matches_reference(tmp_path):
    path, ref = tiny_encodec_dir(tmp_path)
    codec = Codec.from_pretrained(path, device="cpu")
    assert isinstance(codec, EncodecCodec)
    assert codec.sample_rate == 8000 and codec.frame_rate == 1000
    assert codec.codebook_size == 16
    n_all = codec.n_codebooks
    assert n_all == len(ref.quantizer.layers)
    wav = torch.randn(2, 1, 1000) * 0.1
    codes = codec.encode(wav, n_q=2)
    assert codes.shape == (2, 2, 125) and codes.dtype == torch.long
    # the reference path at the bandwidth that uses 2 codebooks (1000 Hz * 4 bits * 2)
    with torch.no_grad():
        ref_codes = ref.encode(wav, bandwidth=8.0).audio_codes[0]
        assert torch.equal(codes, ref_codes[:, :2])
        ref_audio = ref.decode(ref_codes[None, :, :2], [None]).audio_values
    assert torch.allclose(codec.decode(codes), ref_audio, atol=1e-5)
    # every codebook count works, not only the configured bandwidths
    for n in range(1, n_all + 1):
        assert codec.decode(codec.encode(wav, n_q=n)).shape == (2, 1, 1000)


def test_save_pretrained_round_trip(tmp_path):
    path, _ = tiny_encodec_dir(tmp_path)
    codec = Codec.from_pretrained(path, device="cpu")
    codec.save_pretrained(tmp_path / "again")
    again = Codec.from_pretrained(tmp_path / "again", device="cpu")
    wav = torch.randn(1, 1, 800) * 0.1
    assert torch.equal(codec.encode(wav), again.encode(wav))


def test_unsupported_and_missing(tmp_path):
    path, _ = tiny_encodec_dir(tmp_path, normalize=True)
    with pytest.raises(CheckpointError, match="normalize"):
        Codec.from_pretrained(path, device="cpu")
    with pytest.raises(CheckpointError):
        EncodecCodec.load(str(tmp_path / "nowhere" / "encodec"))


def test_decode_expected_of_one_hot_matches_decode(tmp_path):
    path, _ = tiny_encodec_dir(tmp_path)
    codec = Codec.from_pretrained(path, device="cpu")
    codes = codec.encode(torch.randn(1, 1, 800) * 0.1, n_q=3)
    probs = torch.nn.functional.one_hot(codes, codec.codebook_size).float()
    assert torch.allclose(codec.decode_expected(probs), codec.decode(codes), atol=1e-5)
    # voice matching decodes latents built from codes: the same audio as decode
    assert torch.allclose(
        codec.decode_latent(codec.codes_latent(codes)), codec.decode(codes), atol=1e-5
    )
