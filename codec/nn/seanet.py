"""SEANet encoder and decoder (the convolutional trunk of SoundStream and EnCodec)."""

from __future__ import annotations

from torch import Tensor, nn

from .conv import LSTMBlock, PaddedConv1d, PaddedConvTranspose1d, ResidualUnit


class SEANetEncoder(nn.Module):
    """[B, 1, S] waveform -> [B, dim, ceil(S / hop)] latent frames."""

    def __init__(
        self,
        channels: int,
        dim: int,
        strides: tuple[int, ...],
        n_residual_layers: int = 1,
        kernel_size: int = 7,
        last_kernel_size: int = 7,
        residual_kernel_size: int = 3,
        dilation_base: int = 2,
        compress: int = 2,
        lstm_layers: int = 2,
        causal: bool = False,
        pad_mode: str = "reflect",
    ) -> None:
        super().__init__()
        kw = {"causal": causal, "pad_mode": pad_mode}
        layers: list[nn.Module] = [PaddedConv1d(1, channels, kernel_size, **kw)]
        width = channels
        for stride in strides:
            for j in range(n_residual_layers):
                layers.append(
                    ResidualUnit(width, residual_kernel_size, dilation_base**j, compress, **kw)
                )
            layers += [nn.ELU(), PaddedConv1d(width, width * 2, stride * 2, stride=stride, **kw)]
            width *= 2
        if lstm_layers:
            layers.append(LSTMBlock(width, lstm_layers))
        layers += [nn.ELU(), PaddedConv1d(width, dim, last_kernel_size, **kw)]
        self.layers = nn.Sequential(*layers)

    def forward(self, wav: Tensor) -> Tensor:
        return self.layers(wav)


class SEANetDecoder(nn.Module):
    """[B, dim, T] latent frames -> [B, 1, T * hop] waveform (the encoder's mirror image)."""

    def __init__(
        self,
        channels: int,
        dim: int,
        strides: tuple[int, ...],
        n_residual_layers: int = 1,
        kernel_size: int = 7,
        last_kernel_size: int = 7,
        residual_kernel_size: int = 3,
        dilation_base: int = 2,
        compress: int = 2,
        lstm_layers: int = 2,
        causal: bool = False,
        pad_mode: str = "reflect",
    ) -> None:
        super().__init__()
        kw = {"causal": causal, "pad_mode": pad_mode}
        width = channels * 2 ** len(strides)
        layers: list[nn.Module] = [PaddedConv1d(dim, width, kernel_size, **kw)]
        if lstm_layers:
            layers.append(LSTMBlock(width, lstm_layers))
        for stride in reversed(strides):
            layers += [
                nn.ELU(),
                PaddedConvTranspose1d(width, width // 2, stride * 2, stride, causal=causal),
            ]
            width //= 2
            for j in range(n_residual_layers):
                layers.append(
                    ResidualUnit(width, residual_kernel_size, dilation_base**j, compress, **kw)
                )
        layers += [nn.ELU(), PaddedConv1d(width, 1, last_kernel_size, **kw)]
        self.layers = nn.Sequential(*layers)

    def forward(self, latent: Tensor) -> Tensor:
        return self.layers(latent)
