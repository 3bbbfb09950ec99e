"""pix2pix (Isola et al. 2017): paired translation with a U-Net generator.

Registered through the ``imgtrans`` entry-point group like any third-party
plugin. No torch import here: networks are built lazily.
"""

from __future__ import annotations

from dataclasses import dataclass

from imgtrans import Family, hookimpl

from .hparams import Pix2PixTrainConfig

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


def build_generator(config: Pix2PixConfig):
    from imgtrans_pix2pix.networks import UnetGenerator

    return UnetGenerator(
        input_nc=config.input_nc,
        output_nc=config.output_nc,
        num_downs=GENERATORS[config.netG],
        ngf=config.ngf,
        norm=config.norm,
        use_dropout=config.use_dropout,
    )


def build_discriminator(config: Pix2PixConfig):
    """Conditional PatchGAN: it sees the (input, output) pair concatenated."""
    from imgtrans.blocks import PatchDiscriminator

    return PatchDiscriminator(
        input_nc=config.input_nc + config.output_nc, ndf=config.ndf, n_layers=config.n_layers_D, norm=config.norm
    )



def make_recipe(config, family, device):
    from .recipe import make_recipe as make

    return make(config, family, device)


FAMILY = Family(
    name="pix2pix",
    summary="pix2pix: U-Net generator with dropout, conditional PatchGAN, batch norm (paired)",
    kind="translate",
    config_type=Pix2PixConfig,
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    pad_multiple=lambda config: 2 ** GENERATORS[config.netG],
    train_config=Pix2PixTrainConfig,
    make_recipe=make_recipe,
)


@hookimpl
def register_families(register):
    register(FAMILY)


@hookimpl
def register_models(register):
    from .catalogue import catalogue

    for spec in catalogue():
        register(spec)
