"""The class-conditional DCGAN for 28x28 digits (Mirza & Osindero 2014, DCGAN layers)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ConditionalGenerator(nn.Module):
    """z and the one-hot class each go through a transposed conv to 4x4, are
    concatenated, then upsampled 4 -> 7 -> 14 -> 28 with a tanh at the end."""

    def __init__(self, *, z_dim: int = 100, num_classes: int = 10, ngf: int = 64, channels: int = 1):
        super().__init__()
        self.z_dim = z_dim
        self.num_classes = num_classes
        self.z_path = nn.Sequential(
            nn.ConvTranspose2d(z_dim, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True)
        )
        self.y_path = nn.Sequential(
            nn.ConvTranspose2d(num_classes, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True)
        )
        self.main = nn.Sequential(
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 3, 2, 1, bias=False),  # 4 -> 7
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),  # 7 -> 14
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, channels, 4, 2, 1),  # 14 -> 28
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(labels, self.num_classes).to(z.dtype)
        h = torch.cat([self.z_path(z.view(-1, self.z_dim, 1, 1)),
                       self.y_path(onehot.view(-1, self.num_classes, 1, 1))], 1)
        return self.main(h)


class ConditionalDiscriminator(nn.Module):
    """The image and the class (as one-hot feature maps) each go through a
    strided conv, are concatenated, then reduced to one logit."""

    def __init__(self, *, num_classes: int = 10, ndf: int = 64, channels: int = 1):
        super().__init__()
        self.num_classes = num_classes
        self.x_path = nn.Sequential(nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True))  # 28 -> 14
        self.y_path = nn.Sequential(nn.Conv2d(num_classes, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True))
        self.main = nn.Sequential(
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),  # 14 -> 7
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 4, ndf * 8, 3, 2, 1, bias=False),  # 7 -> 4
            nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0),  # 4 -> 1 (a logit: use BCE-with-logits)
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        maps = F.one_hot(labels, self.num_classes).to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return self.main(torch.cat([self.x_path(x), self.y_path(maps)], 1)).view(-1)
