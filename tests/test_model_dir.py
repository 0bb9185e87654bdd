import json

import pytest
import torch
from model_helpers import build_tiny_model

from echovox import model_dir as ck
from echovox.model_dir import CheckpointError, assemble_model_dir, load_model_dir


def test_model_dir_holds_every_file_and_round_trips(tiny_model_dir):
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert set(ck.REQUIRED_FILES) | {ck.CARD_NAME} <= names
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    assert cfg["format"] == ck.FORMAT and cfg["echovox_version"]
    assert {"codec", "ar", "nar", "text", "prompt", "sampling"} <= set(cfg)
    assert cfg["prompt"]["seconds"] == 3.0
    loaded = load_model_dir(tiny_model_dir)
    ar_state = loaded.ar.state_dict()
    from safetensors.torch import load_file

    saved = load_file(str(tiny_model_dir / "ar.safetensors"))
    assert all(torch.equal(ar_state[k], v) for k, v in saved.items())
    assert "VALL-E" in (tiny_model_dir / "README.md").read_text()


@pytest.mark.parametrize("name", ck.REQUIRED_FILES)
def test_missing_file_is_named(tmp_path, name):
    d = build_tiny_model(tmp_path / "m")
    (d / name).unlink()
    with pytest.raises(CheckpointError, match=name):
        load_model_dir(d)


def test_mismatched_weights_name_the_file(tmp_path):
    d = build_tiny_model(tmp_path / "m")
    other = build_tiny_model(tmp_path / "o")
    # AR weights of a model with another width
    from echovox.checkpoint import save_weights
    from echovox.lm.ar import ARModel
    from echovox.lm.config import ARConfig

    cfg = json.loads((other / "config.json").read_text())["ar"]
    cfg.update(d_model=32, d_ffn=64)
    save_weights(ARModel(ARConfig.from_dict(cfg)), d / "ar.safetensors")
    with pytest.raises(CheckpointError, match="ar.safetensors"):
        load_model_dir(d)


def test_corrupt_weights_name_the_file(tmp_path):
    d = build_tiny_model(tmp_path / "m")
    (d / "codec.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="codec.safetensors"):
        load_model_dir(d)


def test_wrong_format_and_bad_config_are_named(tmp_path):
    d = build_tiny_model(tmp_path / "m")
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "format": "something-else"}))
    with pytest.raises(CheckpointError, match="config.json.*format"):
        load_model_dir(d)
    bad_ar = {**cfg, "ar": {**cfg["ar"], "n_heads": 3}}  # d_model 64 not divisible by 3
    (d / "config.json").write_text(json.dumps(bad_ar))
    with pytest.raises(CheckpointError, match="config.json"):
        load_model_dir(d)
    (d / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json"):
        load_model_dir(d)


def test_symbol_table_that_does_not_fit_the_lm_is_rejected(tmp_path):
    from echovox.text import SymbolTable

    d = build_tiny_model(tmp_path / "m")
    SymbolTable.default().extended(["new-symbol"]).save(d / "symbols.json")
    with pytest.raises(CheckpointError, match="symbol table"):
        load_model_dir(d)


def test_codec_that_does_not_fit_the_lm_is_rejected(tmp_path):
    d = build_tiny_model(tmp_path / "m")
    cfg = json.loads((d / "config.json").read_text())
    cfg["codec"]["codebook_size"] = 64
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="codebook size"):
        load_model_dir(d)


def test_missing_directory_and_embedded_model_give_clear_errors(tmp_path, monkeypatch):
    from echovox.app import synthesizer

    with pytest.raises(CheckpointError, match="not found"):
        load_model_dir(tmp_path / "nope")
    monkeypatch.setattr(synthesizer, "EMBEDDED_MODEL_DIR", tmp_path / "pretrained" / "x")
    with pytest.raises(CheckpointError, match="embedded default model is not in this install"):
        synthesizer.Synthesizer.from_pretrained()


def test_embedded_model_loads_when_present(tmp_path, monkeypatch):
    from echovox.app import synthesizer

    d = build_tiny_model(tmp_path / "pretrained" / "echovox-tiny")
    monkeypatch.setattr(synthesizer, "EMBEDDED_MODEL_DIR", d)
    tts = synthesizer.Synthesizer.from_pretrained(device="cpu")
    assert tts.sample_rate == 8000


