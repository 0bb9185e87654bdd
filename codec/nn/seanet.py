"""SEANet encoder and decoder (the convolutional trunk of SoundStream and EnCodec)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .conv import LSTMBlock, PaddedConv1d, PaddedConvTranspose1d, ResidualUnit


@dataclass(frozen=True)
class SEANetConfig:
    """The trunk both halves share (CodecConfig's fields of the same names): `channels` at
    the waveform end, doubled after each of `strides`, `dim` at the latent end;
    `n_residual_layers` dilated residual units per stride, their channels squeezed by
    `compress`; an LSTM of `lstm_layers` at the latent end (0: none)."""

    channels: int
    dim: int
    strides: tuple[int, ...]
    n_residual_layers: int = 1
    kernel_size: int = 7
    last_kernel_size: int = 7
    residual_kernel_size: int = 3
    dilation_base: int = 2
    compress: int = 2
    lstm_layers: int = 2
    causal: bool = False
    pad_mode: str = "reflect"


class SEANetEncoder(nn.Module):
    """[B, 1, S] waveform -> [B, dim, ceil(S / hop)] latent frames."""

    def __init__(self, c: SEANetConfig) -> None:
        super().__init__()
        kw = {"causal": c.causal, "pad_mode": c.pad_mode}
        layers: list[nn.Module] = [PaddedConv1d(1, c.channels, c.kernel_size, **kw)]
        width = c.channels
        for stride in c.strides:
            for j in range(c.n_residual_layers):
                layers.append(_residual_unit(c, width, j))
            layers += [nn.ELU(), PaddedConv1d(width, width * 2, stride * 2, stride=stride, **kw)]
            width *= 2
        if c.lstm_layers:
            layers.append(LSTMBlock(width, c.lstm_layers))
        layers += [nn.ELU(), PaddedConv1d(width, c.dim, c.last_kernel_size, **kw)]
        self.layers = nn.Sequential(*layers)

    def forward(self, wav: Tensor) -> Tensor:
        return self.layers(wav)


class SEANetDecoder(nn.Module):
    """[B, dim, T] latent frames -> [B, 1, T * hop] waveform (the encoder's mirror image)."""

    def __init__(self, c: SEANetConfig) -> None:
        super().__init__()
        kw = {"causal": c.causal, "pad_mode": c.pad_mode}
        width = c.channels * 2 ** len(c.strides)
        layers: list[nn.Module] = [PaddedConv1d(c.dim, width, c.kernel_size, **kw)]
        if c.lstm_layers:
            layers.append(LSTMBlock(width, c.lstm_layers))
        for stride in reversed(c.strides):
            layers += [
                nn.ELU(),
                PaddedConvTranspose1d(width, width // 2, stride * 2, stride, causal=c.causal),
            ]
            width //= 2
            for j in range(c.n_residual_layers):
                layers.append(_residual_unit(c, width, j))
        layers += [nn.ELU(), PaddedConv1d(width, 1, c.last_kernel_size, **kw)]
        self.layers = nn.Sequential(*layers)

    def forward(self, latent: Tensor) -> Tensor:
        return self.layers(latent)


def _residual_unit(c: SEANetConfig, width: int, j: int) -> ResidualUnit:
    """The j-th residual unit after (encoder) or before (decoder) a stride: dilation base**j."""
    return ResidualUnit(
        width, c.residual_kernel_size, c.dilation_base**j, c.compress,
        causal=c.causal, pad_mode=c.pad_mode,
    )  # fmt: skip
