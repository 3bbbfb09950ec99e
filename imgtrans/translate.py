"""Running a translation generator on pictures (imports torch).

Test-time behaviour follows pix2pix and the reference's default test mode:
normalisation uses each image's own statistics (never mixed across a batch)
and dropout stays on as the noise source. Both are made per image so that a
batch gives exactly what the images give one by one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class InferenceOptions:
    eval_mode: bool = False  # use stored running statistics, no dropout
    dropout: bool = True  # pix2pix's test-time noise
    seed: int | None = None  # reproducible dropout masks
    mean: float = 0.5
    std: float = 0.5


class PerImageBatchNorm(nn.Module):
    """Batch norm computed over one image at a time, with the trained affine.

    With batch size 1 this is exactly the reference's train-mode batch norm;
    with larger batches it keeps images independent.
    """

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        self.weight, self.bias, self.eps = bn.weight, bn.bias, bn.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)


class PerImageNoise:
    """One random generator per image in the current batch."""

    def __init__(self) -> None:
        self.generators: list[torch.Generator] = []

    def reset(self, seeds: list[int], device: torch.device) -> None:
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]


class PerImageDropout(nn.Module):
    """Dropout whose mask for each image comes from that image's generator."""

    def __init__(self, p: float, noise: PerImageNoise):
        super().__init__()
        self.p, self.noise = p, noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = torch.stack(
            [torch.rand(x.shape[1:], generator=g, device=x.device) >= self.p for g in self.noise.generators]
        )
        return x * keep.to(x.dtype) / (1.0 - self.p)


def _swap_modules(module: nn.Module, options: InferenceOptions, noise: PerImageNoise) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, PerImageBatchNorm(child))
        elif isinstance(child, nn.Dropout):
            setattr(module, name, PerImageDropout(child.p, noise) if options.dropout else nn.Identity())
        else:
            _swap_modules(child, options, noise)


def pad_reflect(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad H and W up to `multiple`, centred; returns (padded, (top, left)).

    Reflection is applied in steps when the padding exceeds the image size,
    so small images can reach large multiples (U-Net 256).
    """
    h, w = x.shape[-2:]
    need_h, need_w = -h % multiple, -w % multiple
    top, left = need_h // 2, need_w // 2
    remaining = [left, need_w - left, top, need_h - top]
    while any(remaining):
        cur_h, cur_w = x.shape[-2:]
        step = [
            min(remaining[0], cur_w - 1),
            min(remaining[1], cur_w - 1),
            min(remaining[2], cur_h - 1),
            min(remaining[3], cur_h - 1),
        ]
        if not any(step):  # a 1-pixel dimension cannot reflect
            x = F.pad(x, remaining, mode="replicate")
            break
        x = F.pad(x, step, mode="reflect")
        remaining = [r - s for r, s in zip(remaining, step)]
    return x, (top, left)


def image_seed(pixels: np.ndarray, seed: int) -> int:
    """A per-image seed from the user's seed and the pixels: the same photo gets
    the same noise wherever it sits in a batch or a folder."""
    digest = hashlib.sha256(seed.to_bytes(8, "little", signed=True) + pixels.tobytes()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


class Translator:
    """A loaded generator ready to translate batches of same-sized pictures."""

    def __init__(self, generator: nn.Module, *, device: torch.device, pad_multiple: int, options: InferenceOptions):
        self.device = device
        self.pad_multiple = pad_multiple
        self.options = options
        self.noise = PerImageNoise()
        if not options.eval_mode:
            _swap_modules(generator, options, self.noise)
        self.generator = generator.to(device).eval()
        self._rng = np.random.default_rng(options.seed)

    def padded_shape(self, pixels: np.ndarray) -> tuple[int, int]:
        m = self.pad_multiple
        h, w = pixels.shape[:2]
        return (h + -h % m, w + -w % m)

    def seeds(self, batch: list[np.ndarray]) -> list[int]:
        if self.options.seed is None:
            return [int(s) for s in self._rng.integers(0, 2**63 - 1, size=len(batch))]
        return [image_seed(p, self.options.seed) for p in batch]

    @torch.inference_mode()
    def forward(self, batch: list[np.ndarray]) -> torch.Tensor:
        """HxWxC uint8 arrays (all the same size) -> the generator's output in
        [-1, 1] at the input size (padding removed)."""
        self.noise.reset(self.seeds(batch), self.device)
        x = torch.from_numpy(np.stack(batch)).to(self.device).permute(0, 3, 1, 2).float()
        x = (x / 255.0 - self.options.mean) / self.options.std
        h, w = x.shape[-2:]
        x, (top, left) = pad_reflect(x, self.pad_multiple)
        return self.generator(x)[..., top : top + h, left : left + w]

    def __call__(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        """HxWxC uint8 arrays (all the same size) -> translated uint8 arrays."""
        y = self.forward(batch)
        y = ((y * self.options.std + self.options.mean) * 255.0).round().clamp(0, 255).to(torch.uint8)
        return list(y.permute(0, 2, 3, 1).cpu().numpy())
