"""Recipe configuration: one dataclass per stage group, read from a recipe's YAML file.

Plain dataclasses (no config library) so that stage code can be called from Python and tests
without the CLI. Unknown keys are an error, because a typo in a YAML key would otherwise be
ignored silently and a multi-hour stage would run with the default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECIPES = ("librilight", "synthetic", "folder")


class RecipeConfigError(ValueError):
    """A recipe YAML file that cannot be used."""


@dataclass
class CorpusConfig:
    """Where the audio is. For librilight/synthetic: the root holding `<subset>/` folders."""

    root: str = "data/librilight"
    # not `duplicate`: LibriLight's unlab-60k is small + medium + large; duplicate.tar holds
    # the same books read again and would count them twice
    subsets: list[str] = field(default_factory=lambda: ["small", "medium", "large"])
    # LibriLight recipe: a folder of Libriheavy's libriheavy_cuts_<subset>.jsonl.gz: stage 2
    # takes its utterances and book text, stage 3 (asr.backend: libriheavy) its text
    libriheavy: str | None = None
    # folder recipe only: "libritts" (<spk>/<chapter>/<id>.wav + <id>.normalized.txt),
    # "csv" (metadata.csv of path|text|speaker), or "auto"
    layout: str = "auto"


@dataclass
class SyntheticConfig:
    """The synthetic LibriLight-shaped corpus (recipe `synthetic`, stage 0)."""

    seed: int = 0
    n_speakers: int = 8
    n_heldout_speakers: int = 2  # unseen voices: they go to the test split only
    chapters_per_speaker: int = 2
    sentences_per_chapter: int = 12
    subset: str = "small"
    # which voice families to draw from; the generator skips (and says so) those not installed
    voices: list[str] = field(default_factory=lambda: ["mbrola", "espeak"])
    # hold out whole voice families (recipes.voices) and a tenth of the sentences for the
    # held-out speakers, and give every speaker a formant scale; off reproduces the corpora
    # made before it (the first echovox-tiny's)
    family_split: bool = False
    pause_seconds: list[float] = field(default_factory=lambda: [0.35, 1.6])
    long_pause_every: int = 4  # every few sentences a paragraph pause, as in read books
    long_pause_seconds: float = 2.5
    fortune_files: list[str] = field(
        default_factory=lambda: [
            "fortunes",
            "literature",
            "wisdom",
            "people",
            "science",
            "humorists",
            "platitudes",
            "education",
            "work",
            "pets",
            "food",
            "love",
            "miscellaneous",
            "pratchett",
        ]
    )
    fortune_dir: str = "/usr/share/games/fortunes"


@dataclass
class SegmentConfig:
    min_seconds: float = 2.0
    max_seconds: float = 20.0
    # spans are merged until an utterance reaches this length; the next pause then ends it
    target_seconds: float = 10.0
    # a pause longer than this always ends an utterance (a paragraph or section break)
    max_pause: float = 1.5
    pad: float = 0.1  # kept around each utterance, never past the midpoint of a pause
    vad_fallback: str = "silero"  # "silero" or "energy", used when a JSON lacks voice_activity


@dataclass
class AsrConfig:
    # "whisper" (faster-whisper: int8 on CPU, one worker per GPU), "transformers" (Whisper or
    # CTC by model id or local path), "pocketsphinx" (weak; an optional install) or
    # "reference" (the synthetic corpus's true transcripts)
    backend: str = "whisper"
    model: str | None = None  # None: the backend's default (whisper base, offline)
    device: str = "auto"
    batch_size: int = 8
    threads: int | None = None  # CPU threads per worker; None: the backend's choice


@dataclass
class FilterConfig:
    """Stage 4 drops utterances outside these bounds, each counted in its report by reason.
    None turns a filter off."""

    min_confidence: float | None = None  # ASR confidence, exp(mean token log-prob)
    min_snr: float | None = None  # dB, LibriLight's per-file `snr`
    min_phones_per_second: float | None = None  # speaking rate: misaligned or silent cuts
    max_phones_per_second: float | None = None  # hallucinated or truncated transcripts
    min_seconds: float | None = None
    max_seconds: float | None = None


@dataclass
class TextConfig:
    language: str = "en-us"


@dataclass
class SplitConfig:
    """Speakers, never utterances, are split: a speaker's utterances all land in one split."""

    dev_speakers: int = 1
    test_speakers: int = 1
    # speakers dropped from every split (VALL-E held out LibriSpeech's test speakers)
    exclude_speakers: list[str] = field(default_factory=list)
    # speakers forced into the test split (the synthetic corpus's unseen voices)
    heldout_speakers: list[str] = field(default_factory=list)
    seed: int = 0


