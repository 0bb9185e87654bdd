"""A golden test of the shipped model: the embedded echovox-tiny, the bundled prompt, a fixed
text and seed, float32 throughout and one thread, so that the numbers do not depend on
whether this CPU has bfloat16 instructions. The AR's first 20 codes and the output's length
are asserted exactly: an accidental change to the weights, the text front end, the prompt
conditioning or the decoding shows here first.

If a change is meant to move them, rerun with GOLDEN_PRINT=1 to print the new values, and
say in the commit why they moved. The values were taken on a 2-core AMD EPYC; float32 sums may
round differently on another instruction set, so a failure on a new machine with no change
behind it is worth a GOLDEN_PRINT run before anything else."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from echovox.app.demo import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT

TEXT = "The cat sat on the mat."
SEED = 0
FIRST_CODES = [
    893, 720, 584, 343, 343, 782, 195, 781, 781, 957,
    195, 781, 776, 781, 782, 781, 781, 933, 781, 781,
]  # fmt: skip
N_SAMPLES = 58_240  # 3.64 s at 16 kHz


@pytest.fixture(scope="module")
def embedded():
    from echovox.app.synthesizer import Synthesizer

    return Synthesizer.from_pretrained(device="cpu", half_weights=False, bf16=False)


def test_shipped_model_output_is_unchanged(embedded, monkeypatch):
    import echovox.lm.generate as generate

    runs = []
    original = generate.generate_ar

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        runs.append(out)
        return out

    monkeypatch.setattr(generate, "generate_ar", recording)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        settings = embedded.default_settings(seed=SEED)
        audio = embedded.clone(
            TEXT, prompt=EXAMPLE_PROMPT, prompt_text=EXAMPLE_PROMPT_TEXT, settings=settings
        )
    finally:
        torch.set_num_threads(threads)
    assert len(runs) == 1 and len(runs[0].codes) == 1
    codes = runs[0].codes[0][:20].tolist()
    if os.environ.get("GOLDEN_PRINT"):
        print(f"\nFIRST_CODES = {codes}\nN_SAMPLES = {len(audio.waveform)}")
    assert codes == FIRST_CODES
    assert len(audio.waveform) == N_SAMPLES
    # a trained model: it ends the sentence itself, and says something
    assert audio.stop_reasons == ["eos"]
    assert audio.sample_rate == 16_000 and audio.waveform.dtype == np.float32
    assert float(np.sqrt(np.mean(audio.waveform**2))) > 1e-3
