"""Real evaluation data as uint8 arrays [N, H, W, C], read from the layouts
that `imgtrans train` uses, plus their test splits:

- labelled: MNIST-format train-* and t10k-* IDX files (names in labels.txt)
- paired: test/ (and train/) side-by-side AB images, as in the pix2pix datasets
- unpaired: testA/ testB/ (and trainA/ trainB/), as in the CycleGAN datasets
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imgtrans.training.data import (
    DatasetError,
    find_idx,
    idx_class_names,
    image_files,
    open_image,
    read_idx_pair,
)

IDX_SPLITS = {"train": "train", "test": "t10k"}


def labelled(root: Path, split: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    prefix = IDX_SPLITS[split]
    images_path = find_idx(root, f"{prefix}-images-idx3-ubyte")
    labels_path = find_idx(root, f"{prefix}-labels-idx1-ubyte")
    if not (images_path and labels_path):
        raise DatasetError(f"{root}: no {prefix}-images-idx3-ubyte[.gz] and {prefix}-labels-idx1-ubyte[.gz] "
                           f"({split} split)")
    images, labels = read_idx_pair(images_path, labels_path)
    return (images if images.ndim == 4 else images[..., None]), labels, idx_class_names(root, int(labels.max()) + 1)


def _decode(path: Path, channels: int) -> np.ndarray:
    array = np.asarray(open_image(path).convert("L" if channels == 1 else "RGB"))
    return array[..., None] if array.ndim == 2 else array


def _stack(arrays: list[np.ndarray], where: Path) -> np.ndarray:
    if len({a.shape for a in arrays}) > 1:
        raise DatasetError(f"{where}: images differ in size; evaluation needs one size")
    return np.stack(arrays)


def folder(root: Path, channels: int) -> np.ndarray:
    files = image_files(root) if root.is_dir() else []
    if not files:
        raise DatasetError(f"{root}: no images")
    return _stack([_decode(p, channels) for p in files], root)


def pairs(root: Path, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) from side-by-side AB images in `root`."""
    files = image_files(root) if root.is_dir() else []
    if not files:
        raise DatasetError(f"{root}: no side-by-side AB images")
    a, b = [], []
    for path in files:
        ab = _decode(path, channels)
        half = ab.shape[1] // 2
        a.append(ab[:, :half])
        b.append(ab[:, half : 2 * half])
    return _stack(a, root), _stack(b, root)


def layout(root: Path) -> str:
    if (root / "test").is_dir():
        return "paired"
    if (root / "testA").is_dir() and (root / "testB").is_dir():
        return "unpaired"
    raise DatasetError(f"{root}: no test split (expected test/ side-by-side pairs, or testA/ and testB/)")
