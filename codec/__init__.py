"""Neural audio codecs behind one interface (`Codec`): our trainable RVQ codec and pretrained
EnCodec through transformers.

    codec = Codec.from_pretrained("path/to/checkpoint")   # or "facebook/encodec_24khz"
    codes = codec.encode_audio(audio, sr)                  # [1, Q, T], resampled for you
    wav = codec.decode(codes)                              # [1, 1, S] at codec.sample_rate
"""

from .base import Codec, best_device
from .config import PRESET_NAMES, CodecConfig
from .model import CodecOutput, RVQCodec
from .pretrained import EncodecCodec
from .quantizer import QuantizerOutput, ResidualVectorQuantizer

__all__ = [
    "Codec",
    "CodecConfig",
    "CodecOutput",
    "EncodecCodec",
    "PRESET_NAMES",
    "QuantizerOutput",
    "RVQCodec",
    "ResidualVectorQuantizer",
    "best_device",
]
