"""pix2pix's architecture options (torch-free): the generator and discriminator
fields that inference and training both use, declared once."""

from __future__ import annotations

import re
from dataclasses import dataclass

# unet_N: N = 2**downsamplings, from unet_32 (5, the fewest the layout has) to
# unet_4096; the reference names unet_256 and unet_128.
UNET = re.compile(r"unet_([0-9]+)")
SIDES = {2**downs: downs for downs in range(5, 13)}


@dataclass(frozen=True)
class Pix2PixConfig:
    netG: str = "unet_256"
    ngf: int = 64
    norm: str = "batch"
    # Instance norm with learned scale/shift (not a reference setting; some
    # forks train with it).
    norm_affine: bool = False
    use_dropout: bool = True
    input_nc: int = 3
    output_nc: int = 3
    ndf: int = 64
    n_layers_D: int = 3

    @property
    def num_downs(self) -> int:
        found = UNET.fullmatch(self.netG)
        assert found is not None  # __post_init__ checked netG
        return SIDES[int(found.group(1))]

    def __post_init__(self):
        found = UNET.fullmatch(self.netG) if isinstance(self.netG, str) else None
        if not found or int(found.group(1)) not in SIDES:
            raise ValueError(f"pix2pix: unknown netG {self.netG!r} (unet_N, N a power of two from 32 to 4096: "
                             "unet_256, unet_128, ...)")
        if self.norm not in ("instance", "batch", "none"):
            raise ValueError(f"pix2pix: unknown norm {self.norm!r} (choose from instance, batch, none)")
        if self.norm_affine and self.norm != "instance":
            raise ValueError(f"pix2pix: norm_affine is for instance norm (batch norm is always affine), "
                             f"not {self.norm!r}")
