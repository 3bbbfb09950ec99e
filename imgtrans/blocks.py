"""Building blocks shared by the image-to-image families (imports torch).

Layer order and naming follow the published reference implementation
(junyanz/pytorch-CycleGAN-and-pix2pix, `models/networks.py`) so its
checkpoints load unchanged.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

NORMS = ("instance", "batch", "none")


def norm_layer(kind: str, *, instance_affine: bool = False):
    """A norm-layer factory as the reference makes them: batch norm affine with
    running statistics, instance norm plain unless `instance_affine` (learned
    scale and shift, as some third-party checkpoints have)."""
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=instance_affine, track_running_stats=False)
    if kind == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"unknown norm {kind!r} (choose from {', '.join(NORMS)})")


def uses_bias(kind: str) -> bool:
    """The reference gives convolutions a bias only where instance norm follows
    them (its test is `norm_layer.func == nn.InstanceNorm2d`, false for batch
    norm and for no norm), so its `--norm none` checkpoints have none."""
    return kind == "instance"


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The papers' initialisation: conv weights N(0, 0.02), norm scales N(1, 0.02)."""

    def init(module: nn.Module) -> None:
        name = type(module).__name__
        # Any module: its parameters, where it has them (nn.Module's attributes type as Tensor | Module).
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        if weight is not None and ("Conv" in name or "Linear" in name):
            nn.init.normal_(weight, 0.0, gain)
            if bias is not None:
                nn.init.zeros_(bias)
        elif ("BatchNorm2d" in name or "InstanceNorm2d" in name) and weight is not None and bias is not None:
            # affine norms only: a norm without scale and shift has nothing to initialise
            nn.init.normal_(weight, 1.0, gain)
            nn.init.zeros_(bias)

    net.apply(init)
    return net


class PatchDiscriminator(nn.Module):
    """The reference `NLayerDiscriminator`: a PatchGAN (70x70 at n_layers=3)."""

    def __init__(self, *, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        make_norm = norm_layer(norm)
        bias = uses_bias(norm)
        sequence: list[nn.Module] = [
            nn.Conv2d(input_nc, ndf, kernel_size=4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            sequence += [
                nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=2, padding=1, bias=bias),
                make_norm(ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        sequence += [
            nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=1, padding=1, bias=bias),
            make_norm(ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=1),
        ]
        self.model = nn.Sequential(*sequence)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
