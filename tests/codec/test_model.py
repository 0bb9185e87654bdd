from __future__ import annotations

import numpy as np
import pytest
import torch

from echovox.audio import AudioError
from echovox.checkpoint import CheckpointError, write_json
from echovox.codec import Codec, CodecConfig, RVQCodec


@pytest.mark.parametrize("causal", [False, True])
def test_shapes_and_dtypes(causal):
    torch.manual_seed(0)
    codec = RVQCodec(CodecConfig.from_name("tiny", causal=causal)).eval()
    hop = codec.hop_length
    assert hop == 32 and codec.frame_rate == 250.0
    for length in (1, hop, 1000, 1001):
        wav = torch.randn(2, 1, length) * 0.1
        codes = codec.encode(wav)
        assert codes.dtype == torch.long
        assert codes.shape == (2, codec.n_codebooks, -(-length // hop))
        assert int(codes.min()) >= 0 and int(codes.max()) < codec.codebook_size
        out = codec.decode(codes)
        assert out.dtype == torch.float32
        assert out.shape == (2, 1, codes.shape[-1] * hop)
    codec.train()
    res = codec(torch.randn(3, 1, 1001) * 0.1)
    assert res.audio.shape == (3, 1, 1001)
    assert res.codes.shape == (3, codec.n_codebooks, 32)
    assert res.commitment_loss.dim() == 0 and res.n_q.shape == (3,)


def test_causal_encoder_ignores_the_future():
    torch.manual_seed(0)
    codec = RVQCodec(CodecConfig.from_name("tiny", causal=True)).eval()
    wav = torch.randn(1, 1, 1024) * 0.1
    changed = wav.clone()
    changed[..., 512:] = torch.randn(512) * 0.1
    with torch.no_grad():
        a, b = codec.encoder(wav), codec.encoder(changed)
    assert torch.equal(a[..., :16], b[..., :16])
    assert not torch.equal(a[..., 16:], b[..., 16:])


def test_chunked_encoding_is_seamless(tiny_codec):
    wav = torch.randn(1, 1, 8000 * 3) * 0.1
    full = tiny_codec._encode_frames(wav, tiny_codec.n_codebooks)
    # tiny preset: 1 s chunks with 0.25 s of context, far wider than the encoder's receptive
    # field, so every frame sees exactly the samples it sees in one pass
    chunked = tiny_codec.encode(wav)
    assert chunked.shape == full.shape
    assert torch.equal(chunked, full)
    # and the chunked path really ran: 3 chunks were needed
    assert wav.shape[-1] > tiny_codec.chunk_seconds * tiny_codec.sample_rate


def test_encode_audio_resamples_and_mixes(tiny_codec):
    sr = 44100
    t = np.arange(sr) / sr
    stereo = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], 1) * 0.3
    codes = tiny_codec.encode_audio(stereo.astype(np.float32), sr)
    # 1 s at 8 kHz -> 250 frames; had it not resampled, 44100 samples would give 1379 frames
    assert codes.shape == (1, tiny_codec.n_codebooks, 250)
    mono = tiny_codec.encode_audio(stereo.mean(1).astype(np.float32), sr)
    assert torch.equal(codes, mono)


def test_bad_input_is_rejected_clearly(tiny_codec):
    with pytest.raises(AudioError, match="NaN"):
        tiny_codec.encode(torch.full((1, 1, 100), float("nan")))
    with pytest.raises(AudioError, match="NaN"):
        tiny_codec.encode_audio(np.array([0.1, np.nan, 0.2], dtype=np.float32), 8000)
    with pytest.raises(ValueError, match=r"\[B, 1, S\]"):
        tiny_codec.encode(torch.zeros(1, 2, 100))
    with pytest.raises(ValueError, match="n_q"):
        tiny_codec.encode(torch.zeros(1, 1, 100), n_q=5)
    with pytest.raises(ValueError, match=r"\[0, 32\)"):
        tiny_codec.decode(torch.full((1, 2, 5), 32))
    with pytest.raises(ValueError, match="codebooks"):
        tiny_codec.decode(torch.zeros(1, 5, 5, dtype=torch.long))
    # clipping is repaired, not an error
    loud = np.full(800, 3.0, dtype=np.float32)
    assert tiny_codec.encode_audio(loud, 8000).shape[-1] == 25


