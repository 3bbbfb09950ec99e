"""pix2pix (Isola et al. 2017): paired translation with a U-Net generator.

Registered through the ``imgtrans`` entry-point group like any third-party
plugin. No torch import here: networks are built lazily.
"""

from __future__ import annotations

from imgtrans import Family, hookimpl

from .config import Pix2PixConfig
from .hparams import Pix2PixTrainConfig


def build_generator(config: Pix2PixConfig):
    from imgtrans_pix2pix.networks import UnetGenerator

    return UnetGenerator(
        input_nc=config.input_nc,
        output_nc=config.output_nc,
        num_downs=config.num_downs,
        ngf=config.ngf,
        norm=config.norm,
        norm_affine=config.norm_affine,
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
    pad_multiple=lambda config: 2**config.num_downs,
    train_config=Pix2PixTrainConfig,
    make_recipe=make_recipe,
    test_options={"netG": "unet_32", "ngf": 8, "ndf": 8, "load_size": 36, "crop_size": 32},
)


@hookimpl
def register_families(register):
    register(FAMILY)


@hookimpl
def detect_checkpoint(checkpoint, report):
    from .detect import detect

    detect(checkpoint, report)


@hookimpl
def register_models(register):
    from .catalogue import catalogue

    for spec in catalogue():
        register(spec)