def _lm_layouts(tmp_path, loaded):
    """Write the AR/NAR in the three accepted training layouts."""
    from safetensors.torch import save_file

    out = {}
    for kind, model in (("ar", loaded.ar), ("nar", loaded.nar)):
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        d = tmp_path / f"{kind}_dir"
        d.mkdir()
        save_file(state, str(d / "model.safetensors"))
        # the layout lm/ exports: {"kind": ..., "config": ...} plus the symbol table
        meta = {"kind": kind, "config": model.config.to_dict()}
        (d / "config.json").write_text(json.dumps(meta))
        loaded.symbols.save(d / "symbols.json")
        ckpt = tmp_path / f"{kind}.ckpt"
        torch.save(
            {
                "state_dict": {f"model.{k}": v for k, v in state.items()},
                "hyper_parameters": {"model_config": model.config.to_dict()},
            },
            ckpt,
        )
        out[kind] = (d, d / "model.safetensors", ckpt)
    return out


def _assemble_inputs(tmp_path, tiny_model_dir) -> dict:
    """codec, ar and nar arguments of assemble_model_dir, written from the tiny model (the LMs
    in the directory layout)."""
    loaded = load_model_dir(tiny_model_dir)
    codec_dir = loaded.codec.save_pretrained(tmp_path / "codec")
    lms = _lm_layouts(tmp_path, loaded)
    return dict(codec=codec_dir, ar=lms["ar"][0], nar=lms["nar"][0])


@pytest.mark.parametrize("layout", [0, 1, 2], ids=["dir", "safetensors", "lightning_ckpt"])
def test_assemble_from_training_outputs(tmp_path, tiny_model_dir, layout):
    loaded = load_model_dir(tiny_model_dir)
    codec_dir = loaded.codec.save_pretrained(tmp_path / "codec")
    lms = _lm_layouts(tmp_path, loaded)
    out = assemble_model_dir(
        tmp_path / "assembled",
        codec=codec_dir,
        ar=lms["ar"][layout],
        nar=lms["nar"][layout],
        settings=ck.ModelSettings(name="unit-test"),
    )
    again = load_model_dir(out)
    assert again.config.name == "unit-test"
    for a, b in ((again.ar, loaded.ar), (again.nar, loaded.nar), (again.codec, loaded.codec)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_assemble_errors_name_the_input(tmp_path, tiny_model_dir):
    loaded = load_model_dir(tiny_model_dir)
    codec_dir = loaded.codec.save_pretrained(tmp_path / "codec")
    lms = _lm_layouts(tmp_path, loaded)
    with pytest.raises(CheckpointError, match="AR checkpoint not found"):
        assemble_model_dir(tmp_path / "x", codec=codec_dir, ar=tmp_path / "no", nar=lms["nar"][0])
    # the AR's export handed over as the NAR
    with pytest.raises(CheckpointError, match="AR checkpoint, given as the NAR"):
        assemble_model_dir(tmp_path / "x", codec=codec_dir, ar=lms["ar"][0], nar=lms["ar"][0])
    # the AR's weights handed over as the NAR, without a kind to tell them apart
    with pytest.raises(CheckpointError, match="ar.ckpt"):
        assemble_model_dir(tmp_path / "x", codec=codec_dir, ar=lms["ar"][2], nar=lms["ar"][2])
    # LM exports trained with different symbol tables
    from echovox.text import SymbolTable

    SymbolTable.default().extended(["zz"]).save(lms["nar"][0] / "symbols.json")
    with pytest.raises(CheckpointError, match="different symbol tables"):
        assemble_model_dir(tmp_path / "x", codec=codec_dir, ar=lms["ar"][0], nar=lms["nar"][0])


def test_assemble_from_lm_exports(tmp_path, tiny_model_dir):
    """The layout lm/ training exports (echovox.lm.checkpoint.save_pretrained)."""
    lm_ckpt = pytest.importorskip("echovox.lm.checkpoint")
    loaded = load_model_dir(tiny_model_dir)
    codec_dir = loaded.codec.save_pretrained(tmp_path / "codec")
    ar = lm_ckpt.save_pretrained(loaded.ar, tmp_path / "ar", symbols=loaded.symbols)
    nar = lm_ckpt.save_pretrained(loaded.nar, tmp_path / "nar", symbols=loaded.symbols)
    out = assemble_model_dir(tmp_path / "model", codec=codec_dir, ar=ar, nar=nar)
    again = load_model_dir(out)
    assert again.symbols == loaded.symbols
    sa, sb = again.nar.state_dict(), loaded.nar.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sb)


