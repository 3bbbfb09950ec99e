"""scripts/make_datasets.py on a tiny stand-in for Fashion-MNIST (same IDX
format): the layouts it writes are the ones `imgtrans train` and `eval` read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import write_idx
from PIL import Image

from imgtrans.evaluation import data

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_datasets.py"


def make(tmp_path: Path, command: str) -> Path:
    fake = tmp_path / "fake-fashion"
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        write_idx(fake, prefix, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 10)
    out = tmp_path / command
    done = subprocess.run([sys.executable, str(SCRIPT), command, str(out)],
                          env={**os.environ, "FASHION_MNIST": str(fake)}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def test_fashion_copies_idx_and_names_the_classes(tmp_path):
    out = make(tmp_path, "fashion")
    images, labels, names = data.labelled(out, "test")
    assert images.shape == (20, 28, 28, 1) and names[7] == "sneaker" and names[9] == "ankle-boot"


def test_edges_writes_pairs_and_disjoint_unpaired_halves(tmp_path):
    out = make(tmp_path, "edges")
    a, b = data.pairs(out / "test", channels=1)
    assert a.shape == b.shape == (20, 32, 32, 1)
    assert set(np.unique(a)) <= {0, 255}  # edge maps are binary
    train_a = {p.name for p in (out / "trainA").iterdir()}
    train_b = {p.name for p in (out / "trainB").iterdir()}
    assert len(train_a) == len(train_b) == 20 and not train_a & train_b
    assert data.layout(out) == "paired"


def test_sneaker_boot_takes_only_those_classes(tmp_path):
    out = make(tmp_path, "sneaker-boot")
    assert data.layout(out) == "unpaired"
    # 40 and 20 cycle 10 classes
    assert len(list((out / "trainA").iterdir())) == 4 and len(list((out / "testB").iterdir())) == 2
    with Image.open(next((out / "testA").iterdir())) as image:
        assert image.size == (32, 32) and image.mode == "L"
    missing = subprocess.run([sys.executable, str(SCRIPT), "edges", str(tmp_path / "x")],
                             env={**os.environ, "FASHION_MNIST": str(tmp_path / "nowhere")},
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "dataset-fashion-mnist" in missing.stderr


def test_idx_files_in_either_mnist_spelling(tmp_path):
    from imgtrans.training.data import LabelledDataset

    rng = np.random.default_rng(0)
    write_idx(tmp_path / "mnist", "train", rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), np.arange(6) % 3)
    for path in (tmp_path / "mnist").iterdir():  # train-images-idx3-ubyte.gz -> train-images.idx3-ubyte.gz
        path.rename(path.with_name(path.name.replace("-idx", ".idx")))
    dataset = LabelledDataset(tmp_path / "mnist")
    assert len(dataset) == 6 and dataset.class_names == ("0", "1", "2")
    assert dataset[4]["label"] == 1 and dataset[4]["image"].shape == (1, 28, 28)
