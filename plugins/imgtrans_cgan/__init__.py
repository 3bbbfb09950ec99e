"""Class-conditional DCGAN for 28x28 images (digits, Fashion-MNIST).

Registered through the ``imgtrans`` entry-point group like any third-party
plugin. No torch import here: networks are built lazily.
"""

from __future__ import annotations

from imgtrans import Family, hookimpl

from .config import CGANConfig
from .hparams import CGANTrainConfig


def build_generator(config: CGANConfig):
    from imgtrans_cgan.networks import ConditionalGenerator

    return ConditionalGenerator(z_dim=config.z_dim, num_classes=config.num_classes, ngf=config.ngf,
                                channels=config.channels)


def build_discriminator(config: CGANConfig):
    from imgtrans_cgan.networks import ConditionalDiscriminator

    return ConditionalDiscriminator(num_classes=config.num_classes, ndf=config.ndf, channels=config.channels)


def make_recipe(config, family, device):
    from .recipe import make_recipe as make

    return make(config, family, device)


FAMILY = Family(
    name="cgan",
    summary="Conditional DCGAN: noise + one-hot class -> 28x28 image",
    kind="conditional",
    config_type=CGANConfig,
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    train_config=CGANTrainConfig,
    make_recipe=make_recipe,
    test_options={"z_dim": 8, "ngf": 8, "ndf": 8, "batch_size": 4},
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