def test_float16_model_dir_is_half_the_size_and_loads_as_float32(tmp_path):
    full = build_tiny_model(tmp_path / "f32")
    half = build_tiny_model(tmp_path / "f16", weights_dtype="float16")
    for name in (ck.CODEC_WEIGHTS, ck.AR_WEIGHTS, ck.NAR_WEIGHTS):
        assert (half / name).stat().st_size < 0.6 * (full / name).stat().st_size
    a, b = load_model_dir(full), load_model_dir(half)
    for part in ("codec", "ar", "nar"):
        sa, sb = getattr(a, part).state_dict(), getattr(b, part).state_dict()
        for k, v in sa.items():
            assert sb[k].dtype == v.dtype  # cast back to the module's own type
            if v.is_floating_point():
                torch.testing.assert_close(sb[k], v, rtol=1e-3, atol=1e-4)
            else:
                assert torch.equal(sb[k], v)
    with pytest.raises(ValueError, match="weights_dtype"):
        build_tiny_model(tmp_path / "bad", weights_dtype="int8")


def test_float16_keeps_tensors_that_would_overflow(tmp_path):
    from safetensors.torch import load_file

    from echovox.checkpoint import save_weights

    m = torch.nn.Linear(2, 2)
    m.register_buffer("big", torch.tensor([1e6, 1.0]))
    save_weights(m, tmp_path / "w.safetensors", dtype=torch.float16)
    state = load_file(str(tmp_path / "w.safetensors"))
    assert state["weight"].dtype == torch.float16 and state["big"].dtype == torch.float32


def test_assemble_from_lmtask_checkpoints(tmp_path, tiny_model_dir):
    """A Lightning checkpoint of echovox.lm's LMTask keeps only the preset, overrides and symbol
    table name in its hyperparameters; the model config is rebuilt from them."""
    from echovox.lm.lightning import LMTask

    loaded = load_model_dir(tiny_model_dir)
    over = dict(
        n_codebooks=loaded.codec.n_codebooks,
        codebook_size=loaded.codec.codebook_size,
        max_frames=1200,
    )
    ckpts = {}
    for kind in ("ar", "nar"):
        task = LMTask(kind=kind, preset="tiny", model_overrides=over, symbol_table="default")
        ckpts[kind] = tmp_path / f"{kind}.ckpt"
        torch.save(
            {"state_dict": task.state_dict(), "hyper_parameters": dict(task.hparams)},
            ckpts[kind],
        )
    codec_dir = loaded.codec.save_pretrained(tmp_path / "codec")
    out = assemble_model_dir(tmp_path / "m", codec=codec_dir, ar=ckpts["ar"], nar=ckpts["nar"])
    again = load_model_dir(out)
    for kind in ("ar", "nar"):
        want = torch.load(ckpts[kind], weights_only=True)["state_dict"]
        got = getattr(again, kind).state_dict()
        assert all(torch.equal(got[k], want[f"model.{k}"]) for k in got)
    with pytest.raises(CheckpointError, match="NAR checkpoint, given as the AR"):
        assemble_model_dir(tmp_path / "x", codec=codec_dir, ar=ckpts["nar"], nar=ckpts["nar"])


def _settings(**fields):
    return ck.ModelSettings.from_dict(fields)


