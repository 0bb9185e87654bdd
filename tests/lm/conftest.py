import pytest
import torch

from echovox.lm.config import ARConfig, NARConfig

V, K, Q = 40, 32, 4  # phoneme vocabulary, codebook size, codebooks of the toy setups


@pytest.fixture
def ar_config() -> ARConfig:
    return ARConfig.from_name("tiny", n_phonemes=V, codebook_size=K, n_codebooks=Q)


@pytest.fixture
def nar_config() -> NARConfig:
    return NARConfig.from_name("tiny", n_phonemes=V, codebook_size=K, n_codebooks=Q)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
