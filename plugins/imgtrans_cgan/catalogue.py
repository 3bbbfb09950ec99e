"""Conditional models trained with imgtrans and shipped in weights/."""

from __future__ import annotations

from imgtrans import ModelSpec, Preprocess, WeightsSource

DIGITS = tuple(str(i) for i in range(10))
FASHION = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")
FASHION_LICENSE = "MIT (data: Fashion-MNIST, Zalando Research, via Debian's dataset-fashion-mnist)"


def catalogue() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="cgan-digits",
            family="cgan",
            summary="Handwritten digits 0-9 (conditional DCGAN trained on scikit-learn's digits)",
            direction="digit label -> 28x28 image",
            config={"z_dim": 100, "num_classes": 10, "ngf": 32, "ndf": 32, "channels": 1},
            preprocess=Preprocess(load_size=28, crop_size=28, resize="none", channels=1),
            weights=WeightsSource(filename="cgan-digits.safetensors"),
            license="CC BY 4.0 (data: UCI Optical Recognition of Handwritten Digits, via scikit-learn)",
            source="trained with imgtrans; see weights/cgan-digits.md",
            labels=DIGITS,
        ),
        ModelSpec(
            name="cgan-fashion",
            family="cgan",
            summary="Fashion-MNIST items by class name (conditional DCGAN trained on Fashion-MNIST)",
            direction="class name -> 28x28 image",
            config={"z_dim": 100, "num_classes": 10, "ngf": 32, "ndf": 32, "channels": 1},
            preprocess=Preprocess(load_size=28, crop_size=28, resize="none", channels=1),
            weights=WeightsSource(filename="cgan-fashion.safetensors"),
            license=FASHION_LICENSE,
            source="trained with imgtrans; see weights/cgan-fashion.md",
            labels=FASHION,
        ),
    ]
