"""The synthesis model directory: everything `Synthesizer.from_pretrained` needs, in one folder.

    MODEL_DIR/
      config.json        format tag, package version, the codec/AR/NAR configs, text language,
                         prompt handling and the default sampling settings
      codec.safetensors  codec weights (our RVQ codec, or transformers' EnCodec)
      ar.safetensors     AR transformer weights
      nar.safetensors    NAR transformer weights
      symbols.json       the phoneme symbol table the LM was trained with
      README.md          model card

Loading never unpickles, and every check names the file it failed on, because "size mismatch
for blocks.0..." says nothing to a user who only downloaded a folder.

`assemble_model_dir` builds such a folder from what training leaves behind: a codec checkpoint
directory (`Codec.save_pretrained`) and AR/NAR checkpoints (a directory with config.json and
safetensors, a bare .safetensors file with a config.json beside it, or a Lightning .ckpt, read
with `torch.load(weights_only=True)`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echovox.checkpoint import (
    AR_WEIGHTS,
    CARD_NAME,
    CODEC_WEIGHTS,
    CONFIG_NAME,
    FORMAT,
    NAR_WEIGHTS,
    SYMBOLS_NAME,
    CheckpointError,
    load_weights,
    read_json,
    save_weights,
    storage_dtype,
    write_json,
)
from echovox.version import package_version

REQUIRED_FILES = (CONFIG_NAME, CODEC_WEIGHTS, AR_WEIGHTS, NAR_WEIGHTS, SYMBOLS_NAME)


@dataclass
class PromptConfig:
    """How a voice prompt is conditioned before it is encoded.

    seconds: the prompt is cut to at most this long, at the quietest point near the end.
    min_seconds: shorter prompts (after trimming leading/trailing silence) are rejected.
    target_dbfs: RMS loudness of the speech frames after normalisation.
    silence_db: frames this far below the loudest frame count as silence when trimming.
    """

    seconds: float = 3.0
    min_seconds: float = 1.0
    target_dbfs: float = -20.0
    silence_db: float = 40.0

    def __post_init__(self) -> None:
        if not 0 < self.min_seconds <= self.seconds:
            raise ValueError(
                f"need 0 < min_seconds <= seconds, got {self.min_seconds} and {self.seconds}"
            )


@dataclass
class TextConfig:
    """language: espeak-ng language of the front end; max_chars: chunk size for long text;
    pause_seconds: silence put between synthesised chunks; pack_sentences: join consecutive
    sentences into chunks of up to max_chars instead of one chunk a sentence. The models learn
    from multi-sentence utterances (the synthetic corpus: 2 sentences and 129 characters at the
    median, 209 at the 95th percentile), so packed chunks match what they saw and spare a
    pause and a fresh start at every full stop. trim_silence: cut each synthesised chunk's
    silence before its first and after its last sound (frames prompt.silence_db below its
    loudest), keeping 0.1 s, as the training utterances were cut: an AR trained on
    multi-sentence utterances may open a new sentence with the pause that followed the one
    before it (echovox-tiny's, on the prompt's sentence: up to 1.6 s), and pause_seconds then
    means what it says."""

    language: str = "en-us"
    max_chars: int = 200
    pause_seconds: float = 0.3
    pack_sentences: bool = True
    trim_silence: bool = True


@dataclass
class VoiceMatchConfig:
    """Before decoding, pull each output frame's codec latent towards the voice prompt's own
    frames (after kNN-VC). weight 0 turns it off. Why: the NAR renders the residual codebooks,
    which carry much of the voice, poorly; the prompt's own frames hold them exactly. Needs a
    codec that exposes its codebooks. Each latent moves `weight` of the way to the mean of its
    k nearest (cosine) prompt latents (`echovox.codec.match_latents`)."""

    weight: float = 0.0
    k: int = 4

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"voice_match.weight must be in [0, 1], got {self.weight}")
        if self.k < 1:
            raise ValueError(f"voice_match.k must be at least 1, got {self.k}")


@dataclass
class SpectralMatchConfig:
    """After decoding, move each chunk's spectral envelope towards the voice prompt's
    (`echovox.codec.match_spectrum`, on `bands` mel bands, each gain capped at +-max_db, the
    chunk's level kept): first each speech frame's band levels `frame_weight` of the way to
    the mean of its k nearest prompt frames (kNN-VC's matching step on the spectral envelope),
    then a fixed equaliser moves the long-term spectrum `weight` of the way to the prompt's.
    Both weights 0 turn it off. Why: the output's timbre drifts from the prompt's in a way a
    speaker encoder hears (the decoder renders the NAR's expected latents too flat, and the
    codec has its own colour), and the matching of codec latents (VoiceMatchConfig) leaves
    part of it. Works with any codec."""

    weight: float = 0.0
    frame_weight: float = 0.0
    k: int = 4
    bands: int = 64
    max_db: float = 12.0

    def __post_init__(self) -> None:
        for name in ("weight", "frame_weight"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"spectral_match.{name} must be in [0, 1], got {value}")
        if self.k < 1:
            raise ValueError(f"spectral_match.k must be at least 1, got {self.k}")
        if self.bands < 2:
            raise ValueError(f"spectral_match.bands must be at least 2, got {self.bands}")
        if not self.max_db > 0:
            raise ValueError(f"spectral_match.max_db must be positive, got {self.max_db}")

    @property
    def active(self) -> bool:
        return self.weight > 0 or self.frame_weight > 0


# How the NAR's codebooks 2..Q reach the decoder. "codes": the NAR's picked codes (argmax at
# nar_temperature 0), decoded like any tokens. "expected": each residual codebook's expected
# vector under the NAR's softmax (Codec.decode_expected), so a NAR unsure of a residual adds
# about its mean instead of a whole residual that is probably wrong.
NAR_DECODINGS = ("codes", "expected")


def check_nar_decoding(value: str) -> None:
    if value not in NAR_DECODINGS:
        raise ValueError(f"nar_decoding must be one of {list(NAR_DECODINGS)}, not {value!r}")


# latent_contrast: the decoded latent's deviation from its per-channel mean over the chunk is
# multiplied by this before voice matching. Why: under expected decoding the NAR's unsure
# residual codebooks add about their mean vector, so the latent the decoder renders varies less
# over time than a real utterance's, and it sounds flatter; a gain above 1 restores some of that
# spread (echovox-tiny's model card measures it). Above 2 the decoder sees latents far outside
# what it was trained on.
LATENT_CONTRAST_RANGE = (0.5, 2.0)


def check_latent_contrast(value: float) -> None:
    lo, hi = LATENT_CONTRAST_RANGE
    if not lo <= value <= hi:
        raise ValueError(f"latent_contrast must be in [{lo}, {hi}], got {value}")


@dataclass
class ModelSettings:
    """How synthesis runs a model: what a model directory's config.json stores beside the
    components' configs, and what `save_model_dir` and `assemble_model_dir` take.

    name: the model's name in its card. text, prompt: the front end and the prompt's
    conditioning. sampling: `echovox.lm.generate.SamplingSettings` fields that replace its
    defaults (saved with every field). nar_temperature: 0 picks the NAR's codes greedily.
    nar_decoding: how codebooks 2..Q reach the decoder (NAR_DECODINGS). voice_match,
    spectral_match, latent_contrast: the decode-time steps towards the prompt (their classes
    and check_latent_contrast say what each does and why)."""

    name: str = "echovox"
    text: TextConfig = field(default_factory=TextConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    sampling: dict[str, Any] = field(default_factory=dict)
    nar_temperature: float = 0.0
    nar_decoding: str = "codes"
    voice_match: VoiceMatchConfig = field(default_factory=VoiceMatchConfig)
    spectral_match: SpectralMatchConfig = field(default_factory=SpectralMatchConfig)
    latent_contrast: float = 1.0

    def __post_init__(self) -> None:
        check_nar_decoding(self.nar_decoding)
        check_latent_contrast(self.latent_contrast)

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """From plain values and dicts (a recipe's YAML, config.json); raises TypeError or
        ValueError naming a bad field."""
        d = dict(d)
        for key, sub in (
            ("text", TextConfig),
            ("prompt", PromptConfig),
            ("spectral_match", SpectralMatchConfig),
        ):
            if isinstance(d.get(key), dict):
                d[key] = sub(**d[key])
        if isinstance(d.get("voice_match"), dict):
            d["voice_match"] = VoiceMatchConfig(**_without_latent_mode(d["voice_match"]))
        return cls(**d)

    def sampling_settings(self):
        """The SamplingSettings these settings store (ValueError or TypeError if bad)."""
        from echovox.lm.generate import SamplingSettings

        return SamplingSettings(**self.sampling)


@dataclass(kw_only=True)
class ModelDirConfig(ModelSettings):
    """The parsed config.json of a model directory: its ModelSettings and the components'
    configs (kept as dicts so this module does not import torch-heavy packages to read a
    config)."""

    codec_type: str  # "frame", "rvq" or "encodec"
    codec: dict[str, Any]
    ar: dict[str, Any]
    nar: dict[str, Any]
    echovox_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["format"] = FORMAT
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = CONFIG_NAME) -> ModelDirConfig:
        if d.get("format") != FORMAT:
            raise CheckpointError(
                f"{where}: format is {d.get('format')!r}, expected {FORMAT!r} (is this a codec or "
                "LM checkpoint rather than an assembled model? see `echovox assemble_model`)"
            )
        try:
            return super().from_dict({k: v for k, v in d.items() if k != "format"})
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{where}: {err}") from err


def _without_latent_mode(voice_match: dict[str, Any]) -> dict[str, Any]:
    """Model directories written before voice matching lost its modes record mode "latent",
    the one kept; any other mode is an error that says it is gone."""
    voice_match = dict(voice_match)
    mode = voice_match.pop("mode", "latent")
    if mode != "latent":
        raise ValueError(f"voice_match.mode {mode!r} is no longer supported: only latent matching")
    return voice_match


@dataclass
class LoadedModel:
    """The components of a model directory, built and loaded on CPU in eval mode."""

    config: ModelDirConfig
    codec: Any  # echovox.codec.Codec
    ar: Any  # echovox.lm.ar.ARModel
    nar: Any  # echovox.lm.nar.NARModel
    symbols: Any  # echovox.text.SymbolTable
    path: Path
    # the AR's weights were stored float16, so float16 copies of them (the Synthesizer's
    # half_weights) reproduce the stored weights exactly
    ar_stored_half: bool = False


# ------------------------------------------------------------------------------- codec
def _codec_config(codec) -> tuple[str, dict[str, Any]]:
    from echovox.codec import EncodecCodec, FrameCodec, RVQCodec

    if isinstance(codec, FrameCodec):
        return "frame", codec.config.to_dict()
    if isinstance(codec, RVQCodec):
        return "rvq", codec.config.to_dict()
    if isinstance(codec, EncodecCodec):
        return "encodec", codec.model.config.to_dict()
    raise CheckpointError(f"cannot store a codec of type {type(codec).__name__}")


def _build_codec(codec_type: str, cfg: dict[str, Any], where: str):
    from echovox.codec import CodecConfig, EncodecCodec, FrameCodec, FrameCodecConfig, RVQCodec

    try:
        if codec_type == "frame":
            return FrameCodec(FrameCodecConfig.from_dict(cfg))
        if codec_type == "rvq":
            return RVQCodec(CodecConfig.from_dict(cfg))
        if codec_type == "encodec":
            from transformers import EncodecConfig, EncodecModel

            return EncodecCodec(EncodecModel(EncodecConfig.from_dict(cfg)))
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{where}: bad codec config: {err}") from err
    raise CheckpointError(
        f"{where}: unknown codec_type {codec_type!r} (have 'frame', 'rvq', 'encodec')"
    )


def _load(module, path: Path) -> set:
    """load_weights with errors that name the file; returns the file's stored float dtypes."""
    try:
        return load_weights(module, path)
    except RuntimeError as err:  # load_state_dict raises RuntimeError on shape mismatches
        raise CheckpointError(f"{path} does not match its config: {err}") from err
    except Exception as err:
        if isinstance(err, CheckpointError):
            raise
        # safetensors raises its own error types for truncated or foreign files
        raise CheckpointError(f"cannot read {path}: {err}") from err


# ------------------------------------------------------------------------------- save / load
def save_model_dir(
    directory: str | Path,
    *,
    codec,
    ar,
    nar,
    symbols,
    settings: ModelSettings | None = None,
    weights_dtype: str = "float32",
    card_notes: str = "",
) -> Path:
    """Write a model directory from in-memory components (CPU copies of the weights).

    weights_dtype: "float32", or "float16" to store the weights at half the size (loading casts
    them back to float32; the rounding moves decoded audio by far less than the codec's own
    error)."""
    settings = settings or ModelSettings()
    sampling = settings.sampling_settings()
    check_components(
        codec,
        ar,
        nar,
        symbols,
        nar_decoding=settings.nar_decoding,
        voice_match=settings.voice_match.weight > 0,
        latent_contrast=settings.latent_contrast != 1.0,
    )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    codec_type, codec_cfg = _codec_config(codec)
    cfg = ModelDirConfig(
        **{f.name: getattr(settings, f.name) for f in dataclasses.fields(ModelSettings)},
        codec_type=codec_type,
        codec=codec_cfg,
        ar=ar.config.to_dict(),
        nar=nar.config.to_dict(),
        echovox_version=package_version(),
    )
    cfg.sampling = dataclasses.asdict(sampling)  # every field, the defaults included
    dtype = storage_dtype(weights_dtype)
    save_weights(codec, directory / CODEC_WEIGHTS, dtype=dtype)
    save_weights(ar, directory / AR_WEIGHTS, dtype=dtype)
    save_weights(nar, directory / NAR_WEIGHTS, dtype=dtype)
    symbols.save(directory / SYMBOLS_NAME)
    (directory / CARD_NAME).write_text(model_card(cfg, ar, nar, codec, card_notes))
    # config last: a directory whose config.json exists is complete
    write_json(directory / CONFIG_NAME, cfg.to_dict())
    return directory


def check_components(
    codec,
    ar,
    nar,
    symbols,
    where: str = "model",
    nar_decoding: str = "codes",
    voice_match: bool = False,
    latent_contrast: bool = False,
) -> None:
    """The LM must speak the codec's codes and the symbol table's phonemes; expected NAR
    decoding, voice matching (voice_match: its weight is above 0) and latent contrast
    (latent_contrast: it is not 1) need a codec that exposes its codebooks."""
    needs = []
    if nar_decoding == "expected":
        needs.append("nar_decoding 'expected'")
    if voice_match:
        needs.append("voice_match")
    if latent_contrast:
        needs.append("latent_contrast")
    if needs:
        try:
            codec.codebook_vectors()
        except NotImplementedError as err:
            raise CheckpointError(f"{where}: {' and '.join(needs)}: {err}") from err
    for part, c in (("AR", ar.config), ("NAR", nar.config)):
        if part == "NAR" and c.n_codebooks != codec.n_codebooks:
            raise CheckpointError(
                f"{where}: the NAR predicts {c.n_codebooks} codebooks, the codec has "
                f"{codec.n_codebooks}"
            )
        if c.codebook_size != codec.codebook_size:
            raise CheckpointError(
                f"{where}: the {part} expects codebook size {c.codebook_size}, the codec has "
                f"{codec.codebook_size}"
            )
        if c.n_phonemes != len(symbols):
            raise CheckpointError(
                f"{where}: the {part} has {c.n_phonemes} phoneme embeddings, the symbol table "
                f"has {len(symbols)} symbols"
            )
        if c.phoneme_pad_id != symbols.pad_id:
            raise CheckpointError(f"{where}: the {part}'s phoneme pad id is not the table's")


def load_model_dir(directory: str | Path) -> LoadedModel:
    """Build every component from a model directory; errors name the offending file."""
    import torch

    from echovox.lm.ar import ARModel
    from echovox.lm.config import ARConfig, ConfigError, NARConfig
    from echovox.lm.nar import NARModel
    from echovox.text import SymbolTable

    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"model directory not found: {directory}")
    missing = [n for n in REQUIRED_FILES if not (directory / n).is_file()]
    if missing:
        raise CheckpointError(
            f"{directory} is not a complete echovox model: missing "
            + ", ".join(str(directory / n) for n in missing)
        )
    cfg_path = directory / CONFIG_NAME
    cfg = ModelDirConfig.from_dict(read_json(cfg_path), where=str(cfg_path))
    try:
        symbols = SymbolTable.load(directory / SYMBOLS_NAME)
    except (ValueError, FileNotFoundError) as err:
        raise CheckpointError(str(err)) from err
    codec = _build_codec(cfg.codec_type, cfg.codec, str(cfg_path))
    try:
        ar = ARModel(ARConfig.from_dict(cfg.ar))
        nar = NARModel(NARConfig.from_dict(cfg.nar))
    except (ConfigError, TypeError) as err:
        raise CheckpointError(f"{cfg_path}: bad AR/NAR config: {err}") from err
    check_components(
        codec,
        ar,
        nar,
        symbols,
        str(cfg_path),
        cfg.nar_decoding,
        cfg.voice_match.weight > 0,
        cfg.latent_contrast != 1.0,
    )
    _load(codec, directory / CODEC_WEIGHTS)
    ar_dtypes = _load(ar, directory / AR_WEIGHTS)
    _load(nar, directory / NAR_WEIGHTS)
    return LoadedModel(
        config=cfg,
        codec=codec.eval(),
        ar=ar.eval(),
        nar=nar.eval(),
        symbols=symbols,
        path=directory,
        ar_stored_half=ar_dtypes == {torch.float16},
    )


def model_card(cfg: ModelDirConfig, ar, nar, codec, notes: str = "") -> str:
    n_ar = sum(p.numel() for p in ar.parameters())
    n_nar = sum(p.numel() for p in nar.parameters())
    n_codec = sum(p.numel() for p in codec.parameters())
    return f"""# {cfg.name}

An echovox voice-cloning text-to-speech model (VALL-E style: an autoregressive transformer writes
the first codec codebook, a non-autoregressive one fills the rest, a neural codec decodes).

```python
from echovox import Synthesizer
tts = Synthesizer.from_pretrained("path/to/this/folder")
audio = tts.clone("Text to say.", prompt="me.wav", prompt_text="What I say in me.wav.")
audio.save("out.wav")
```

| part | config | parameters |
|---|---|---|
| codec | {cfg.codec_type}, {codec.sample_rate} Hz, {codec.n_codebooks} x {codec.codebook_size} \
codes at {codec.frame_rate:g} Hz | {n_codec:,} |
| AR | {cfg.ar.get("name")}: d={cfg.ar["d_model"]}, {cfg.ar["n_layers"]} layers | {n_ar:,} |
| NAR | {cfg.nar.get("name")}: d={cfg.nar["d_model"]}, {cfg.nar["n_layers"]} layers | {n_nar:,} |

- text: espeak-ng phonemes, language `{cfg.text.language}`; symbol table in `symbols.json`
- prompt: cut to {cfg.prompt.seconds:g} s, at least {cfg.prompt.min_seconds:g} s of speech
- default sampling: `{json.dumps(cfg.sampling, sort_keys=True)}`
- echovox version: {cfg.echovox_version}

Intended use: research and demos of zero-shot voice cloning with the consent of the person
whose voice is cloned. Do not use it to impersonate anyone.

{notes}
"""


# ------------------------------------------------------------------------------- assembly
def _read_lm_checkpoint(path: Path, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config dict, state dict) of an AR or NAR checkpoint in any of the accepted layouts."""
    import torch

    def pick_config(meta: dict[str, Any], where: Path) -> dict[str, Any]:
        # accepted: the bare config, {"config": ...}, {"ar": ..., "nar": ...}, {"model": ...}
        for key in (kind, "config", "model_config", "model"):
            if isinstance(meta.get(key), dict):
                return meta[key]
        if "d_model" in meta:
            return meta
        raise CheckpointError(f"{where}: no {kind.upper()} config found (keys {sorted(meta)})")

    if path.is_dir():
        cfg_file = path / CONFIG_NAME
        weights = sorted(path.glob("*.safetensors"))
        named = [w for w in weights if w.stem in (kind, "model")]
        if named:
            weights = named
        if len(weights) != 1:
            raise CheckpointError(
                f"{path}: expected one .safetensors weights file, found {[w.name for w in weights]}"
            )
        path = weights[0]
        meta = read_json(cfg_file)
        if meta.get("kind", kind) != kind:  # lm/ exports record which model they hold
            raise CheckpointError(
                f"{cfg_file}: this is an {str(meta['kind']).upper()} checkpoint, "
                f"given as the {kind.upper()}"
            )
        from safetensors.torch import load_file

        return pick_config(meta, cfg_file), load_file(str(path))
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        cfg_file = path.with_name(CONFIG_NAME)
        return pick_config(read_json(cfg_file), cfg_file), load_file(str(path))
    if path.suffix == ".ckpt":
        if not path.is_file():
            raise CheckpointError(f"missing checkpoint file: {path}")
        # Lightning's own checkpoint: tensors and plain containers only, never arbitrary objects
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
        hp = ckpt.get("hyper_parameters", {})
        meta = {**hp, **{k: v for k, v in ckpt.items() if k.endswith("config")}}
        if "preset" in hp and not any(k in meta for k in (kind, "config", "model_config")):
            # an echovox.lm LMTask checkpoint: the model is its preset plus overrides
            if hp.get("kind", kind) != kind:
                raise CheckpointError(
                    f"{path}: this is an {str(hp['kind']).upper()} checkpoint, "
                    f"given as the {kind.upper()}"
                )
            from echovox.lm.lightning import model_config

            try:
                cfg, _ = model_config(
                    kind, hp["preset"], hp.get("model_overrides"), hp.get("symbol_table")
                )
            except (ValueError, FileNotFoundError) as err:
                raise CheckpointError(f"{path}: cannot rebuild its model config: {err}") from err
            meta = {kind: cfg.to_dict()}
        state = ckpt.get("state_dict", {})
        # the LightningModule holds the model as `model`; keep only its weights
        state = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
        return pick_config(meta, path), state
    raise CheckpointError(f"{path}: not a checkpoint directory, .safetensors or .ckpt file")


def load_lm_checkpoint(path: str | Path, kind: str):
    """An ARModel (kind="ar") or NARModel (kind="nar") from a training checkpoint."""
    from echovox.lm.ar import ARModel
    from echovox.lm.config import ARConfig, ConfigError, NARConfig
    from echovox.lm.nar import NARModel

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{kind.upper()} checkpoint not found: {path}")
    cfg, state = _read_lm_checkpoint(path, kind)
    cfg_cls, model_cls = (ARConfig, ARModel) if kind == "ar" else (NARConfig, NARModel)
    try:
        model = model_cls(cfg_cls.from_dict(cfg))
    except (ConfigError, TypeError) as err:
        raise CheckpointError(f"{path}: bad {kind.upper()} config: {err}") from err
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not match its {kind.upper()} config: {err}") from err
    return model.eval()


def assemble_model_dir(
    output: str | Path,
    *,
    codec: str | Path,
    ar: str | Path,
    nar: str | Path,
    symbols: str | Path | None = None,
    settings: ModelSettings | None = None,
    weights_dtype: str = "float32",
    notes: str = "",
) -> Path:
    """Build a model directory from a codec checkpoint dir and AR/NAR checkpoints.

    settings: how synthesis runs the model (ModelSettings: e.g. a frame budget per phoneme
    that suits the codec's frame rate; "expected" NAR decoding, voice matching and latent
    contrast need a codec that exposes its codebooks). symbols: the symbol table the LM was
    trained with (default: the symbols.json saved in the AR/NAR export directories, else the
    built-in table). notes: a paragraph for the model card."""
    from echovox.codec import Codec

    settings = settings or ModelSettings()
    try:  # before loading any weights
        settings.sampling_settings()
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"bad sampling settings {settings.sampling}: {err}") from err
    codec_model = Codec.from_pretrained(codec, device="cpu")
    ar_model = load_lm_checkpoint(ar, "ar")
    nar_model = load_lm_checkpoint(nar, "nar")
    return save_model_dir(
        output,
        codec=codec_model,
        ar=ar_model,
        nar=nar_model,
        symbols=_symbol_table(symbols, ar, nar),
        settings=settings,
        card_notes=notes,
        weights_dtype=weights_dtype,
    )


def _symbol_table(symbols, ar, nar):
    """The given table, else the one the LM exports carry (both must agree), else the
    built-in one."""
    from echovox.text import SymbolTable

    if symbols:
        return SymbolTable.load(symbols)
    saved = [
        SymbolTable.load(Path(p) / SYMBOLS_NAME)
        for p in (ar, nar)
        if (Path(p) / SYMBOLS_NAME).is_file()
    ]
    table = saved[0] if saved else SymbolTable.default()
    for other in saved[1:]:
        if other != table:
            raise CheckpointError(
                f"{ar} and {nar} were trained with different symbol tables ({SYMBOLS_NAME})"
            )
    return table