def test_assemble_stores_sampling_defaults(tmp_path, tiny_model_dir):
    kw = _assemble_inputs(tmp_path, tiny_model_dir)
    out = assemble_model_dir(
        tmp_path / "m", settings=_settings(sampling={"max_frames_per_phoneme": 10.0}), **kw
    )
    assert load_model_dir(out).config.sampling["max_frames_per_phoneme"] == 10.0
    for bad in ({"temperature": -1}, {"no_such_field": 1}):
        with pytest.raises(CheckpointError, match="sampling"):
            assemble_model_dir(tmp_path / "bad", settings=_settings(sampling=bad), **kw)
        assert not (tmp_path / "bad").exists()  # refused before anything is written


def test_nar_decoding_is_stored_and_checked(tmp_path, tiny_model_dir):
    assert load_model_dir(tiny_model_dir).config.nar_decoding == "codes"  # the default
    kw = _assemble_inputs(tmp_path, tiny_model_dir)
    out = assemble_model_dir(tmp_path / "m", settings=_settings(nar_decoding="expected"), **kw)
    assert load_model_dir(out).config.nar_decoding == "expected"
    with pytest.raises(ValueError, match="nar_decoding"):
        _settings(nar_decoding="soft")
    cfg = json.loads((out / "config.json").read_text())
    cfg["nar_decoding"] = "soft"
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="nar_decoding must be one of"):
        load_model_dir(out)


def test_voice_match_is_stored_and_checked(tmp_path, tiny_model_dir):
    off = load_model_dir(tiny_model_dir).config.voice_match
    assert off == ck.VoiceMatchConfig() and off.weight == 0  # the default: off
    kw = _assemble_inputs(tmp_path, tiny_model_dir)
    out = assemble_model_dir(
        tmp_path / "m", settings=_settings(voice_match={"weight": 0.5, "k": 2}), **kw
    )
    assert load_model_dir(out).config.voice_match == ck.VoiceMatchConfig(weight=0.5, k=2)
    # directories written while matching had modes record "latent", the one kept
    cfg = json.loads((out / "config.json").read_text())
    cfg["voice_match"]["mode"] = "latent"
    (out / "config.json").write_text(json.dumps(cfg))
    assert load_model_dir(out).config.voice_match == ck.VoiceMatchConfig(weight=0.5, k=2)
    cfg["voice_match"]["mode"] = "residual"
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="no longer supported"):
        load_model_dir(out)
    for bad, message in (
        ({"weight": 2}, "weight must be in"),
        ({"k": 0}, "k must be"),
        ({"neighbours": 3}, "neighbours"),
    ):
        with pytest.raises((TypeError, ValueError), match=message):
            _settings(voice_match=bad)
    cfg = json.loads((out / "config.json").read_text())
    cfg["voice_match"] = {"weight": -0.1}
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="config.json: voice_match.weight must be in"):
        load_model_dir(out)


