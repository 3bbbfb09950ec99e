"""Conditional models trained with imgtrans and shipped in weights/."""

from __future__ import annotations

from imgtrans import ModelSpec, Preprocess, WeightsSource

DIGITS = tuple(str(i) for i in range(10))
FASHION = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")


def trained_here(name: str, summary: str, direction: str, labels: tuple[str, ...], license: str) -> ModelSpec:
    """A 28x28 grayscale generator (z 100, ngf/ndf 32) with its card at weights/NAME.md."""
    return ModelSpec(
        name=name,
        family="cgan",
        summary=summary,
        direction=direction,
        config={"z_dim": 100, "num_classes": len(labels), "ngf": 32, "ndf": 32, "channels": 1},
        preprocess=Preprocess(load_size=28, crop_size=28, resize="none", channels=1),
        weights=WeightsSource(filename=f"{name}.safetensors"),
        license=license,
        source=f"trained with imgtrans; see weights/{name}.md",
        labels=labels,
    )


def catalogue() -> list[ModelSpec]:
    return [
        trained_here("cgan-digits", "Handwritten digits 0-9 (conditional DCGAN trained on scikit-learn's digits)",
                     "digit label -> 28x28 image", DIGITS,
                     "CC BY 4.0 (data: UCI Optical Recognition of Handwritten Digits, via scikit-learn)"),
        trained_here("cgan-fashion", "Fashion-MNIST items by class name (conditional DCGAN trained on Fashion-MNIST)",
                     "class name -> 28x28 image", FASHION,
                     "MIT (data: Fashion-MNIST, Zalando Research, via Debian's dataset-fashion-mnist)"),
    ]