def test_save_and_load_round_trip(tmp_path, tiny_codec):
    wav = torch.randn(1, 1, 2000) * 0.1
    tiny_codec.train()
    tiny_codec(wav)  # k-means init and EMA updates change the codebooks
    tiny_codec.eval()
    tiny_codec.save_pretrained(tmp_path / "ckpt")
    loaded = Codec.from_pretrained(tmp_path / "ckpt", device="cpu")
    assert isinstance(loaded, RVQCodec)
    assert loaded.config == tiny_codec.config
    codes = tiny_codec.encode(wav)
    assert torch.equal(loaded.encode(wav), codes)
    assert torch.allclose(loaded.decode(codes), tiny_codec.decode(codes))


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no codec checkpoint"):
        Codec.from_pretrained(tmp_path / "missing")
    write_json(tmp_path / "odd" / "config.json", {"model_type": "bert"})
    with pytest.raises(CheckpointError, match="no known codec"):
        Codec.from_pretrained(tmp_path / "odd")
    write_json(tmp_path / "bad" / "config.json", {"codec_type": "rvq", "config": {"nope": 1}})
    with pytest.raises(CheckpointError, match="nope"):
        Codec.from_pretrained(tmp_path / "bad")
    RVQCodec(CodecConfig.from_name("tiny")).save_pretrained(tmp_path / "other")
    write_json(
        tmp_path / "other" / "config.json",
        {"codec_type": "rvq", "config": CodecConfig.from_name("tiny", dim=8).to_dict()},
    )
    with pytest.raises(CheckpointError, match="do not match"):
        Codec.from_pretrained(tmp_path / "other")


def test_presets():
    enc = CodecConfig.from_name("encodec_24khz")
    assert enc.frame_rate == 75 and enc.n_codebooks == 32 and enc.codebook_size == 1024
    assert enc.bitrate(8) == 6000
    speech = CodecConfig.from_name("speech_16k")
    assert speech.sample_rate == 16000 and 25 <= speech.frame_rate <= 40
    with pytest.raises(ValueError, match="unknown codec preset"):
        CodecConfig.from_name("huge")
    assert CodecConfig.from_dict(enc.to_dict()) == enc


def test_decode_expected_of_one_hot_is_decode_and_of_a_mix_is_the_mean_vector(tiny_codec):
    g = torch.Generator().manual_seed(0)
    K, Q = tiny_codec.codebook_size, tiny_codec.n_codebooks
    codes = torch.randint(0, K, (2, Q, 9), generator=g)
    one_hot = torch.nn.functional.one_hot(codes, K).float()  # [B, Q, T, K]
    assert torch.allclose(tiny_codec.decode_expected(one_hot), tiny_codec.decode(codes), atol=1e-5)
    # fewer codebooks than the codec has, as decode allows
    assert torch.allclose(
        tiny_codec.decode_expected(one_hot[:, :2]), tiny_codec.decode(codes[:, :2]), atol=1e-5
    )
    # an even split between two codes of codebook 2 decodes the midpoint of their vectors
    mixed = one_hot[:, :2].clone()
    other = (codes[:, 1] + 1) % K
    mixed[:, 1] = 0.5 * mixed[:, 1] + 0.5 * torch.nn.functional.one_hot(other, K).float()
    books = tiny_codec.codebook_vectors()
    latent = books[0][codes[:, 0]] + 0.5 * (books[1][codes[:, 1]] + books[1][other])
    want = tiny_codec.decode_latent(latent.transpose(1, 2))
    assert torch.allclose(tiny_codec.decode_expected(mixed), want, atol=1e-5)
    assert not torch.allclose(want, tiny_codec.decode(codes[:, :2]), atol=1e-3)


def test_codes_latent_is_what_decode_decodes(tiny_codec):
    g = torch.Generator().manual_seed(2)
    codes = torch.randint(0, tiny_codec.codebook_size, (2, tiny_codec.n_codebooks, 6), generator=g)
    latent = tiny_codec.codes_latent(codes)
    assert latent.shape == (2, tiny_codec.config.dim, 6)
    assert torch.allclose(tiny_codec.decode_latent(latent), tiny_codec.decode(codes), atol=1e-5)
    with pytest.raises(ValueError, match="lie in"):
        tiny_codec.codes_latent(codes + tiny_codec.codebook_size)


def test_decode_expected_rejects_bad_distributions(tiny_codec):
    K, Q = tiny_codec.codebook_size, tiny_codec.n_codebooks
    with pytest.raises(ValueError, match=r"\[B, Q, T"):
        tiny_codec.decode_expected(torch.zeros(1, Q, 4, K + 1))
    with pytest.raises(ValueError, match="codebooks"):
        tiny_codec.decode_expected(torch.zeros(1, Q + 1, 4, K))
    bad = torch.full((1, Q, 4, K), 1.0 / K)
    bad[0, 1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        tiny_codec.decode_expected(bad)
