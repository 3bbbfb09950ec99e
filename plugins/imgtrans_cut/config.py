"""CUT's architecture options (torch-free): the authors' generator and
discriminator options, declared once for inference and training."""

from __future__ import annotations

import re
from dataclasses import dataclass

RESNET = re.compile(r"resnet_([1-9][0-9]?)blocks")


@dataclass(frozen=True)
class CUTConfig:
    netG: str = "resnet_9blocks"
    ngf: int = 64
    norm: str = "instance"  # the authors' normG and normD (both instance by default)
    use_dropout: bool = False  # the authors' --no_dropout defaults to true
    # Stride-2 convolutions instead of blur-then-subsample (the authors' --no_antialias);
    # it also applies to the discriminator, as theirs.
    no_antialias: bool = False
    # A learned transposed convolution instead of a fixed [1, 3, 3, 1] blur and a conv (--no_antialias_up).
    no_antialias_up: bool = False
    input_nc: int = 3
    output_nc: int = 3
    ndf: int = 64
    n_layers_D: int = 3

    @property
    def n_blocks(self) -> int:
        # __post_init__ has checked that it matches.
        return int(RESNET.fullmatch(self.netG)[1])  # type: ignore[index]

    def __post_init__(self):
        if not isinstance(self.netG, str) or not RESNET.fullmatch(self.netG):
            raise ValueError(f"cut: unknown netG {self.netG!r} (resnet_Nblocks, N from 1 to 99: resnet_9blocks, ...)")
        if self.norm not in ("instance", "batch", "none"):
            raise ValueError(f"cut: unknown norm {self.norm!r} (choose from instance, batch, none)")
        for name in ("ngf", "ndf", "input_nc", "output_nc", "n_layers_D"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"cut: {name} must be a positive integer, not {value!r}")
