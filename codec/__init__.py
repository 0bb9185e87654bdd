"""Neural audio codecs behind one interface (`Codec`): our trainable frame-rate codec
(`FrameCodec`), the SEANet codec of the first echovox-tiny (`RVQCodec`), and pretrained EnCodec
through transformers.

    codec = Codec.from_pretrained("path/to/checkpoint")   # or "facebook/encodec_24khz"
    codes = codec.encode_audio(audio, sr)                  # [1, Q, T], resampled for you
    wav = codec.decode(codes)                              # [1, 1, S] at codec.sample_rate

Names are imported lazily (PEP 562) so that `echovox --help`, which imports
`echovox.codec.cli`, does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Codec": "base",
    "best_device": "base",
    "CodecConfig": "config",
    "FrameCodecConfig": "config",
    "FrameCodec": "frame",
    "PRESET_NAMES": "config",
    "match_latents": "matching",
    "match_spectrum": "matching",
    "long_term_spectrum": "matching",
    "CodecOutput": "model",
    "RVQCodec": "model",
    "EncodecCodec": "pretrained",
    "QuantizerOutput": "quantizer",
    "ResidualVectorQuantizer": "quantizer",
}

__all__ = [
    "Codec",
    "CodecConfig",
    "CodecOutput",
    "EncodecCodec",
    "FrameCodec",
    "FrameCodecConfig",
    "PRESET_NAMES",
    "QuantizerOutput",
    "RVQCodec",
    "ResidualVectorQuantizer",
    "best_device",
    "match_latents",
    "match_spectrum",
    "long_term_spectrum",
]

if TYPE_CHECKING:
    from .base import Codec, best_device
    from .config import PRESET_NAMES, CodecConfig, FrameCodecConfig
    from .frame import FrameCodec
    from .matching import long_term_spectrum, match_latents, match_spectrum
    from .model import CodecOutput, RVQCodec
    from .pretrained import EncodecCodec
    from .quantizer import QuantizerOutput, ResidualVectorQuantizer


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
