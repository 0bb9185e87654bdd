from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from echovox.codec.cli import COMMANDS


@pytest.fixture
def tiny_ckpt(tmp_path, tiny_codec, audio_dir):
    tiny_codec.train()
    wav = torch.from_numpy(sf.read(str(audio_dir / "clip0.wav"), dtype="float32")[0])
    tiny_codec(wav[None, None, :8000])  # k-means init on real audio
    tiny_codec.eval()
    return tiny_codec.save_pretrained(tmp_path / "ckpt")


def test_encode_decode_commands(tmp_path, tiny_ckpt, audio_dir):
    src = audio_dir / "clip1.wav"  # 16 kHz file into an 8 kHz codec
    npz = COMMANDS["encode"](str(src), str(tmp_path / "c.npz"), model=str(tiny_ckpt), n_q=2)
    with np.load(npz, allow_pickle=False) as z:
        assert z["codes"].shape == (2, int(np.ceil(1.2 * 8000 / 32)))
        assert int(z["sample_rate"]) == 8000
    out = COMMANDS["decode"](npz, str(tmp_path / "out.wav"))
    wav, sr = sf.read(out)
    assert sr == 8000 and len(wav) == int(1.2 * 8000)


def test_decode_rejects_foreign_npz(tmp_path, tiny_ckpt):
    np.savez(tmp_path / "x.npz", other=np.zeros(3))
    with pytest.raises(ValueError, match="no 'codes'"):
        COMMANDS["decode"](str(tmp_path / "x.npz"), str(tmp_path / "o.wav"), model=str(tiny_ckpt))
    np.savez(tmp_path / "y.npz", codes=np.full((2, 5), 99))
    with pytest.raises(ValueError, match=r"\[0, 32\)"):
        COMMANDS["decode"](str(tmp_path / "y.npz"), str(tmp_path / "o.wav"), model=str(tiny_ckpt))
    assert not (tmp_path / "o.wav").exists()


def test_cli_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, echovox.codec.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_average_command(tmp_path, tiny_ckpt, capsys):
    """Checkpoint averaging: floating weights are the mean, a decoder-only difference keeps
    the tokens, and codecs that cannot be averaged are refused."""
    from echovox.codec.model import RVQCodec

    a = RVQCodec.load_directory(tiny_ckpt)
    b = RVQCodec.load_directory(tiny_ckpt)
    with torch.no_grad():
        for p in b.decoder.parameters():
            p.add_(1.0)
    b.save_pretrained(tmp_path / "b")
    out = COMMANDS["average"]([str(tiny_ckpt), str(tmp_path / "b")], str(tmp_path / "avg"))
    assert "parts that differed: decoder, so the tokens stay the same" in capsys.readouterr().out
    avg = RVQCodec.load_directory(out)
    for (name, x), y, z in zip(
        a.state_dict().items(), b.state_dict().values(), avg.state_dict().values()
    ):
        assert torch.allclose(z, (x + y) / 2) if x.is_floating_point() else torch.equal(z, x), name
    wav = torch.randn(1, 1, 800) * 0.1
    assert torch.equal(avg.encode(wav), a.encode(wav))

    with pytest.raises(ValueError, match="two or more"):
        COMMANDS["average"]([str(tiny_ckpt)], str(tmp_path / "x"))
    other = RVQCodec(a.config.__class__.from_dict({**a.config.to_dict(), "n_codebooks": 2}))
    other.save_pretrained(tmp_path / "other")
    with pytest.raises(ValueError, match="n_codebooks"):
        COMMANDS["average"]([str(tiny_ckpt), str(tmp_path / "other")], str(tmp_path / "x"))
    fresh = RVQCodec(a.config)  # codebooks never initialised: an integer buffer differs
    fresh.save_pretrained(tmp_path / "fresh")
    with pytest.raises(ValueError, match="initialized differs"):
        COMMANDS["average"]([str(tiny_ckpt), str(tmp_path / "fresh")], str(tmp_path / "x"))
    with pytest.raises(ValueError, match="weights_dtype"):
        COMMANDS["average"]([str(tiny_ckpt), str(tmp_path / "b")], str(tmp_path / "x"), "int8")
    assert not (tmp_path / "x").exists()

    # float16: about half the file, loaded back as float32, within float16's rounding
    half = COMMANDS["average"](
        [str(tiny_ckpt), str(tmp_path / "b")], str(tmp_path / "avg16"), weights_dtype="float16"
    )
    name = "model.safetensors"
    assert (Path(half) / name).stat().st_size < 0.6 * (Path(out) / name).stat().st_size
    for (key, x), y in zip(
        avg.state_dict().items(), RVQCodec.load_directory(half).state_dict().values()
    ):
        assert y.dtype == x.dtype, key
        if x.is_floating_point():
            torch.testing.assert_close(y, x, rtol=1e-3, atol=1e-4)


def test_export_keeps_the_first_codebooks_and_drops_derived_state(tmp_path, tiny_ckpt, capsys):
    """`codec export`: the first n codebooks code and decode as before; EMA running sums stay
    out of the file and come back on loading; float16 storage about halves it."""
    from safetensors.torch import load_file

    from echovox.codec.model import RVQCodec

    full = RVQCodec.load_directory(tiny_ckpt)
    out = COMMANDS["export"](str(tiny_ckpt), str(tmp_path / "two"), "float32", n_codebooks=2)
    assert "2 codebooks" in capsys.readouterr().out
    two = RVQCodec.load_directory(out)
    assert two.n_codebooks == two.config.n_codebooks == 2 < full.n_codebooks
    wav = torch.randn(1, 1, 1600) * 0.1
    codes = full.encode(wav, n_q=2)
    assert torch.equal(two.encode(wav), codes)
    assert torch.equal(two.decode(codes), full.decode(codes))
    stored = load_file(str(Path(out) / "model.safetensors"))
    assert not [k for k in stored if k.endswith("embed_sum")]
    for a, b in zip(full.quantizer.codebooks, two.quantizer.codebooks):
        assert torch.allclose(a.embed_sum, b.embed_sum, rtol=1e-5, atol=1e-6)
    # training goes on from the export as from the original: the EMA moves the same way
    x = torch.randn(64, a.embed.shape[1])
    idx = a.nearest(x)
    for book in (a, b):
        torch.manual_seed(0)  # dead-code restarts draw at random
        book.update(x, idx)
    assert torch.allclose(a.embed, b.embed, rtol=1e-5, atol=1e-6)

    half = COMMANDS["export"](str(tiny_ckpt), str(tmp_path / "half"))
    size = (Path(half) / "model.safetensors").stat().st_size
    assert size < 0.6 * (Path(tiny_ckpt) / "model.safetensors").stat().st_size
    with pytest.raises(ValueError, match="1..4"):
        COMMANDS["export"](str(tiny_ckpt), str(tmp_path / "x"), n_codebooks=9)
