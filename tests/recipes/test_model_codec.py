"""Stage 7's model.codec: a decoder-only fine-tune of the tokenising codec may stand in for it,
any other codec may not."""

import pytest
import torch

from echovox.codec import RVQCodec
from echovox.recipes.train import check_same_tokens


def _copy_with(src, dst, part: str):
    model = RVQCodec.load_directory(src)
    with torch.no_grad():
        next(getattr(model, part).parameters()).add_(0.01)
    model.save_pretrained(dst)
    return dst


def test_a_decoder_fine_tune_makes_the_same_tokens(tiny_codec_dir, tmp_path):
    check_same_tokens(
        str(tiny_codec_dir), str(_copy_with(tiny_codec_dir, tmp_path / "d", "decoder"))
    )


@pytest.mark.parametrize("part", ["encoder", "quantizer"])
def test_another_encoder_or_codebook_is_refused(tiny_codec_dir, tmp_path, part):
    if part == "quantizer":  # codebooks are buffers, not parameters
        model = RVQCodec.load_directory(tiny_codec_dir)
        model.quantizer.codebooks[0].embed.add_(0.01)
        other = model.save_pretrained(tmp_path / part)
    else:
        other = _copy_with(tiny_codec_dir, tmp_path / part, part)
    with pytest.raises(ValueError, match=f"does not make the tokens.*{part}"):
        check_same_tokens(str(tiny_codec_dir), str(other))
