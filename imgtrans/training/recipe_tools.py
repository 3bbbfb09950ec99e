"""Small pieces every recipe needs: architecture options out of a recipe
config, optimisers, transforms, sample grids, exports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np
import torch

from imgtrans.blocks import init_weights
from imgtrans.spec import Family, Preprocess
from imgtrans.training.config import architecture  # noqa: F401  (recipes use tools.architecture)
from imgtrans.training.data import Transform


class Recipe:
    """Defaults for the optional parts of a recipe: no state beyond the
    networks and optimisers (CycleGAN overrides these for its replay buffers)."""

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass


@dataclass
class Export:
    """A generator to publish after training."""

    network: str
    config: Any  # the family's architecture config for this network
    direction: str
    reverse: bool = False  # the second direction of a two-way (CycleGAN) run
    labels: tuple[str, ...] = ()
    preprocess: Preprocess = field(default_factory=Preprocess)


@overload
def build(family: Family, arch, device, *,
          discriminator: Literal[True] = ...) -> tuple[torch.nn.Module, torch.nn.Module]: ...


@overload
def build(family: Family, arch, device, *, discriminator: bool) -> tuple[torch.nn.Module, torch.nn.Module | None]: ...


def build(family: Family, arch, device, *,
          discriminator: bool = True) -> tuple[torch.nn.Module, torch.nn.Module | None]:
    """The generator and (unless `discriminator` is False: None) the discriminator, initialised, on `device`."""
    g = init_weights(family.build_generator(arch)).to(device)
    d = init_weights(family.build_discriminator(arch)).to(device) if discriminator else None
    return g, d


def adam(parameters, config) -> torch.optim.Adam:
    """The reference's Adam, as one fused kernel per step where torch has one
    (CPU, CUDA) instead of a loop over tensors (docs/benchmarks.md)."""
    parameters = list(parameters)
    fused = all(p.device.type in ("cpu", "cuda") for p in parameters)
    return torch.optim.Adam(parameters, lr=config.lr, betas=(config.beta1, 0.999), fused=fused or None)


def transform(config, channels: int) -> Transform:
    return Transform(config.preprocess, config.load_size, config.crop_size, config.flip, channels)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] NCHW -> uint8 NHWC with three channels."""
    images = images.detach().float().cpu()
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    return (Preprocess().denormalise(images.clamp(-1, 1)) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def grid(rows: list[list[torch.Tensor]], pad: int = 2) -> np.ndarray:
    """Rows of image batches -> one picture (each column one example)."""
    tiles = [[to_uint8(t) for t in row] for row in rows]
    h, w = tiles[0][0].shape[1:3]
    n_cols = sum(t.shape[0] for t in tiles[0])
    canvas = np.full((len(rows) * (h + pad) + pad, n_cols * (w + pad) + pad, 3), 255, np.uint8)
    for r, row in enumerate(tiles):
        images = np.concatenate(row)
        for c, image in enumerate(images):
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            canvas[y : y + image.shape[0], x : x + image.shape[1]] = image
    return canvas
