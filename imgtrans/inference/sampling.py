"""Sampling a class-conditional generator and laying samples out (imports torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from imgtrans.io import imageio
from imgtrans.io.files import write_atomic
from imgtrans.names import check_component, inside


@torch.inference_mode()
def generate(generator, labels: list[int], n: int, *, seed: int | None, device) -> np.ndarray:
    """uint8 array [len(labels), n, H, W, C]: n samples for each label.

    Running statistics are used (eval mode) so samples do not depend on what
    else is in the batch; noise comes from a seeded CPU generator so a seed
    gives the same samples on every device.
    """
    rng = torch.Generator().manual_seed(seed if seed is not None else torch.seed())
    generator = generator.to(device).eval()
    z = torch.randn(len(labels) * n, generator.z_dim, generator=rng)
    y = torch.tensor(labels).repeat_interleave(n)
    images = generator(z.to(device), y.to(device))
    images = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return images.reshape(len(labels), n, *images.shape[1:])


def grid(images: np.ndarray, pad: int = 2) -> np.ndarray:
    rows, cols, h, w, c = images.shape
    canvas = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.uint8)
    for r in range(rows):
        for k in range(cols):
            top, left = pad + r * (h + pad), pad + k * (w + pad)
            canvas[top : top + h, left : left + w] = images[r, k]
    return canvas


def save_grid(images: np.ndarray, path: Path, *, overwrite: bool) -> Path:
    write_atomic(path, imageio.encode(grid(images), None, "png"), overwrite=overwrite)
    return path


def save_separate(images: np.ndarray, labels: list[int], names, folder: Path, *, overwrite: bool) -> list[Path]:
    written = []
    for row, label in zip(images, labels):
        # Label names come from the weights file: untrusted, so checked as path components.
        tag = check_component(names[label], "label name (from the weights file)") if names else str(label)
        for k, image in enumerate(row):
            path = inside(folder / f"{tag}-{k:03d}.png", folder, "sample file")
            write_atomic(path, imageio.encode(image, None, "png"), overwrite=overwrite)
            written.append(path)
    return written
