"""CycleGAN (Zhu et al. 2017): unpaired translation with ResNet generators.

Registered through the ``imgtrans`` entry-point group like any third-party
plugin. No torch import here: networks are built lazily.
"""

from __future__ import annotations

from imgtrans import Family, hookimpl

from .config import CycleGANConfig
from .hparams import CycleGANTrainConfig


def build_generator(config: CycleGANConfig):
    from imgtrans_cyclegan.networks import ResnetGenerator

    return ResnetGenerator(
        input_nc=config.input_nc,
        output_nc=config.output_nc,
        ngf=config.ngf,
        n_blocks=config.n_blocks,
        norm=config.norm,
        norm_affine=config.norm_affine,
        use_dropout=config.use_dropout,
    )


def build_discriminator(config: CycleGANConfig):
    from imgtrans.blocks import PatchDiscriminator

    return PatchDiscriminator(input_nc=config.output_nc, ndf=config.ndf, n_layers=config.n_layers_D, norm=config.norm)


def checkpoint_filter(state_dict: dict, config: CycleGANConfig) -> dict:
    """Accept residual blocks named ``block`` (vintagify) as well as ``conv_block``."""
    return {key.replace(".block.", ".conv_block."): value for key, value in state_dict.items()}


def make_recipe(config, family, device):
    from .recipe import make_recipe as make

    return make(config, family, device)


FAMILY = Family(
    name="cyclegan",
    summary="CycleGAN: ResNet generator, PatchGAN discriminator, instance norm (unpaired)",
    kind="translate",
    config_type=CycleGANConfig,
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    pad_multiple=lambda config: 4,
    min_side=lambda config: 8,  # the residual blocks reflect 1 px at 1/4 scale
    checkpoint_filter=checkpoint_filter,
    train_config=CycleGANTrainConfig,
    make_recipe=make_recipe,
    test_options={"netG": "resnet_2blocks", "ngf": 8, "ndf": 8, "load_size": 36, "crop_size": 32},
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
