"""CycleGAN's architecture options (torch-free): the generator and discriminator
fields that inference and training both use, declared once."""

from __future__ import annotations

import re
from dataclasses import dataclass

# resnet_Nblocks: the reference names resnet_9blocks and resnet_6blocks; any
# block count builds (checkpoints from forks use others).
RESNET = re.compile(r"resnet_([1-9][0-9]?)blocks")


@dataclass(frozen=True)
class CycleGANConfig:
    netG: str = "resnet_9blocks"
    ngf: int = 64
    norm: str = "instance"
    # Instance norm with learned scale/shift: some third-party checkpoints
    # (for example vintagify's) were trained with it.
    norm_affine: bool = False
    use_dropout: bool = False
    input_nc: int = 3
    output_nc: int = 3
    ndf: int = 64
    n_layers_D: int = 3

    @property
    def n_blocks(self) -> int:
        found = RESNET.fullmatch(self.netG)
        assert found is not None  # __post_init__ checked netG
        return int(found.group(1))

    def __post_init__(self):
        if not isinstance(self.netG, str) or not RESNET.fullmatch(self.netG):
            raise ValueError(f"cyclegan: unknown netG {self.netG!r} (resnet_Nblocks, N from 1 to 99: "
                             "resnet_9blocks, resnet_6blocks, ...)")
        if self.norm not in ("instance", "batch", "none"):
            raise ValueError(f"cyclegan: unknown norm {self.norm!r} (choose from instance, batch, none)")
        if self.norm_affine and self.norm != "instance":
            raise ValueError(f"cyclegan: norm_affine is for instance norm (batch norm is always affine), "
                             f"not {self.norm!r}")
