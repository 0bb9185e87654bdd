"""Exported LM checkpoints: a directory with `config.json`, `model.safetensors` and, when the
model was trained with one, the text front end's `symbols.json`. Loading never unpickles.

    save_pretrained(model, "exp/ar/export", symbols=table)
    model = load_pretrained("exp/ar/export")            # ARModel or NARModel, in eval mode
    model = load_pretrained(path, expect_codec=(8, 1024))  # checks Q and K against the codec
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from echovox.checkpoint import (
    AR_WEIGHTS,
    CONFIG_NAME,
    FORMAT,
    NAR_WEIGHTS,
    CheckpointError,
    load_weights,
    read_json,
    save_weights,
    write_json,
)
from echovox.version import package_version

from .ar import ARModel
from .config import ARConfig, NARConfig
from .nar import NARModel

WEIGHTS_NAME = "model.safetensors"
SYMBOLS_NAME = "symbols.json"
KINDS: dict[str, tuple[type, type]] = {"ar": (ARModel, ARConfig), "nar": (NARModel, NARConfig)}


def model_kind(model: ARModel | NARModel) -> str:
    for kind, (cls, _) in KINDS.items():
        if isinstance(model, cls):
            return kind
    raise TypeError(f"not an LM: {type(model).__name__}")


def save_pretrained(
    model: ARModel | NARModel,
    directory: str | Path,
    symbols: Any | None = None,
    notes: str = "",
) -> Path:
    """Write weights, config, a model card README.md and (if given) the SymbolTable.
    `notes` (e.g. the training data and step) goes into the model card. Returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if symbols is not None:
        if len(symbols) != model.config.n_phonemes:
            raise CheckpointError(
                f"symbol table has {len(symbols)} symbols, the model {model.config.n_phonemes}"
            )
        symbols.save(directory / SYMBOLS_NAME)
    save_weights(model, directory / WEIGHTS_NAME)
    pkg_version = package_version()
    write_json(
        directory / CONFIG_NAME,
        {
            "kind": model_kind(model),
            "config": model.config.to_dict(),
            "echovox_version": pkg_version,
            "has_symbols": symbols is not None,
        },
    )
    c = model.config
    kind = model_kind(model)
    role = "codebook 1, autoregressive" if kind == "ar" else f"codebooks 2..{c.n_codebooks}"
    card = [
        f"# echovox {kind.upper()} codec language model ({role})",
        "",
        f"- preset: {c.name}; {model.num_parameters() / 1e6:.1f}M parameters; d_model {c.d_model}, "
        f"{c.n_layers} layers, {c.n_heads} heads, FFN {c.d_ffn}",
        f"- codec: {c.n_codebooks} codebooks of {c.codebook_size} codes",
        f"- phoneme vocabulary: {c.n_phonemes} (pad id {c.phoneme_pad_id})"
        + ("; symbols.json holds the table" if symbols is not None else ""),
        f"- echovox {pkg_version}",
        "",
        "Load with `echovox.lm.load_pretrained(this_directory)`; files: config.json, "
        "model.safetensors.",
    ]
    if notes:
        card += ["", notes]
    (directory / "README.md").write_text("\n".join(card) + "\n")
    return directory


def load_pretrained(
    directory: str | Path, expect_codec: tuple[int, int] | None = None, device: str = "cpu"
) -> ARModel | NARModel:
    """Rebuild the model from its config and load its weights; eval mode.

    expect_codec: (n_codebooks, codebook_size) of the codec it will be paired with."""
    directory = Path(directory)
    meta = read_json(directory / CONFIG_NAME)
    kind = meta.get("kind")
    if kind not in KINDS:
        raise CheckpointError(f"{directory}: unknown model kind {kind!r}")
    model_cls, config_cls = KINDS[kind]
    try:
        config = config_cls.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{directory}: bad config: {err}") from err
    if expect_codec is not None:
        got = (config.n_codebooks, config.codebook_size)
        if kind == "ar":  # the AR only needs codebook 1, but the codebook size must match
            ok = config.codebook_size == expect_codec[1]
        else:
            ok = got == tuple(expect_codec)
        if not ok:
            raise CheckpointError(
                f"{directory}: model expects (n_codebooks, codebook_size) = {got}, the codec "
                f"has {tuple(expect_codec)}"
            )
    model = model_cls(config)
    load_weights(model, directory / WEIGHTS_NAME)
    return model.to(device).eval()


def load_lm(directory: str | Path, kind: str) -> ARModel | NARModel:
    """An LM export (`save_pretrained`), or the AR (kind="ar") or NAR (kind="nar") of a whole
    echovox model directory (config.json's "ar"/"nar" and ar/nar.safetensors, as
    `echovox.model_dir` writes them), in eval mode. For `LMTask(init_from=...)`, which may
    start a fine-tune from a shipped model such as app/pretrained/echovox-tiny."""
    directory = Path(directory)
    meta = read_json(directory / CONFIG_NAME)
    if meta.get("format") != FORMAT:
        return load_pretrained(directory)
    if kind not in KINDS:
        raise CheckpointError(f"unknown model kind {kind!r}; have {sorted(KINDS)}")
    model_cls, config_cls = KINDS[kind]
    try:
        config = config_cls.from_dict(meta[kind])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(
            f"{directory / CONFIG_NAME}: bad {kind.upper()} config: {err}"
        ) from err
    model = model_cls(config)
    load_weights(model, directory / (AR_WEIGHTS if kind == "ar" else NAR_WEIGHTS))
    return model.eval()


def load_symbols(directory: str | Path):
    """The SymbolTable saved with the model, or None when it was trained without one."""
    path = Path(directory) / SYMBOLS_NAME
    if not path.is_file():
        return None
    from echovox.text import SymbolTable

    return SymbolTable.load(path)
