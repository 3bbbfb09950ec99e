"""CycleGAN's architecture options (torch-free): the generator and discriminator
fields that inference and training both use, declared once."""

from __future__ import annotations

from dataclasses import dataclass

GENERATORS = {"resnet_9blocks": 9, "resnet_6blocks": 6}


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

    def __post_init__(self):
        if self.netG not in GENERATORS:
            raise ValueError(f"cyclegan: unknown netG {self.netG!r} (choose from {', '.join(GENERATORS)})")
        if self.norm not in ("instance", "batch", "none"):
            raise ValueError(f"cyclegan: unknown norm {self.norm!r} (choose from instance, batch, none)")
