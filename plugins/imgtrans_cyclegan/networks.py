"""CycleGAN's ResNet generator (the reference `ResnetGenerator`)."""

from __future__ import annotations

import torch
from torch import nn

from imgtrans.blocks import norm_layer, uses_bias


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, *, make_norm, bias: bool, use_dropout: bool):
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=bias),
            make_norm(dim),
            nn.ReLU(True),
        ]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=bias), make_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """7x7 conv, two stride-2 downsamplings, `n_blocks` residual blocks, two
    transposed-conv upsamplings, 7x7 conv, tanh; reflection padding."""

    def __init__(
        self,
        *,
        input_nc: int = 3,
        output_nc: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        norm_affine: bool = False,
        use_dropout: bool = False,
    ):
        super().__init__()
        make_norm = norm_layer(norm, instance_affine=norm_affine)
        bias = uses_bias(norm)
        model: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=bias),
            make_norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):
            mult = 2**i
            model += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=bias),
                make_norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        for _ in range(n_blocks):
            model.append(ResnetBlock(ngf * 4, make_norm=make_norm, bias=bias, use_dropout=use_dropout))
        for i in range(2):
            mult = 2 ** (2 - i)
            model += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, kernel_size=3, stride=2, padding=1, output_padding=1, bias=bias
                ),
                make_norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
