"""Helpers shared by the recipe tests (imported via the path entry conftest.py adds)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from echovox.recipes.config import config_from_dict

REPO = Path(__file__).resolve().parents[2]

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")


def synthetic_config(tmp_path: Path, codec: Path | None = None, **synthetic):
    syn = {
        "seed": 0,
        "n_speakers": 4,
        "n_heldout_speakers": 1,
        "chapters_per_speaker": 1,
        "sentences_per_chapter": 4,
        "long_pause_every": 3,
    }
    syn.update(synthetic)
    return config_from_dict(
        {
            "recipe": "synthetic",
            "exp_dir": str(tmp_path / "exp"),
            "corpus": {"root": str(tmp_path / "corpus"), "subsets": ["small"]},
            "synthetic": syn,
            "segment": {"target_seconds": 4.0, "min_seconds": 1.0},
            "asr": {"backend": "reference"},
            "splits": {"dev_speakers": 1, "test_speakers": 0},
            "tokenize": {"codec": str(codec) if codec else None, "batch_size": 4},
            "work": {"num_proc": 1, "shard_size": 4},
        }
    )


def tone_bursts(spans, duration, sr=16000, seed=0) -> np.ndarray:
    """Noise floor with 200 Hz harmonic bursts at `spans`: speech-like energy where wanted."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * sr)) / sr
    wav = 0.001 * rng.standard_normal(t.size)
    for a, b in spans:
        m = (t >= a) & (t < b)
        wav[m] += 0.3 * np.sin(2 * np.pi * 200 * t[m]) + 0.1 * np.sin(2 * np.pi * 600 * t[m])
    return wav.astype(np.float32)


def released_json(speaker: str, book: str, spans, snr: float) -> dict:
    """A LibriLight JSON in the released schema (the fields of the official files)."""
    return {
        "speaker": speaker,
        "book_meta": {
            "id": book, "title": f"Book {book}", "description": "<p>read aloud</p>",
            "url_text_source": "http://www.gutenberg.org/etext/1", "language": "English",
            "copyright_year": "1900", "num_sections": "3", "url_rss": "", "url_zip_file": "",
            "url_project": "", "url_librivox": "", "url_other": None,
            "totaltimesecs": 600, "authors": [{"id": "1", "first_name": "A", "last_name": "B",
                                              "dob": "1800", "dod": "1870"}],
            "genre": ["Fiction"], "Dramatic Readings": False, "meta_genre": "Literature",
        },
        "snr": snr,
        "voice_activity": [[round(a, 3), round(b, 3)] for a, b in spans],
    }  # fmt: skip


def librilight_file(root: Path, rel: str, sentences: list[str], voice="mb-us1", snr=20.0):
    """<root>/<rel>.flac spoken by espeak-ng (an mbrola voice), with its released-schema JSON
    and, under <root>/transcripts/, the true sentences for the `reference` ASR backend."""
    import json
    import subprocess
    import tempfile

    import soundfile as sf

    sr, pieces, spans, truth, t = 16000, [np.zeros(8000, np.float32)], [], [], 0.5
    for text in sentences:
        with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
            subprocess.run(["espeak-ng", "-v", voice, "-w", tmp.name, text], check=True,
                           stderr=subprocess.DEVNULL)  # fmt: skip
            wav, file_sr = sf.read(tmp.name, dtype="float32")
        assert file_sr == sr
        spans.append((t, t + len(wav) / sr))
        truth.append({"start": round(t, 3), "end": round(t + len(wav) / sr, 3), "text": text})
        pieces += [wav, np.zeros(int(1.6 * sr), np.float32)]  # a pause that ends an utterance
        t += len(wav) / sr + 1.6
    flac = root / f"{rel}.flac"
    flac.parent.mkdir(parents=True, exist_ok=True)
    sf.write(flac, np.concatenate(pieces), sr)
    subset, speaker, book, _ = rel.split("/")
    flac.with_suffix(".json").write_text(json.dumps(released_json(speaker, book, spans, snr)))
    ref = root / "transcripts" / f"{rel}.json"
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(json.dumps({"speaker": speaker, "sentences": truth}))
    return flac
