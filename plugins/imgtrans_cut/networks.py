"""CUT's networks, laid out as the authors' `models/networks.py`
(taesungp/contrastive-unpaired-translation) so that their `latest_net_G.pth`
files load unchanged: the ResNet generator with antialiased down- and
upsampling (fixed binomial blurs, kept as persistent `filt` buffers as theirs
are), its PatchGAN with the same downsampling, and the MLP heads of PatchNCE.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from imgtrans.blocks import norm_layer, uses_bias


def binomial(size: int) -> torch.Tensor:
    """The size x size binomial blur (a row of Pascal's triangle, outer product), summing to 1."""
    row = torch.tensor([float(math.comb(size - 1, k)) for k in range(size)])
    kernel = row[:, None] * row[None, :]
    return kernel / kernel.sum()


class Downsample(nn.Module):
    """Blur, then keep every second pixel (Zhang 2019, "Making convolutional
    networks shift-invariant again"): a depthwise 3x3 binomial convolution of
    stride 2 over a 1-pixel reflection pad."""

    filt: torch.Tensor

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.pad = nn.ReflectionPad2d(1)
        self.register_buffer("filt", binomial(3)[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(self.pad(x), self.filt, stride=2, groups=self.channels)


class Upsample(nn.Module):
    """Double the size with a fixed [1, 3, 3, 1] transposed blur over a
    1-pixel replication pad. The authors pad the transposed convolution by 2
    and then drop one row and column on each side; padding it by 3 gives the
    same rows and columns."""

    filt: torch.Tensor

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.pad = nn.ReplicationPad2d(1)
        self.register_buffer("filt", (binomial(4) * 4)[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(self.pad(x), self.filt, stride=2, padding=3, groups=self.channels)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, *, make_norm, bias: bool, use_dropout: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(dim),
                                   nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class CUTGenerator(nn.Module):
    """7x7 conv, two downsamplings (conv then blur-subsample, or stride-2
    convs with `no_antialias`), `n_blocks` residual blocks, two upsamplings
    (blur-upsample then conv, or transposed convs with `no_antialias_up`),
    7x7 conv, tanh.

    `forward(x, nce_layers)` returns the outputs of those indices of
    `self.model` instead (in model order, stopping after the last): the
    encoder features that PatchNCE compares, as the authors' `encode_only`."""

    def __init__(self, *, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", use_dropout: bool = False, no_antialias: bool = False,
                 no_antialias_up: bool = False):
        super().__init__()
        make_norm = norm_layer(norm)
        bias = uses_bias(norm)
        model: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), make_norm(ngf),
                                  nn.ReLU(True)]
        for mult in (1, 2):
            if no_antialias:
                model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                          make_norm(ngf * mult * 2), nn.ReLU(True)]
            else:
                model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, padding=1, bias=bias), make_norm(ngf * mult * 2),
                          nn.ReLU(True), Downsample(ngf * mult * 2)]
        model += [ResnetBlock(ngf * 4, make_norm=make_norm, bias=bias, use_dropout=use_dropout)
                  for _ in range(n_blocks)]
        for mult in (4, 2):
            if no_antialias_up:
                model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                             bias=bias), make_norm(ngf * mult // 2), nn.ReLU(True)]
            else:
                model += [Upsample(ngf * mult), nn.Conv2d(ngf * mult, ngf * mult // 2, 3, padding=1, bias=bias),
                          make_norm(ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor, nce_layers: tuple[int, ...] = ()):
        if not nce_layers:
            return self.model(x)
        features = []
        for index, layer in enumerate(self.model):
            x = layer(x)
            if index in nce_layers:
                features.append(x)
                if len(features) == len(nce_layers):
                    break
        return features


class CUTDiscriminator(nn.Module):
    """The authors' NLayerDiscriminator: 4x4 convs, each stride-2 one replaced
    by a stride-1 conv and a blur-subsample unless `no_antialias`."""

    def __init__(self, *, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 no_antialias: bool = False):
        super().__init__()
        make_norm = norm_layer(norm)
        bias = uses_bias(norm)

        def down(c_in: int, c_out: int, *, with_bias: bool, normed: bool) -> list[nn.Module]:
            conv = nn.Conv2d(c_in, c_out, 4, stride=2 if no_antialias else 1, padding=1, bias=with_bias)
            layers = [conv, *([make_norm(c_out)] if normed else []), nn.LeakyReLU(0.2, True)]
            return layers if no_antialias else layers + [Downsample(c_out)]

        sequence = down(input_nc, ndf, with_bias=True, normed=False)
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            sequence += down(ndf * prev, ndf * mult, with_bias=bias, normed=True)
        prev, mult = mult, min(2**n_layers, 8)
        sequence += [nn.Conv2d(ndf * prev, ndf * mult, 4, padding=1, bias=bias), make_norm(ndf * mult),
                     nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, 4, padding=1)]
        self.model = nn.Sequential(*sequence)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
