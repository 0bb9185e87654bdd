"""Ground-truth-aligned (GTA) latents: what the model's LMs give the codec decoder for the
training audio, frame-aligned with that audio, so the decoder can be fine-tuned on them
(`data.latents_dir` of a codec run, `echovox.codec.training.LatentSegments`).

Why: the codec decoder learned to render the quantiser's latents, but at synthesis it renders
the NAR's expected latents (voice-matched), which are smoother than any true latent. Tacotron 2
trained its WaveNet vocoder on the mels its own model predicted for the training audio (Shen
et al., 2018) for the same reason. Here each training utterance's true first codebook is
completed by the NAR exactly as synthesis completes the AR's (`Synthesizer`'s nar_decoding,
latent_contrast and voice_match; spectral_match acts after the decoder, so not here), with a
3-s prompt cut from another utterance of the same speaker.

A shard is an `.npz` of up to `shard_size` utterances (no pickles): ids, paths, starts, ends
(seconds in the recording), samples (the span's length at the model's rate) and lat_0 ...
lat_{N-1} ([D, ceil(samples / hop)] float16). Shards are written whole (a temporary name, then
renamed), so a killed job resumes where it stopped: finished shards are skipped, and which
utterances and prompts go into a shard depends only on the seed.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from echovox.audio import load_audio


def plan_shards(
    utterances: Sequence[Mapping[str, Any]], shard_size: int, seed: int, limit: int | None
) -> list[list[tuple[Mapping[str, Any], Mapping[str, Any]]]]:
    """Shuffle the utterances (by seed), keep the first `limit`, pair each with a prompt
    utterance of its speaker (another one, drawn by seed) and cut the list into shards.
    Utterances whose speaker has no other utterance are left out."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be at least 1, got {shard_size}")
    by_speaker: dict[str, list[Mapping[str, Any]]] = {}
    for u in utterances:
        by_speaker.setdefault(str(u["speaker"]), []).append(u)
    rng = np.random.default_rng(seed)
    order = [utterances[i] for i in rng.permutation(len(utterances))]
    order = [u for u in order if len(by_speaker[str(u["speaker"])]) > 1]
    if limit is not None:
        order = order[:limit]
    pairs = []
    for u in order:
        others = [o for o in by_speaker[str(u["speaker"])] if o["id"] != u["id"]]
        pairs.append((u, others[int(rng.integers(len(others)))]))
    return [pairs[i : i + shard_size] for i in range(0, len(pairs), shard_size)]


def write_gta_latents(
    synth,
    utterances: Sequence[Mapping[str, Any]],
    output: str | Path,
    *,
    shard_size: int = 32,
    batch_size: int = 8,
    seed: int = 0,
    limit: int | None = None,
    progress: bool = True,
) -> dict[str, int]:
    """Write GTA latent shards of `utterances` (dicts with id, speaker, text, path, start,
    end: a recording span and its transcript) to `output` with the loaded Synthesizer `synth`.
    Returns counts: shards written, skipped (already there), utterances written, and
    utterances left out for bad audio or text (each one warned about)."""
    from tqdm import tqdm

    if synth.config.nar_decoding != "expected":
        raise ValueError(
            "GTA latents are the NAR's expected latents; this model decodes the NAR's codes "
            f"({synth.config.nar_decoding!r}), and its decoder needs no GTA fine-tune"
        )
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    shards = plan_shards(utterances, shard_size, seed, limit)
    counts = {"written": 0, "skipped": 0, "utterances": 0, "left_out": 0}
    sr = synth.sample_rate
    bar = tqdm(total=sum(map(len, shards)), desc="gta latents", unit="utt", disable=not progress)
    for index, shard in enumerate(shards):
        path = out / f"shard_{index:05d}.npz"
        if path.exists():
            counts["skipped"] += 1
            bar.update(len(shard))
            continue
        meta, prompts, phonemes, firsts = [], [], [], []
        for u, p in shard:
            try:
                wav = load_audio(u["path"], sr, start=u["start"], end=u["end"])
                wav = synth._recording(wav, sr, "gta_latents")
                prompt_wav = load_audio(p["path"], sr, start=p["start"], end=p["end"])
                with warnings.catch_warnings():
                    # the prompt utterance is cut to the model's 3 s and its transcript
                    # shortened in proportion, as a long prompt is at synthesis
                    warnings.simplefilter("ignore")
                    vp = synth.prepare_prompt(prompt_wav, p["text"], sample_rate=sr)
                seq, first = synth._first_codebook_inputs(wav, u["text"], vp)
            except ValueError as err:  # AudioError and TextError: bad audio or text
                warnings.warn(f"GTA latents: left out {u['id']}: {err}", stacklevel=2)
                counts["left_out"] += 1
                continue
            meta.append((u["id"], str(u["path"]), float(u["start"]), float(u["end"]), len(wav)))
            prompts.append(vp)
            phonemes.append(seq)
            firsts.append(first)
        latents = []
        for b in range(0, len(meta), batch_size):
            batch = slice(b, b + batch_size)
            probs = synth._nar_distributions(
                prompts[batch], phonemes[batch], firsts[batch], seed + index * 1000 + b
            )
            for pr, vp in zip(probs, prompts[batch]):
                with synth._cpu_autocast():
                    latent = synth.output_latent(pr, vp.codes, expected=True)
                latents.append(latent[0].float().cpu().half().numpy())
        if meta:
            # written under a name the readers' *.npz glob skips, then renamed: a killed job
            # leaves no half shard that training would read
            tmp = path.with_name(path.name + ".partial")
            with open(tmp, "wb") as f:  # a file object: np.savez adds no suffix to it
                np.savez(
                    f,
                    ids=np.array([m[0] for m in meta]),
                    paths=np.array([m[1] for m in meta]),
                    starts=np.array([m[2] for m in meta]),
                    ends=np.array([m[3] for m in meta]),
                    samples=np.array([m[4] for m in meta]),
                    **{f"lat_{i}": lat for i, lat in enumerate(latents)},
                )
            os.replace(tmp, path)
            counts["written"] += 1
            counts["utterances"] += len(meta)
        bar.update(len(shard))
    bar.close()
    return counts


def corpus_utterances(tokens: str | Path, segments: str | Path) -> list[dict[str, Any]]:
    """The utterances of a recipe's token split (id, speaker, text) with their recording
    spans from its segments dataset (path, start, end): what `write_gta_latents` takes."""
    from datasets import load_from_disk

    for p in (tokens, segments):
        if not Path(p).is_dir():
            raise FileNotFoundError(f"dataset folder not found: {p}")
    tok = load_from_disk(str(tokens))
    missing = {"id", "speaker", "text"} - set(tok.column_names)
    if missing:
        raise ValueError(f"{tokens} lacks the columns {sorted(missing)}")
    seg = load_from_disk(str(segments)).select_columns(["id", "path", "start", "end"])
    spans = {r["id"]: r for r in seg}
    out = []
    for r in tok.select_columns(["id", "speaker", "text"]):
        s = spans.get(r["id"])
        if s is None:
            raise ValueError(f"{segments} has no recording span for utterance {r['id']}")
        out.append({**r, "path": s["path"], "start": s["start"], "end": s["end"]})
    return out
