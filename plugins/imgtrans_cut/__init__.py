"""CUT and FastCUT (Park, Efros, Zhang, Zhu 2020): unpaired translation with
one generator, a GAN loss and PatchNCE, a contrastive loss between input and
output patches (taesungp/contrastive-unpaired-translation).

Registered through the ``imgtrans`` entry-point group like any third-party
plugin. No torch import here: networks are built lazily.
"""

from __future__ import annotations

from imgtrans import Family, hookimpl

from .config import CUTConfig
from .hparams import CUTTrainConfig


def build_generator(config: CUTConfig):
    from imgtrans_cut.networks import CUTGenerator

    return CUTGenerator(input_nc=config.input_nc, output_nc=config.output_nc, ngf=config.ngf, n_blocks=config.n_blocks,
                        norm=config.norm, use_dropout=config.use_dropout, no_antialias=config.no_antialias,
                        no_antialias_up=config.no_antialias_up)


def build_discriminator(config: CUTConfig):
    from imgtrans_cut.networks import CUTDiscriminator

    return CUTDiscriminator(input_nc=config.output_nc, ndf=config.ndf, n_layers=config.n_layers_D, norm=config.norm,
                            no_antialias=config.no_antialias)


def make_recipe(config, family, device):
    from .recipe import make_recipe as make

    return make(config, family, device)


FAMILY = Family(
    name="cut",
    summary="CUT / FastCUT: antialiased ResNet generator, PatchNCE + GAN, one direction (unpaired)",
    kind="translate",
    config_type=CUTConfig,
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    pad_multiple=lambda config: 4,
    min_side=lambda config: 8,  # the residual blocks reflect 1 px at 1/4 scale
    train_config=CUTTrainConfig,
    make_recipe=make_recipe,
    test_options={"netG": "resnet_2blocks", "ngf": 4, "ndf": 4, "n_layers_D": 2, "load_size": 36, "crop_size": 32},
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
