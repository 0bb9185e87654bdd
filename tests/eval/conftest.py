"""Fixtures of the eval tests: espeak-ng speech in a LibriSpeech-shaped tree, a tiny random
WavLM speaker verifier, and one torch thread for scoring."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import soundfile as sf

# two voices, each with long (4-10 s) and short (<= 4 s) sentences
SENTENCES = {
    "19": [
        (
            "en-us+m3",
            "The quick brown fox jumps over the lazy dog near the quiet river bank today.",
        ),
        ("en-us+m3", "She sells sea shells by the sea shore every summer morning before the sun."),
        ("en-us+m3", "Good morning to you all."),
        ("en-us+m3", "Please call me back soon."),
    ],
    "26": [
        ("en-us+f3", "A journey of a thousand miles begins with a single step along the road."),
        ("en-us+f3", "Every cloud has a silver lining if you look at it from the right side."),
        ("en-us+f3", "Time waits for no one."),
        ("en-us+f3", "Birds of a feather fly."),
    ],
}


def espeak(path, text: str, voice: str, speed: int = 150):
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    return path


@pytest.fixture(scope="session")
def one_thread():
    """Scoring on a CPU shared with other jobs: torch's thread pool spins against them and a
    small LSTM was about 90x slower at 2 threads than at 1 here."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def librispeech_tree(tmp_path_factory):
    """SPEAKER/CHAPTER/SPEAKER-CHAPTER-NNNN.flac with an upper-case *.trans.txt per chapter."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng")
    root = tmp_path_factory.mktemp("librispeech") / "test-clean"
    tmp = tmp_path_factory.mktemp("espeak")
    for spk, sents in SENTENCES.items():
        chapter = root / spk / "100"
        chapter.mkdir(parents=True)
        lines = []
        for i, (voice, text) in enumerate(sents):
            uid = f"{spk}-100-{i:04d}"
            wav, sr = sf.read(str(espeak(tmp / f"{uid}.wav", text, voice)))
            sf.write(str(chapter / f"{uid}.flac"), wav, sr)
            words = text.upper().replace(".", "").replace(",", "")
            lines.append(f"{uid} {words}")
        (chapter / f"{spk}-100.trans.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def tiny_wavlm(tmp_path_factory):
    import torch
    from transformers import WavLMConfig, WavLMForXVector

    cfg = WavLMConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        tdnn_dim=(16, 16),
        tdnn_kernel=(3, 1),
        tdnn_dilation=(1, 1),
        xvector_output_dim=8,
        num_buckets=16,
        max_bucket_distance=32,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("wavlm") / "tiny-sv"
    WavLMForXVector(cfg).save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def spoken_sentences():
    """The voices and sentences of `librispeech_tree`, by speaker."""
    return SENTENCES
