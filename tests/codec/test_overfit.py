"""The trainable codec can learn to say words: the tiny preset, trained by the real trainer
on one spoken sentence, resynthesises it so that Whisper base hears the sentence."""

from __future__ import annotations

import pytest
import torch
from model_helpers import mbrola_speech

from echovox.audio import save_audio
from echovox.eval.metrics import word_errors

SAID = "Please open the window in the kitchen."


@pytest.mark.slow
def test_tiny_codec_overfits_one_sentence_to_intelligible_speech(tmp_path, whisper):
    from echovox.codec import Codec
    from echovox.codec.training import RunConfig, train

    wav = mbrola_speech(SAID, "mb-en1")  # about 2.3 s
    save_audio(tmp_path / "audio" / "said.wav", wav, 16_000)
    run = RunConfig.from_dict({
        "model": {"preset": "tiny"},
        # reconstruction losses only: the spectral loss alone is what has to keep the words
        "train": {"lr": 3e-3, "lr_warmup_steps": 10, "adv_weight": 0.0, "fm_weight": 0.0,
                  "log_utilisation_every": 100},
        # crops of 2 s: nearly the whole sentence in every step
        "data": {"train_dir": str(tmp_path / "audio"), "val_dir": None, "segment_seconds": 2.0,
                 "batch_size": 2, "items_per_epoch": 400, "num_workers": 0},
        "trainer": {"max_steps": 600, "accelerator": "cpu", "devices": 1, "torch_threads": 1,
                    "log_every_n_steps": 100, "ckpt_every_n_steps": 1000,
                    "val_every_n_steps": 1000},
        "out_dir": str(tmp_path / "run"),
    })  # fmt: skip
    codec = Codec.from_pretrained(train(run), device="cpu")
    with torch.no_grad():
        out = codec.decode(codec.encode(torch.from_numpy(wav)[None, None]))[0, 0].numpy()
    heard_original, heard = whisper.transcribe([wav, out])
    assert word_errors(SAID, heard_original).wer <= 0.2, heard_original
    assert word_errors(SAID, heard).wer <= 0.3, heard  # the resynthesis says the sentence
