"""Fixtures: an isolated imgtrans home, a CLI runner, reference-format checkpoints
and real image files made on the fly."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from imgtrans.cli import create_app
from imgtrans.plugins import make_plugin_manager
from imgtrans.registry import Registry


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test gets its own cache folder and working directory."""
    monkeypatch.setenv("IMGTRANS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("IMGTRANS_DEVICE", raising=False)
    monkeypatch.delenv("IMGTRANS_MIRROR", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def registry():
    return Registry.from_plugin_manager(make_plugin_manager())


class Cli:
    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args, input=None, pm=None):
        return self.runner.invoke(create_app(pm), [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture
def cli():
    return Cli()


def make_checkpoint(path: Path, family: str, seed: int = 0, **options) -> dict:
    """A reference-format checkpoint: the bare generator state dict, random weights."""
    import torch

    from imgtrans.blocks import init_weights

    fam = Registry.from_plugin_manager(make_plugin_manager()).family(family)
    torch.manual_seed(seed)
    net = init_weights(fam.build_generator(fam.make_config(options)))
    state = net.state_dict()
    torch.save(state, path)
    return state


def import_tiny(cli, folder: Path, family: str, name: str, netG: str) -> str:
    """A random-weights reference checkpoint at width 8, imported as `name`."""
    make_checkpoint(folder / f"{name}.pth", family, netG=netG, ngf=8)
    result = cli("weights", "import", folder / f"{name}.pth", "--name", name, "--plugin", family, "--netG", netG,
                 "--ngf", "8")
    assert result.exit_code == 0, result.stderr
    return name


@pytest.fixture
def tiny_cyclegan(cli, tmp_path):
    return import_tiny(cli, tmp_path, "cyclegan", "tiny", "resnet_6blocks")


@pytest.fixture
def tiny_pix2pix(cli, tmp_path):
    return import_tiny(cli, tmp_path, "pix2pix", "tinyp2p", "unet_128")


def random_image(path: Path, size=(53, 37), mode="RGB", seed=0, **save_options) -> Path:
    rng = np.random.default_rng(seed)
    w, h = size
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    image = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **save_options)
    return path


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray, *, gzip_labels: bool = True) -> None:
    """MNIST-format PREFIX-images-idx3-ubyte.gz and PREFIX-labels-idx1-ubyte[.gz]."""
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(struct.pack(">HBBIII", 0, 8, 3, *images.shape) + images.astype(np.uint8).tobytes())
    labels_path = folder / f"{prefix}-labels-idx1-ubyte{'.gz' if gzip_labels else ''}"
    with (gzip.open if gzip_labels else open)(labels_path, "wb") as fh:
        fh.write(struct.pack(">HBBI", 0, 8, 1, len(labels)) + labels.astype(np.uint8).tobytes())


def smooth_image(rng, size):
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.BICUBIC))


@pytest.fixture
def unaligned(tmp_path):
    rng = np.random.default_rng(0)
    for domain in ("trainA", "trainB"):
        (tmp_path / "uns" / domain).mkdir(parents=True)
        for i in range(4):
            image = smooth_image(rng, 40)
            Image.fromarray(image if domain == "trainA" else 255 - image).save(tmp_path / "uns" / domain / f"{i}.png")
    return tmp_path / "uns"