@dataclass
class TokenizeConfig:
    codec: str | None = None  # a Codec directory, or a pretrained id like facebook/encodec_24khz
    n_q: int | None = None
    batch_size: int = 16
    device: str = "auto"


@dataclass
class WorkConfig:
    """How work is spread. `num_proc` processes on this machine ("auto": one per GPU, or 1
    without GPUs); `rank`/`world_size` shard across cluster nodes (CLI overrides them)."""

    num_proc: int | str = 1
    shard_size: int = 32
    rank: int = 0
    world_size: int = 1


# the recipe's language models, in training order (stage 6 and 7 iterate them too)
LM_KINDS = ("ar", "nar")


@dataclass
class LMTrainConfig:
    """Stage 6: the AR and NAR training YAMLs (lm/configs/*.yaml). Their data and output paths
    are rewritten to point into the recipe's exp_dir."""

    ar_config: str = "lm/configs/ar.yaml"
    nar_config: str = "lm/configs/nar.yaml"
    threads: int = 1  # torch threads per model
    parallel: bool = True  # AR and NAR at once, each in its own process (they are independent)
    # GPUs per node and nodes (Lightning's trainer.devices / trainer.num_nodes); None: the
    # training YAML's. Several nodes: launch stage 6 once per node under torchrun or SLURM
    # (recipes/librilight/README.md); Lightning reads the launcher's environment
    devices: int | str | None = None
    num_nodes: int | None = None
    overrides: list[str] = field(default_factory=list)  # e.g. ["--trainer.max_steps=100"]
    # for one model only, after `overrides` (later arguments win): e.g. a step count that
    # fits the AR but not the NAR
    ar_overrides: list[str] = field(default_factory=list)
    nar_overrides: list[str] = field(default_factory=list)
    # which models stage 6 trains; leave one out to train only the other (e.g. a new AR on a
    # bigger corpus) and name the one not trained in model.ar / model.nar
    kinds: list[str] = field(default_factory=lambda: list(LM_KINDS))


@dataclass
class ModelDirConfig:
    """Stage 7: the synthesis model directory assembled from the codec and the LM exports."""

    name: str = "echovox"
    # the codec the model decodes with; None: tokenize.codec. A decoder-only fine-tune of that
    # codec (`train.freeze: [encoder, quantizer]`) may stand in: it makes the same tokens, and
    # stage 7 checks that its encoder and quantizer weights are the very same
    codec: str | None = None
    # an LM export folder (`echovox lm train --export_dir`) to use instead of this recipe's
    # stage-6 export; None: exp_dir/lm/<kind>/export. It must have been trained on tokens of
    # the same codec (tokenize.codec): stage 7 checks its codebook count and size
    ar: str | None = None
    nar: str | None = None
    weights_dtype: str = "float32"  # float16 halves the size
    prompt_seconds: float = 3.0
    sampling: dict = field(default_factory=dict)  # SamplingSettings fields stored as defaults
    nar_decoding: str = "codes"  # or "expected" (echovox.model_dir.NAR_DECODINGS)
    # echovox.model_dir.VoiceMatchConfig fields (weight, k, mode); {}: off
    voice_match: dict = field(default_factory=dict)
    # echovox.model_dir.SpectralMatchConfig fields (weight, frame_weight, k, bands,
    # max_db); {}: off
    spectral_match: dict = field(default_factory=dict)
    # echovox.model_dir.ModelDirConfig.latent_contrast; 1: off
    latent_contrast: float = 1.0


