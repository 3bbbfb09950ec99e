"""pix2pix's architecture options (torch-free): the generator and discriminator
fields that inference and training both use, declared once."""

from __future__ import annotations

from dataclasses import dataclass

GENERATORS = {"unet_256": 8, "unet_128": 7, "unet_64": 6, "unet_32": 5}  # input side = 2**downs


@dataclass(frozen=True)
class Pix2PixConfig:
    netG: str = "unet_256"
    ngf: int = 64
    norm: str = "batch"
    use_dropout: bool = True
    input_nc: int = 3
    output_nc: int = 3
    ndf: int = 64
    n_layers_D: int = 3

    def __post_init__(self):
        if self.netG not in GENERATORS:
            raise ValueError(f"pix2pix: unknown netG {self.netG!r} (choose from {', '.join(GENERATORS)})")
        if self.norm not in ("instance", "batch", "none"):
            raise ValueError(f"pix2pix: unknown norm {self.norm!r} (choose from instance, batch, none)")
