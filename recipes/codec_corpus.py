"""The codec's corpus: widened synthetic speech, real recordings, and held-out evaluation sets.

A codec has to render voices it never heard, so its training speech is as varied as this
machine can make it, and it is judged on voice families it never trained on (recipes.voices):

    OUT/train/synth/sNNNN/MMM.flac  synthetic speakers of the training families (espeak-ng and
                                    mbrola), each with its own pitch, rate, formant scale (sox
                                    `speed`, then `tempo` back), level, noise colour and SNR, and
                                    some with room reverberation
    OUT/train/real_<lang>/*.flac    Debian's asterisk prompts (studio recordings, CC-BY-SA-3.0)
    OUT/eval/synth/hNNNN/MMM.flac   clean speakers of the held-out families, reading held-out
                                    sentences; OUT/eval.jsonl gives each file's text and family
    OUT/eval/real_<lang>/*.flac     the held-out asterisk language: a real voice of our own
    OUT/val/*.flac                  links to one file per held-out speaker (validation loss)

Every file is a function of the seed and its index, so a killed run resumes where it stopped
(finished files are kept; a file is written under a temporary name, then renamed).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import voices
from .synthetic import clean_sentences, trim

SR = 16_000
ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds")
# asterisk's voice folder per language: en and es are the same speaker (Allison), so es adds
# a language, not a voice; fr is June, it Carlo (the one male voice), ru a third speaker
ASTERISK_VOICES = {
    "en": "en_US_f_Allison",
    "es": "es_MX_f_Allison",
    "fr": "fr_CA_f_June",
    "it": "it_IT_m_Carlo",
    "ru": "ru_RU_f_IvrvoiceRU",
}
FORTUNE_FILES = (
    "fortunes", "literature", "riddles", "wisdom", "people", "humorists", "work", "love",
    "men-women", "politics", "science", "education", "food", "pets", "sports", "songs-poems",
    "miscellaneous", "platitudes", "magic", "medicine", "goedel", "law", "art", "computers",
    "cookie", "definitions", "drugs", "ethnic", "kids", "news", "zippy",
)  # fmt: skip


@dataclass
class CorpusSpec:
    """What `build` makes. The defaults made the speech_16k codec's corpus: 12.4 h of
    synthetic training speech (700 speakers), 1.7 h of real speech, 480 held-out files."""

    out: str
    train_speakers: int = 700
    per_train_speaker: int = 16
    heldout_speakers: int = 24  # two per held-out family
    per_heldout_speaker: int = 20
    real_languages: tuple[str, ...] = ("en", "es", "it", "ru")
    heldout_language: str = "fr"
    num_proc: int = 2
    fortune_dir: str = "/usr/share/games/fortunes"
    val_files: int = 16
    notes: list[str] = field(default_factory=list)


def split_sentences(fortune_dir: str) -> tuple[list[str], list[str]]:
    """Readable fortune sentences, split 9:1 into training and held-out ones by a hash of the
    text, so the split never changes as sentences are added."""
    found: list[str] = []
    for name in FORTUNE_FILES:
        path = Path(fortune_dir) / name
        if path.is_file():
            found.extend(clean_sentences(path.read_text(errors="replace")))
    found = sorted(set(found))
    if not found:
        raise RuntimeError(f"no sentences under {fortune_dir}: apt-get install fortunes")

    def bucket(s: str) -> int:
        return int(hashlib.md5(s.encode()).hexdigest(), 16) % 10

    return [s for s in found if bucket(s) != 0], [s for s in found if bucket(s) == 0]


def speaker_params(index: int, heldout: bool, rng: random.Random) -> dict:
    """One speaker: a base voice and its variation. Held-out speakers cycle through the
    held-out families with milder variation and no noise (clean references to score)."""
    if heldout:
        families = [("mb", v) for v in voices.MBROLA_HELDOUT]
        families += [("es", v) for v in voices.ESPEAK_HELDOUT]
        kind, name = families[index % len(families)]
    else:
        # mbrola voices four times over: they are few, and far more natural than espeak's
        families = [("mb", v) for v in voices.MBROLA_TRAIN] * 4
        families += [("es", v) for v in voices.ESPEAK_TRAIN]
        kind, name = rng.choice(families)
    if kind == "mb":
        base = voices.mbrola_voice(name)
    else:
        base = f"{rng.choice(voices.ESPEAK_BASES)}+{name}"
    formant = rng.uniform(0.95, 1.05) if heldout else rng.uniform(0.9, 1.12)
    return dict(
        voice=base,
        family=f"{kind}-{name}",
        pitch=rng.randint(35, 65) if heldout else rng.randint(20, 80),
        speed=rng.randint(145, 175) if heldout else rng.randint(130, 190),
        formant=round(formant, 3),
        sox_pitch=rng.randint(-200, 200),
        noise=None if heldout or rng.random() < 0.35 else rng.choice(["white", "pink", "brown"]),
        snr=rng.uniform(18, 45),
        level_db=rng.uniform(-32, -14) if not heldout else -22.0,
        reverb=(not heldout) and rng.random() < 0.15,
        reverb_amt=rng.randint(10, 50),
    )


def synthesize(text: str, p: dict) -> np.ndarray:
    """espeak-ng (mbrola through it) then sox: the formant scale is sox `speed` (pitch and
    formants together) with `tempo` undoing its change of rate; espeak's -p sets the pitch."""
    import soundfile as sf

    fx = ["speed", str(p["formant"]), "pitch", str(p["sox_pitch"])]
    fx += ["tempo", "-s", str(round(1 / p["formant"], 4))]
    if p["reverb"]:
        fx += ["reverb", str(p["reverb_amt"]), "50", "30"]
    cmd = ["espeak-ng", "-v", p["voice"], "-p", str(p["pitch"]), "-s", str(p["speed"])]
    esp = subprocess.run([*cmd, "--stdout", text], capture_output=True)
    if esp.returncode or not esp.stdout:
        raise RuntimeError(f"espeak-ng failed for voice {p['voice']}")
    sox_cmd = ["sox", "-q", "-R", "-D", "-t", "wav", "-", "-t", "wav", "-r", str(SR), "-c", "1"]
    sox = subprocess.run([*sox_cmd, "-b", "16", "-", *fx], input=esp.stdout, capture_output=True)
    if sox.returncode or not sox.stdout:
        raise RuntimeError(f"sox failed: {sox.stderr[:200]!r}")
    wav, _ = sf.read(io.BytesIO(sox.stdout), dtype="float32")
    return trim(wav)