def test_spectral_match_is_stored_and_checked(tmp_path, tiny_model_dir):
    off = load_model_dir(tiny_model_dir).config.spectral_match
    assert off == ck.SpectralMatchConfig() and off.weight == 0  # the default: off
    kw = _assemble_inputs(tmp_path, tiny_model_dir)
    match = {"weight": 0.7, "frame_weight": 0.5, "bands": 32}
    out = assemble_model_dir(tmp_path / "m", settings=_settings(spectral_match=match), **kw)
    cfg = load_model_dir(out).config.spectral_match
    assert cfg == ck.SpectralMatchConfig(weight=0.7, frame_weight=0.5, bands=32)
    assert cfg.max_db == 12.0 and cfg.k == 4 and cfg.active
    for bad, message in (
        ({"weight": 1.5}, "weight must be in"),
        ({"frame_weight": -0.5}, "frame_weight must be in"),
        ({"k": 0}, "k must be"),
        ({"bands": 1}, "bands must be"),
        ({"max_db": -3}, "max_db must be"),
        ({"strength": 1}, "strength"),
    ):
        with pytest.raises((TypeError, ValueError), match=message):
            _settings(spectral_match=bad)
    raw = json.loads((out / "config.json").read_text())
    del raw["spectral_match"]  # a model dir written before the setting existed: off
    (out / "config.json").write_text(json.dumps(raw))
    assert load_model_dir(out).config.spectral_match.weight == 0
    raw["spectral_match"] = {"weight": 2}
    (out / "config.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match="config.json: spectral_match.weight must be in"):
        load_model_dir(out)


def test_latent_contrast_is_stored_and_checked(tmp_path, tiny_model_dir):
    assert load_model_dir(tiny_model_dir).config.latent_contrast == 1.0  # the default: off
    kw = _assemble_inputs(tmp_path, tiny_model_dir)
    out = assemble_model_dir(tmp_path / "m", settings=_settings(latent_contrast=1.2), **kw)
    assert load_model_dir(out).config.latent_contrast == 1.2
    for bad in (0.0, 2.5):
        with pytest.raises(ValueError, match="latent_contrast must be in"):
            _settings(latent_contrast=bad)
    raw = json.loads((out / "config.json").read_text())
    raw["latent_contrast"] = -1
    (out / "config.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match="config.json: latent_contrast must be in"):
        load_model_dir(out)


def test_expected_nar_decoding_needs_a_codec_that_exposes_its_codebooks(tiny_model_dir):
    from echovox.codec import Codec

    class Opaque(Codec):  # a codec with only the required methods
        n_codebooks, codebook_size = 4, 16

        def _encode_frames(self, wav, n_q):
            raise AssertionError

        def decode(self, codes):
            raise AssertionError

        def save_pretrained(self, directory):
            raise AssertionError

    loaded = load_model_dir(tiny_model_dir)
    with pytest.raises(CheckpointError, match="does not expose its codebooks"):
        ck.check_components(
            Opaque(), loaded.ar, loaded.nar, loaded.symbols, nar_decoding="expected"
        )
    with pytest.raises(CheckpointError, match="voice_match: .*does not expose its codebooks"):
        ck.check_components(Opaque(), loaded.ar, loaded.nar, loaded.symbols, voice_match=True)
    with pytest.raises(CheckpointError, match="latent_contrast: .*does not expose"):
        ck.check_components(Opaque(), loaded.ar, loaded.nar, loaded.symbols, latent_contrast=True)


def test_codec_loads_from_a_whole_model_dir(tmp_path):
    """`Codec.from_pretrained(MODEL_DIR)` (and so a codec fine-tune's `init_from` or a recipe's
    `tokenize.codec`) takes the codec part of a model directory, float16 weights included."""
    from echovox.codec import Codec

    model_dir = build_tiny_model(tmp_path / "m", weights_dtype="float16")
    codec = Codec.from_pretrained(model_dir, device="cpu")
    loaded = load_model_dir(model_dir).codec
    sa, sb = codec.state_dict(), loaded.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sb)
    assert next(codec.parameters()).dtype == torch.float32
    wav = torch.randn(1, 1, 800) * 0.1
    assert torch.equal(codec.encode(wav), loaded.encode(wav))
    (model_dir / ck.CODEC_WEIGHTS).unlink()
    with pytest.raises(CheckpointError, match="missing weights file"):
        Codec.from_pretrained(model_dir, device="cpu")


@pytest.mark.parametrize("kind", ["ar", "nar"])
def test_lm_fine_tune_starts_from_a_whole_model_dir(tmp_path, kind):
    """An LM task's `init_from` takes the AR or NAR part of a model directory (so a fine-tune
    can start from app/pretrained/echovox-tiny), float16 weights included, and still refuses
    a part whose config is not the task's."""
    from echovox.lm.lightning import LMTask

    model_dir = build_tiny_model(tmp_path / "m", weights_dtype="float16")
    part = getattr(load_model_dir(model_dir), kind)
    lm = dict(n_codebooks=part.config.n_codebooks, codebook_size=part.config.codebook_size)
    lm["max_frames"] = part.config.max_frames
    task = LMTask(kind, "tiny", lm, symbol_table="default", init_from=str(model_dir))
    got, want = task.model.state_dict(), part.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert next(task.model.parameters()).dtype == torch.float32
    with pytest.raises(CheckpointError, match=f"holds a {kind} model"):
        LMTask(kind, "tiny", {**lm, "max_frames": 600}, "default", init_from=str(model_dir))
    (model_dir / f"{kind}.safetensors").unlink()  # still a model directory: the file is named
    with pytest.raises(CheckpointError, match=f"missing .*{kind}.safetensors"):
        LMTask(kind, "tiny", lm, "default", init_from=str(model_dir))
