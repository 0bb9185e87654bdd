import subprocess
import sys

import pytest

from echovox.text import Phonemizer
from echovox.text.bpe import PhonemeBPE, train_bpe

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "she sells sea shells by the sea shore",
    "how much wood would a woodchuck chuck",
    "peter piper picked a peck of pickled peppers",
]


@pytest.fixture(scope="module")
def corpus():
    return Phonemizer().phonemize(SENTENCES * 20)


def test_train_encode_decode_round_trip(tmp_path, corpus):
    bpe = train_bpe(corpus, tmp_path / "bpe", vocab_size=100)
    assert bpe.model_file.is_file()
    for tokens in corpus[:4]:
        ids = bpe.encode(tokens)
        assert len(ids) < len(tokens)  # merges happened
        assert bpe.decode(ids) == tokens
    reloaded = PhonemeBPE(bpe.model_file)
    assert reloaded.encode(corpus[0]) == bpe.encode(corpus[0])


def test_empty_corpus(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        train_bpe([[], []], tmp_path / "bpe")


def test_cli(tmp_path, corpus):
    corpus_file = tmp_path / "corpus.txt"
    corpus_file.write_text("\n".join(" ".join(t) for t in corpus))
    out = tmp_path / "model"
    cmd = [sys.executable, "-m", "echovox.app.cli", "bpe", "train", str(corpus_file), str(out)]
    subprocess.run([*cmd, "--vocab_size", "90"], check=True, capture_output=True)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "echovox.app.cli",
            "bpe",
            "encode",
            f"{out}.model",
            " ".join(corpus[0]),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    ids = [int(i) for i in res.stdout.split()]
    assert PhonemeBPE(f"{out}.model").decode(ids) == corpus[0]
