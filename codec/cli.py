"""`echovox codec ...` subcommands. Heavy imports live inside the functions so that
`echovox --help` stays fast. `train`, with many options, is a dataclass of them whose instance
runs when called (jsonargparse builds its flags from the fields, as for a function)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Train:
    """Train the frame-rate codec from a YAML run config (see codec/configs/).

    Args:
        config_file: YAML run config with model/train/data/trainer sections; `base: OTHER.yaml`
            starts from another run config and overrides it key by key.
        max_steps: generator steps (overrides trainer.max_steps).
        accelerator: Lightning accelerator: cpu, gpu or auto.
        devices: device count or list, e.g. 1, 2 or auto.
        strategy: Lightning strategy, e.g. ddp.
        precision: 32-true, or bf16-mixed on a GPU.
        ckpt_path: Lightning checkpoint to resume from (e.g. OUT/checkpoints/last.ckpt).
        out_dir: where checkpoints, logs and the exported model (OUT/model, with the
            run's discriminators beside it as discriminator.safetensors) go.
        train_dir: folder of training audio (overrides data.train_dir).
        val_dir: folder of validation audio (overrides data.val_dir).
        torch_threads: CPU threads for torch (0: default).
        init_from: exported codec directory to fine-tune from, or a whole model directory
            (its codec; e.g. app/pretrained/echovox-tiny) (overrides init_from); its
            discriminator.safetensors, where present and of this run's layout, seeds the
            discriminators too. Where there is none, set train.disc_warmup_steps so that
            the fresh discriminators learn before the codec follows them.
        max_time: wall-clock budget "DD:HH:MM:SS" (overrides trainer.max_time); training
            stops at whichever of max_steps and max_time comes first. A resumed run counts
            its budget from zero, not from the time the checkpoint's runs already spent.
        keep_exports: keep every periodic export as OUT/exports/step-NNNNNN (overrides
            trainer.keep_exports), to average a run's exports with `echovox codec average`.
    """

    config_file: str
    max_steps: int | None = None
    accelerator: str | None = None
    devices: str | None = None
    strategy: str | None = None
    precision: str | None = None
    ckpt_path: str | None = None
    out_dir: str | None = None
    train_dir: str | None = None
    val_dir: str | None = None
    torch_threads: int | None = None
    init_from: str | None = None
    max_time: str | None = None
    keep_exports: bool | None = None

    def __call__(self) -> str:
        from .training import RunConfig
        from .training import train as fit

        run = RunConfig.from_yaml(self.config_file)
        devices = self.devices
        trainer = {
            "max_steps": self.max_steps,
            "accelerator": self.accelerator,
            "devices": int(devices) if devices and devices.isdigit() else devices,
            "strategy": self.strategy,
            "precision": self.precision,
            "torch_threads": self.torch_threads,
            "max_time": self.max_time,
            "keep_exports": self.keep_exports,
        }
        for section, values in (
            (run.trainer, trainer),
            (run.data, {"train_dir": self.train_dir, "val_dir": self.val_dir}),
            (run, {"out_dir": self.out_dir, "init_from": self.init_from}),
        ):
            for k, v in values.items():
                if v is not None:
                    setattr(section, k, v)
        exported = fit(run, ckpt_path=self.ckpt_path)
        print(f"exported codec: {exported}")
        return str(exported)


def encode(input: str, output: str, model: str, n_q: int | None = None) -> str:
    """Encode an audio file to codes (.npz: codes [Q, T], sample_rate, frame_rate, model).

    Args:
        input: audio file (any sample rate and channel count; resampled for the codec).
        output: .npz file to write.
        model: codec checkpoint directory or "facebook/encodec_24khz".
        n_q: number of codebooks (default: all).
    """
    from pathlib import Path

    import numpy as np
    import soundfile as sf

    from echovox.audio import AudioError

    from .base import Codec

    codec = Codec.from_pretrained(model)
    try:
        audio, sr = sf.read(input, dtype="float32")
    except Exception as err:  # soundfile raises several types for unreadable files
        raise AudioError(f"cannot read audio file {input}: {err}") from err
    codes = codec.encode_audio(audio, sr, n_q=n_q)[0]
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        codes=codes.numpy().astype(np.int32),
        sample_rate=codec.sample_rate,
        frame_rate=codec.frame_rate,
        codebook_size=codec.codebook_size,
        n_samples=int(round(len(audio) / sr * codec.sample_rate)),
        model=str(model),
    )
    print(f"{input} -> {out}: {codes.shape[0]} codebooks x {codes.shape[1]} frames")
    return str(out)


def decode(input: str, output: str, model: str | None = None) -> str:
    """Decode a .npz written by `echovox codec encode` back to audio.

    Args:
        input: .npz file with `codes` [Q, T].
        output: audio file to write (.wav or .flac).
        model: codec checkpoint (default: the one recorded in the .npz).
    """
    import numpy as np
    import torch

    from echovox.audio import save_audio

    from .base import Codec

    # allow_pickle=False: the file is user input, and loading must never unpickle
    with np.load(input, allow_pickle=False) as z:
        if "codes" not in z:
            raise ValueError(f"{input} has no 'codes' array; was it written by `codec encode`?")
        codes = torch.from_numpy(z["codes"].astype(np.int64))
        n_samples = int(z["n_samples"]) if "n_samples" in z else None
        model = model or (str(z["model"]) if "model" in z else None)
    if model is None:
        raise ValueError(f"{input} records no model; pass --model")
    if codes.dim() != 2:
        raise ValueError(f"codes in {input} must be [Q, T], got {tuple(codes.shape)}")
    codec = Codec.from_pretrained(model)
    wav = codec.decode(codes[None])[0, 0].cpu().numpy()
    if n_samples is not None:
        wav = wav[:n_samples]
    save_audio(output, wav, codec.sample_rate)
    print(f"{input} -> {output}: {len(wav) / codec.sample_rate:.2f} s at {codec.sample_rate} Hz")
    return output


def average(models: list[str], output: str, weights_dtype: str = "float32") -> str:
    """Average the weights of several exports of one codec training run (checkpoint averaging).

    A GAN-trained decoder swings from one export to the next: the CPU decoder fine-tune's
    exports 250-2,000 steps apart differed by up to 0.025 in how much of the speaker their
    resynthesis kept. The mean of a run's late exports is steadier than any one of them, and
    picking no single export keeps the choice free of selection on the evaluation set.

    Args:
        models: two or more exported codec directories with the same config.
        output: directory for the averaged codec (safetensors + config.json).
        weights_dtype: float32, or float16 to store it at about half the size (loading casts
            back to float32; the mean itself is taken in float64 either way).
    """
    import torch

    from echovox.checkpoint import storage_dtype

    from .base import Codec

    if len(models) < 2:
        raise ValueError(f"average needs two or more codec directories, got {len(models)}")
    storage_dtype(weights_dtype)  # a bad name fails before anything loads
    codecs = [Codec.from_pretrained(m, device="cpu") for m in models]
    if not all(hasattr(c, "config") and type(c) is type(codecs[0]) for c in codecs):
        raise ValueError("average takes exports of one of our codecs, all of the same kind")
    for path, codec in zip(models[1:], codecs[1:]):
        diff = codecs[0].config.differences(codec.config)
        if diff:
            raise ValueError(f"{path} has a different codec config than {models[0]}: {diff}")
    states = [c.state_dict() for c in codecs]
    merged, differ = {}, set()
    for name, value in states[0].items():
        same = all(torch.equal(value, s[name]) for s in states[1:])
        if not same:
            differ.add(name.split(".")[0])
        if value.is_floating_point():
            merged[name] = torch.stack([s[name].double() for s in states]).mean(0).to(value.dtype)
        elif not same:
            raise ValueError(f"integer tensor {name} differs between the codecs; cannot average")
        else:
            merged[name] = value
    codecs[0].load_state_dict(merged)
    out = codecs[0].save_pretrained(output, weights_dtype=weights_dtype)
    tokens = "change" if differ & {"encoder", "quantizer"} else "stay the same"
    print(
        f"averaged {len(models)} codecs -> {out}; parts that differed: "
        f"{', '.join(sorted(differ)) or 'none'}, so the tokens {tokens}"
    )
    return str(out)


def export(
    model: str, output: str, weights_dtype: str = "float16", n_codebooks: int | None = None
) -> str:
    """Write a codec to ship or to hand on: its weights in `weights_dtype`, optionally only the
    first `n_codebooks` of its residual quantiser.

    Args:
        model: an exported codec directory (a run's `model/`, or `codec average`'s output).
        output: directory for the copy (safetensors + config.json).
        weights_dtype: float16 (about half the size; loading casts back to float32) or float32.
        n_codebooks: keep this many codebooks (default: all). The tokens at n_q up to it, and
            what they decode to, stay the same.
    """
    from echovox.checkpoint import storage_dtype

    from .base import Codec

    storage_dtype(weights_dtype)  # a bad name fails before anything loads
    codec = Codec.from_pretrained(model, device="cpu")
    if not hasattr(codec, "keep_codebooks"):
        raise ValueError(f"{model} is not one of our codecs (export writes FrameCodec/RVQCodec)")
    if n_codebooks is not None:
        codec.keep_codebooks(n_codebooks)
    out = codec.save_pretrained(output, weights_dtype=weights_dtype)
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    print(f"{model} -> {out}: {codec.n_codebooks} codebooks, {weights_dtype}, {size:.1f} MB")
    return str(out)


# `echovox codec eval` judges by words, so it needs a recogniser: echovox.eval mounts it here
COMMANDS = {
    "train": Train, "encode": encode, "decode": decode, "average": average, "export": export,
}  # fmt: skip
