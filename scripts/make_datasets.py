"""Turn real datasets available offline into the layouts `imgtrans train` reads.

  digits OUT         scikit-learn's 1,797 handwritten digits (8x8, 0..16), upscaled
                     to 28x28 with bicubic resampling, split 80/20 (stratified,
                     seed 0): OUT/train-*-idx?-ubyte.gz and OUT/t10k-*-idx?-ubyte.gz
                     (MNIST format). Needs: pip install scikit-learn
  fashion OUT        Fashion-MNIST (Debian: apt-get install dataset-fashion-mnist)
                     as IDX files plus labels.txt with the class names
  edges OUT          pix2pix pairs "edge map | item" at 32x32 from Fashion-MNIST
                     (items upscaled 28 -> 32, Sobel edges drawn black on white):
                     train/ and test/ side-by-side AB images (600 and 100 per
                     class), and trainA/ (edges) + trainB/ (items) taken from
                     disjoint halves of train/ for unpaired training
  sneaker-boot OUT   CycleGAN domains at 32x32: trainA/ sneakers and trainB/ ankle
                     boots (2,000 each), testA/ and testB/ (500 each, test split)

Fashion-MNIST is read from $FASHION_MNIST or /usr/share/datasets/fashion-mnist.
Usage: python scripts/make_datasets.py {digits,fashion,edges,sneaker-boot} OUT
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image

FASHION = Path(os.environ.get("FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
FASHION_LABELS = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")
SNEAKER, ANKLE_BOOT = 7, 9


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    ndim = data[3]
    shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fashion_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    if not (FASHION / f"{split}-images-idx3-ubyte.gz").is_file():
        sys.exit(f"{FASHION}: no Fashion-MNIST files (apt-get install dataset-fashion-mnist, or set FASHION_MNIST)")
    return read_idx(FASHION / f"{split}-images-idx3-ubyte.gz"), read_idx(FASHION / f"{split}-labels-idx1-ubyte.gz")


def per_class(labels: np.ndarray, count: int, classes=range(10)) -> np.ndarray:
    """The first `count` indices of each class, in dataset order (deterministic)."""
    return np.concatenate([np.flatnonzero(labels == c)[:count] for c in classes])


def to32(item: np.ndarray) -> np.ndarray:
    """28 -> 32 bicubic, so that resizing back for a 28x28 classifier nearly restores the item."""
    return np.asarray(Image.fromarray(item).resize((32, 32), Image.BICUBIC))


def edge_map(item: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude above a quarter of its maximum: black lines on white."""
    x = item.astype(np.float32)
    p = np.pad(x, 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    magnitude = np.hypot(gx, gy)
    edges = magnitude > 0.25 * max(float(magnitude.max()), 1e-6)
    return np.where(edges, 0, 255).astype(np.uint8)


def save(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


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


def fashion(out: Path) -> None:
    fashion_split("train")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copyfile(FASHION / name, out / name)
    (out / "labels.txt").write_text("\n".join(FASHION_LABELS) + "\n")
    print(f"{out}: Fashion-MNIST, 60,000 training and 10,000 test items, labels {', '.join(FASHION_LABELS)}")


def edges(out: Path) -> None:
    for split, folder, count in (("train", "train", 600), ("t10k", "test", 100)):
        images, labels = fashion_split(split)
        chosen = per_class(labels, count)
        for n, index in enumerate(chosen):
            item = to32(images[index])
            pair = np.concatenate([edge_map(item), item], axis=1)
            name = f"{n:05d}_{FASHION_LABELS[labels[index]]}.png"
            save(pair, out / folder / name)
            if folder == "train":  # disjoint halves: no item appears in both domains
                if n % 2 == 0:
                    save(pair[:, :32], out / "trainA" / name)
                else:
                    save(pair[:, 32:], out / "trainB" / name)
    print(f"{out}: 6,000 training and 1,000 test pairs (32x32 edges | item); trainA/trainB: 3,000 unpaired each")


def sneaker_boot(out: Path) -> None:
    for split, suffix, count in (("train", "train", 2000), ("t10k", "test", 500)):
        images, labels = fashion_split(split)
        for domain, cls in (("A", SNEAKER), ("B", ANKLE_BOOT)):
            for n, index in enumerate(per_class(labels, count, [cls])):
                save(to32(images[index]), out / f"{suffix}{domain}" / f"{n:05d}.png")
    print(f"{out}: sneakers (A) and ankle boots (B) at 32x32: 2,000 training and 500 test each")


COMMANDS = {"digits": digits, "fashion": fashion, "edges": edges, "sneaker-boot": sneaker_boot}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](Path(sys.argv[2]))