def colored_noise(n: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance white, pink (1/f power) or brown (1/f^2 power) noise."""
    w = rng.standard_normal(n).astype(np.float32)
    if kind == "white":
        return w
    spec = np.fft.rfft(w)
    k = np.arange(len(spec)) + 1.0
    x = np.fft.irfft(spec / (np.sqrt(k) if kind == "pink" else k), n).astype(np.float32)
    return x / (x.std() + 1e-9)


def _degrade(wav: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    """The speaker's level and noise, peak-limited to 0.99."""
    rms = np.sqrt(np.mean(wav**2)) + 1e-9
    wav = wav * (10 ** (p["level_db"] / 20) / rms)
    if p["noise"]:
        noise = colored_noise(len(wav), p["noise"], rng)
        wav = wav + noise * (np.sqrt(np.mean(wav**2)) / 10 ** (p["snr"] / 20))
    peak = np.abs(wav).max()
    return wav * 0.99 / peak if peak > 0.99 else wav


def _write_flac(path: Path, wav: np.ndarray) -> None:
    import soundfile as sf

    tmp = path.with_name(path.name + ".partial")
    sf.write(str(tmp), wav.astype(np.float32), SR, format="FLAC")
    tmp.replace(path)


def make_speaker(job: tuple[str, int, bool, list[str]]) -> list[dict]:
    """Synthesise one speaker's sentences (skipping files already there); returns its rows."""
    out, index, heldout, sentences = job
    rng = random.Random(f"spk{index}:{heldout}")
    p = speaker_params(index, heldout, rng)
    folder = Path(out) / ("eval" if heldout else "train") / "synth"
    folder = folder / f"{'h' if heldout else 's'}{index:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    noise_rng = np.random.default_rng(index + (100_000 if heldout else 0))
    rows = []
    for j, text in enumerate(sentences):
        path = folder / f"{j:03d}.flac"
        row = dict(path=str(path.relative_to(out)), text=text, **p)
        if path.exists():
            rows.append(row)
            continue
        try:
            wav = synthesize(text, p)
        except RuntimeError as err:
            print(f"skipped: {err}", file=sys.stderr)
            continue
        if len(wav) < SR // 2:
            continue
        _write_flac(path, _degrade(wav, p, noise_rng))
        rows.append(row)
    return rows


def read_g722(path: Path) -> np.ndarray:
    """An asterisk G.722 prompt (headerless, 16 kHz) as float32 [S]; empty if it has none."""
    import av

    with av.open(str(path), format="g722") as container:
        parts = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    if not parts:
        return np.zeros(0, np.float32)
    return np.concatenate(parts).astype(np.float32) / 32768.0


def import_asterisk(language: str, folder: Path) -> tuple[int, float]:
    """Decode one language's asterisk prompts into folder/*.flac (files under half a second or
    silent are left out). Returns (files, seconds)."""
    src = ASTERISK_SOUNDS / ASTERISK_VOICES[language]
    files = sorted(src.rglob("*.g722"))
    if not files:
        raise RuntimeError(
            f"no asterisk prompts for {language} under {src}: "
            f"apt-get install asterisk-core-sounds-{language}-g722"
        )
    folder.mkdir(parents=True, exist_ok=True)
    n, seconds = 0, 0.0
    for f in files:
        name = str(f.relative_to(src)).replace("/", "__").replace(".g722", ".flac")
        wav = read_g722(f)
        if len(wav) < SR // 2 or np.abs(wav).max() < 1e-3:
            continue
        if not (folder / name).exists():
            _write_flac(folder / name, wav)
        n, seconds = n + 1, seconds + len(wav) / SR
    return n, seconds


def build(spec: CorpusSpec) -> dict:
    """Make (or finish) the corpus under spec.out; returns a summary."""
    from multiprocessing import Pool

    from tqdm import tqdm

    out = Path(spec.out)
    train_s, eval_s = split_sentences(spec.fortune_dir)
    rng = random.Random(0)
    jobs = [(str(out), i, False, rng.sample(train_s, spec.per_train_speaker))
            for i in range(spec.train_speakers)]  # fmt: skip
    jobs += [(str(out), i, True, rng.sample(eval_s, spec.per_heldout_speaker))
             for i in range(spec.heldout_speakers)]  # fmt: skip
    with Pool(spec.num_proc) as pool:
        it = pool.imap(make_speaker, jobs, chunksize=1)
        rows = [r for rs in tqdm(it, total=len(jobs), desc="speakers") for r in rs]
    heldout = [r for r in rows if r["path"].startswith("eval/")]
    _write_jsonl(out / "train.jsonl", [r for r in rows if not r["path"].startswith("eval/")])
    _write_jsonl(out / "eval.jsonl", heldout)
    summary = {"synthetic_files": len(rows), "heldout_files": len(heldout), "real": {}}
    for lang in spec.real_languages:
        summary["real"][lang] = import_asterisk(lang, out / "train" / f"real_{lang}")
    lang = spec.heldout_language
    summary["real"][lang] = import_asterisk(lang, out / "eval" / f"real_{lang}")
    _link_val(out, heldout, spec.val_files)
    return summary


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


def _link_val(out: Path, heldout: list[dict], n: int) -> None:
    """out/val: the first file of the first n held-out speakers, linked."""
    val = out / "val"
    val.mkdir(exist_ok=True)
    firsts = sorted({r["path"] for r in heldout if r["path"].endswith("/000.flac")})[:n]
    for i, rel in enumerate(firsts):
        link = val / f"v{i:02d}.flac"
        if not link.is_symlink():
            os.symlink(os.path.relpath(out / rel, val), link)


__all__ = ["CorpusSpec", "build", "make_speaker", "speaker_params", "split_sentences"]
