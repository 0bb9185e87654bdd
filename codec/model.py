"""Our trainable SoundStream/EnCodec-style codec: SEANet encoder, RVQ, SEANet decoder."""

from __future__ import annotations

from dataclasses import fields

from .config import CodecConfig
from .nn.seanet import SEANetConfig, SEANetDecoder, SEANetEncoder
from .quantized import CodecOutput, QuantizedCodec

__all__ = ["CodecOutput", "RVQCodec"]


class RVQCodec(QuantizedCodec):
    codec_type = "rvq"
    config_class = CodecConfig
    kind = "RVQ codec"

    def __init__(self, config: CodecConfig) -> None:
        trunk = SEANetConfig(**{f.name: getattr(config, f.name) for f in fields(SEANetConfig)})
        super().__init__(config, SEANetEncoder(trunk), SEANetDecoder(trunk))
