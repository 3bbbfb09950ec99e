"""Training data in the layouts users already have (imports torch).

- unaligned: trainA/ and trainB/ folders (the CycleGAN datasets)
- aligned: side-by-side AB images in train/ (the pix2pix datasets), or A/ and
  B/ folders with matching file names
- labelled: class sub-folders, or MNIST-format IDX files

Random choices (crop position, flip, the unpaired partner) come from a
generator seeded by (seed, epoch, index), so a resumed run sees exactly the
data the uninterrupted run would have seen.
"""

from __future__ import annotations

import gzip
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from imgtrans.io import imageio
from imgtrans.io.inputs import IMAGE_EXTENSIONS
from imgtrans.spec import Preprocess
from imgtrans.training.config import ConfigError

LAYOUTS = {
    "unaligned": "folders trainA/ and trainB/ of images (the CycleGAN datasets' layout)",
    "aligned": "train/ with side-by-side AB images (the pix2pix datasets' layout), "
               "or A/ and B/ with matching file names",
    "labelled": "one sub-folder of images per class, or MNIST-format files train-images-idx3-ubyte[.gz] "
                "and train-labels-idx1-ubyte[.gz] (class names, optional, in labels.txt)",
}


class DatasetError(ConfigError):
    pass


@dataclass(frozen=True)
class Transform:
    """The reference's preprocessing: resize/crop/flip, then normalise as the
    exported model's `Preprocess` says (the same owner inference uses)."""

    mode: str
    load_size: int
    crop_size: int
    flip: bool
    channels: int
    normalisation: Preprocess = Preprocess()

    def params(self, size: tuple[int, int], rng: np.random.Generator) -> dict:
        w, h = size
        if self.mode == "resize_and_crop":
            w = h = self.load_size
        elif self.mode == "scale_width":
            w, h = self.load_size, max(self.crop_size, round(self.load_size * h / w))
        crop = None
        if self.mode in ("resize_and_crop", "crop", "scale_width"):
            cw, ch = min(self.crop_size, w), min(self.crop_size, h)
            crop = (int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1)), cw, ch)
        return {"size": (w, h), "crop": crop, "flip": bool(self.flip and rng.random() < 0.5)}

    def __call__(self, image: Image.Image, params: dict) -> torch.Tensor:
        image = image.convert("L" if self.channels == 1 else "RGB")
        if image.size != params["size"]:
            image = image.resize(params["size"], Image.Resampling.BICUBIC)
        if params["crop"] is not None:
            x, y, cw, ch = params["crop"]
            image = image.crop((x, y, x + cw, y + ch))
        if self.mode == "none":  # the networks need a multiple of 4
            w, h = image.size
            image = image.resize((max(4, w // 4 * 4), max(4, h // 4 * 4)), Image.Resampling.BICUBIC)
        if params["flip"]:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        array = np.asarray(image, dtype=np.float32)
        if array.ndim == 2:
            array = array[:, :, None]
        return self.normalisation.normalise(torch.from_numpy(array.transpose(2, 0, 1).copy()) / 255.0)


def image_files(folder: Path) -> list[Path]:
    """Image files under `folder`, each checked to open (header only, cheap):
    an unreadable file is refused before training starts, not in the middle."""
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))
    for path in files:
        if path.stat().st_size == 0:
            raise DatasetError(f"{path}: empty file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as image:
                    width, height = image.size
        except Exception as exc:  # Pillow raises many types on corrupt headers, and refuses bombs
            raise DatasetError(f"{path}: not a readable image ({type(exc).__name__})") from None
        if width * height > imageio.DEFAULT_MAX_PIXELS:
            raise DatasetError(f"{path}: image too large ({width}x{height} pixels; a decompression bomb?)")
    return files


def open_image(path: Path) -> Image.Image:
    try:
        picture = imageio.decode(imageio.read_file(path))
    except imageio.ImageError as exc:
        raise DatasetError(f"{path}: {exc}") from None
    return Image.fromarray(picture.pixels)


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


class UnalignedDataset:
    """Item i: A[i % |A|] and a random B (as the reference does, unpaired)."""

    def __init__(self, root: Path, transform_a: Transform, transform_b: Transform, seed: int):
        self.a, self.b = image_files(root / "trainA"), image_files(root / "trainB")
        for name, files in (("trainA", self.a), ("trainB", self.b)):
            if not files:
                raise DatasetError(f"{root / name}: no images (expected {LAYOUTS['unaligned']})")
        self.transform_a, self.transform_b, self.seed, self.epoch = transform_a, transform_b, seed, 0

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def __getitem__(self, index: int) -> dict:
        rng = sample_rng(self.seed, self.epoch, index)
        a = open_image(self.a[index % len(self.a)])
        b = open_image(self.b[int(rng.integers(0, len(self.b)))])
        return {"A": self.transform_a(a, self.transform_a.params(a.size, rng)),
                "B": self.transform_b(b, self.transform_b.params(b.size, rng))}


class AlignedDataset:
    """Pairs (A, B) with the same crop and flip applied to both."""

    def __init__(self, root: Path, transform_a: Transform, transform_b: Transform, seed: int, direction: str = "AtoB"):
        self.pairs: list[tuple[Path, Path | None]]  # B None: one side-by-side AB image
        if (root / "A").is_dir() and (root / "B").is_dir():
            b_by_stem = {p.relative_to(root / "B").with_suffix(""): p for p in image_files(root / "B")}
            self.pairs = [(a, b_by_stem[a.relative_to(root / "A").with_suffix("")]) for a in image_files(root / "A")
                          if a.relative_to(root / "A").with_suffix("") in b_by_stem]
            if not self.pairs:
                raise DatasetError(f"{root}: A/ and B/ share no file names (expected {LAYOUTS['aligned']})")
        elif (root / "train").is_dir():
            self.pairs = [(p, None) for p in image_files(root / "train")]
            if not self.pairs:
                raise DatasetError(f"{root / 'train'}: no images (expected {LAYOUTS['aligned']})")
        else:
            raise DatasetError(f"{root}: no train/ or A/ and B/ folders (expected {LAYOUTS['aligned']})")
        self.transform_a, self.transform_b, self.seed, self.epoch = transform_a, transform_b, seed, 0
        self.swap = direction == "BtoA"

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        path_a, path_b = self.pairs[index]
        if path_b is None:
            ab = open_image(path_a)
            w, h = ab.size
            if w < 2:
                raise DatasetError(f"{path_a}: too narrow to hold two side-by-side images")
            a, b = ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, w // 2 * 2, h))
        else:
            a, b = open_image(path_a), open_image(path_b)
        if self.swap:
            a, b = b, a
        params = self.transform_a.params(a.size, sample_rng(self.seed, self.epoch, index))
        return {"A": self.transform_a(a, params), "B": self.transform_b(b, params)}


MAX_IDX_BYTES = 1 << 31  # 2 GiB: far above MNIST-sized data, far below a gzip bomb


def read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read(MAX_IDX_BYTES + 1)  # a gzip bomb stops here
        if len(data) > MAX_IDX_BYTES:
            raise ValueError(f"larger than {MAX_IDX_BYTES} bytes")
        zero, dtype, ndim = struct.unpack(">HBB", data[:4])
        if zero != 0 or dtype != 0x08 or not 1 <= ndim <= 4:
            raise ValueError("not an unsigned-byte IDX file of 1 to 4 dimensions")
        shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
        if int(np.prod(shape, dtype=np.int64)) != len(data) - 4 - 4 * ndim:
            raise ValueError(f"its header says {shape} but it holds {len(data) - 4 - 4 * ndim} bytes of data")
        return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except Exception as exc:  # OSError, zlib.error, struct.error, EOFError, ValueError ...
        raise DatasetError(f"{path}: not a readable IDX file ({exc})") from None


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-format pictures (count x height x width, or x 3 for colour) and
    labels (one per picture), their shapes checked before any use."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] != 3):
        raise DatasetError(f"{images_path}: holds an array of shape {images.shape}, not pictures "
                           "(count x height x width, or x 3 for colour)")
    if 0 in images.shape:
        raise DatasetError(f"{images_path}: holds no pictures (shape {images.shape})")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DatasetError(f"{labels_path}: holds {labels.shape} labels for {len(images)} pictures (one each needed)")
    return images, labels.astype(np.int64)


def find_idx(root: Path, stem: str) -> Path | None:
    """`train-images-idx3-ubyte[.gz]`, or the `train-images.idx3-ubyte` spelling
    that some MNIST downloads use."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (root / name).is_file():
            return root / name
    return None


def idx_class_names(root: Path, count: int) -> tuple[str, ...]:
    """Names from labels.txt (one per line, in class order) beside IDX files;
    the class indices themselves where there is none (MNIST)."""
    path = root / "labels.txt"
    if not path.is_file():
        return tuple(str(i) for i in range(count))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not readable UTF-8 text ({type(exc).__name__})") from None
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(names) < count or len(set(names)) != len(names):
        raise DatasetError(f"{path}: needs {count} distinct names, one per line (found {len(names)})")
    return names[:count]


class LabelledDataset:
    """28x28 images with class indices; class names from folder names or labels.txt."""

    def __init__(self, root: Path, channels: int = 1, size: int = 28, limit_classes: int | None = None):
        images_path, labels_path = find_idx(root, "train-images-idx3-ubyte"), find_idx(root, "train-labels-idx1-ubyte")
        if images_path and labels_path:
            images, self.labels = read_idx_pair(images_path, labels_path)
            self.images = [Image.fromarray(im) for im in images]
            self.class_names = idx_class_names(root, int(self.labels.max()) + 1)
        else:
            classes = (sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
                       if root.is_dir() else [])
            classes = [c for c in classes if image_files(c)]
            if len(classes) < 2:
                raise DatasetError(f"{root}: no labelled data (expected {LAYOUTS['labelled']})")
            self.class_names = tuple(c.name for c in classes)
            self.images, labels = [], []
            for index, folder in enumerate(classes):
                for path in image_files(folder):
                    self.images.append(open_image(path))
                    labels.append(index)
            self.labels = np.array(labels, dtype=np.int64)
        self.channels, self.size, self.epoch = channels, size, 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        image = self.images[index].convert("L" if self.channels == 1 else "RGB")
        if image.size != (self.size, self.size):
            image = image.resize((self.size, self.size), Image.Resampling.BICUBIC)
        array = np.asarray(image, dtype=np.float32)
        array = array[:, :, None] if array.ndim == 2 else array
        return {"image": Preprocess().normalise(torch.from_numpy(array.transpose(2, 0, 1).copy()) / 255.0),
                "label": torch.tensor(int(self.labels[index]))}


def epoch_batches(n: int, batch_size: int, *, seed: int, epoch: int, rank: int = 0, world: int = 1) -> list[list[int]]:
    """This rank's batches for one epoch: a seeded shuffle, split evenly across ranks."""
    order = np.random.default_rng([seed, epoch, 7919]).permutation(n)
    per_rank = max(1, n // world)
    mine = order[rank * per_rank : (rank + 1) * per_rank] if n >= world else order[:1]
    return [mine[i : i + batch_size].tolist() for i in range(0, len(mine), batch_size)]


def collate(items: list[dict]) -> dict:
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}