@dataclass
class EvalConfig:
    """Stage 8: `echovox eval` on the test split's (held-out) speakers, or with `librispeech`
    on a LibriSpeech-style tree (VALL-E's protocol: test-clean, 4-10 s targets, 3-s prompts),
    read against the same metrics on the real recordings."""

    librispeech: str | None = None  # e.g. data/LibriSpeech/test-clean
    min_seconds: float = 4.0
    max_seconds: float = 10.0
    prompt_seconds: float = 3.0
    per_speaker: int = 10  # 0: every utterance (VALL-E's test-clean list)
    modes: list[str] = field(default_factory=lambda: ["cross"])
    seed: int = 0
    asr: str = "whisper"
    asr_model: str | None = None
    speaker_encoder: str = "resemblyzer"
    speaker_model: str | None = None
    batch_size: int = 8
    threads: int = 1  # resemblyzer is many times slower at 2 threads on a shared 2-core CPU


@dataclass
class RecipeConfig:
    recipe: str = "librilight"
    exp_dir: str = "exp/librilight"
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    text: TextConfig = field(default_factory=TextConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    splits: SplitConfig = field(default_factory=SplitConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    work: WorkConfig = field(default_factory=WorkConfig)
    lm: LMTrainConfig = field(default_factory=LMTrainConfig)
    model: ModelDirConfig = field(default_factory=ModelDirConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @property
    def exp(self) -> Path:
        return Path(self.exp_dir)


def _build(cls: type, data: Any, where: str) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise RecipeConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RecipeConfigError(f"{where}: unknown keys {unknown}; known: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value, f"{where}.{name}")
        else:
            kwargs[name] = value
    return cls(**kwargs)


def config_from_dict(data: dict, where: str = "config") -> RecipeConfig:
    cfg = _build(RecipeConfig, data, where)
    if cfg.recipe not in RECIPES:
        raise RecipeConfigError(f"{where}: recipe must be one of {RECIPES}, got {cfg.recipe!r}")
    kinds = cfg.lm.kinds
    if not isinstance(kinds, list) or not kinds or set(kinds) - set(LM_KINDS):
        raise RecipeConfigError(
            f"{where}: lm.kinds must be a non-empty list of "
            f"{' and '.join(map(repr, LM_KINDS))}, got {kinds!r}"
        )
    cfg.work.num_proc = resolve_num_proc(cfg.work.num_proc, where)
    if len(set(kinds)) != len(kinds):
        raise RecipeConfigError(f"{where}: lm.kinds names a model twice: {kinds!r}")
    for name in ["overrides"] + [f"{kind}_overrides" for kind in LM_KINDS]:
        value = getattr(cfg.lm, name)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RecipeConfigError(
                f"{where}: lm.{name} must be a list of strings like "
                f'"--trainer.max_steps=100", got {value!r}'
            )
    return cfg


def resolve_num_proc(value, where: str = "config") -> int:
    """work.num_proc: a count, or "auto" for one process per GPU of this machine (1 on CPU,
    where a recogniser or codec uses the cores by threads instead)."""
    if value == "auto":
        import torch

        return max(1, torch.cuda.device_count())
    if isinstance(value, str) and value.isdigit():  # from the command line
        value = int(value)
    if not isinstance(value, int) or value < 1:
        raise RecipeConfigError(f"{where}: work.num_proc must be a positive count or 'auto'")
    return value


def load_config(path: str | Path, overrides: dict | None = None) -> RecipeConfig:
    """Read a recipe YAML (a `base: OTHER.yaml` in it starts from that file:
    echovox.config_files). Relative `exp_dir` and `corpus.root` stay relative to the working
    directory (as in icefall/lhotse recipes, which are run from the repository root)."""
    from echovox.config_files import load_yaml

    path = Path(path)
    if not path.is_file():
        raise RecipeConfigError(f"recipe config not found: {path}")
    try:
        data = load_yaml(path)
    except (OSError, ValueError) as err:
        raise RecipeConfigError(str(err)) from err
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return config_from_dict(data, where=str(path))
