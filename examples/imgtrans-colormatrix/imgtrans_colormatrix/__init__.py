"""An example imgtrans plugin: a model family and a model with its weights.

The `colormatrix` family's generator maps every pixel through a learned
3x3 matrix plus offset (a 1x1 convolution): enough for sepia, channel swaps
or colour grading, and a template for a real family. The `sepia` model ships
its weights inside this package. Importing this module must stay cheap and
torch-free: networks are built lazily, inside `build_generator`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import imgtrans

WEIGHTS = Path(__file__).resolve().parent / "sepia.safetensors"


@dataclass(frozen=True)
class ColorMatrixConfig:
    """The architecture: every field is stored in the weights file's metadata."""

    channels: int = 3


def build_generator(config: ColorMatrixConfig):
    from torch import nn

    return nn.Sequential(nn.Conv2d(config.channels, config.channels, kernel_size=1))


def build_discriminator(config: ColorMatrixConfig):
    raise NotImplementedError("colormatrix models are fitted, not trained adversarially")


FAMILY = imgtrans.Family(
    name="colormatrix",
    summary="Per-pixel colour matrix (a 1x1 convolution): sepia, grading, channel mixing",
    kind="translate",
    config_type=ColorMatrixConfig,
    build_generator=build_generator,
    build_discriminator=build_discriminator,
)


@imgtrans.hookimpl
def register_families(register):
    register(FAMILY)


@imgtrans.hookimpl
def detect_checkpoint(checkpoint, report):
    """A bare colour-matrix state dict (`0.weight` C x C x 1 x 1, `0.bias`):
    `imgtrans run matrix.pth` and `imgtrans weights import` need no flags.
    imgtrans verifies the proposal by building the network on the meta device."""
    from imgtrans.checkpoints.detection import Proposal

    shape = checkpoint.shape("0.weight")
    if shape is not None and len(shape) == 4 and shape[0] == shape[1] and shape[2:] == (1, 1):
        report(Proposal(family="colormatrix", config={"channels": shape[0]},
                        architecture=f"{shape[0]}x{shape[0]} colour matrix", channels=(shape[0], shape[0])))


@imgtrans.hookimpl
def register_models(register):
    register(
        imgtrans.ModelSpec(
            name="sepia",
            family="colormatrix",
            summary="Classic sepia toning (the usual Microsoft/W3C sepia matrix)",
            direction="photo -> sepia",
            preprocess=imgtrans.Preprocess(load_size=None, crop_size=None, resize="none"),
            weights=imgtrans.WeightsSource(path=str(WEIGHTS)),
            license="MIT",
            source="examples/imgtrans-colormatrix (make_weights.py)",
        )
    )
