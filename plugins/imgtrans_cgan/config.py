"""The conditional GAN's architecture options (torch-free), declared once for
inference and training."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CGANConfig:
    z_dim: int = 100
    num_classes: int = 10
    ngf: int = 64
    ndf: int = 64
    channels: int = 1

    def __post_init__(self):
        if self.num_classes < 2 or self.z_dim < 1:
            raise ValueError("cgan: num_classes must be at least 2 and z_dim at least 1")
