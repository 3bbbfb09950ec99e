"""Turn real datasets available offline into the layouts `imgtrans train` reads.

  digits   scikit-learn's 1,797 handwritten digits (8x8, 0..16), upscaled to
           28x28 with bicubic resampling, split 80/20 (stratified, seed 0):
           OUT/train-*-idx?-ubyte.gz and OUT/t10k-*-idx?-ubyte.gz (MNIST format)

Usage: python scripts/make_datasets.py digits OUT   (needs: pip install scikit-learn)
"""

from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def digits(out: Path) -> None:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.stack([
        np.asarray(Image.fromarray((im * 255 / 16).round().astype(np.uint8)).resize((28, 28), Image.BICUBIC))
        for im in data.images
    ])
    labels = data.target.astype(np.uint8)
    rng = np.random.default_rng(0)
    test = np.zeros(len(labels), bool)
    for label in range(10):
        members = np.flatnonzero(labels == label)
        test[rng.choice(members, size=len(members) // 5, replace=False)] = True
    out.mkdir(parents=True, exist_ok=True)
    for split, mask in (("train", ~test), ("t10k", test)):
        write_idx(out / f"{split}-images-idx3-ubyte.gz", images[mask])
        write_idx(out / f"{split}-labels-idx1-ubyte.gz", labels[mask])
    print(f"{out}: {int((~test).sum())} training and {int(test.sum())} test digits, 28x28")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("digits",):
        sys.exit(__doc__)
    digits(Path(sys.argv[2]))
