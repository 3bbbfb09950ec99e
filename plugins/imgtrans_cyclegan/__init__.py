"""CycleGAN (Zhu et al. 2017): unpaired translation with ResNet generators.

Registered through the ``imgtrans`` entry-point group like any third-party
plugin. No torch import here: networks are built lazily.
"""

from __future__ import annotations

from dataclasses import dataclass

from imgtrans import Family, hookimpl

from .hparams import CycleGANTrainConfig

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


def build_generator(config: CycleGANConfig):
    from imgtrans_cyclegan.networks import ResnetGenerator

    return ResnetGenerator(
        input_nc=config.input_nc,
        output_nc=config.output_nc,
        ngf=config.ngf,
        n_blocks=GENERATORS[config.netG],
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
)


@hookimpl
def register_families(register):
    register(FAMILY)


@hookimpl
def register_models(register):
    from .catalogue import catalogue

    for spec in catalogue():
        register(spec)
