"""Conditional models trained with imgtrans and shipped in weights/."""

from __future__ import annotations

from imgtrans import ModelCard, ModelSpec, Preprocess, WeightsSource

DIGITS = tuple(str(i) for i in range(10))
FASHION = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")


def trained_here(name: str, summary: str, direction: str, labels: tuple[str, ...], license: str, sha256: str,
                 quality: str, failures: tuple[str, ...]) -> ModelSpec:
    """A 28x28 grayscale generator (z 100, ngf/ndf 32) with its card at weights/NAME.md."""
    return ModelSpec(
        name=name,
        family="cgan",
        summary=summary,
        direction=direction,
        config={"z_dim": 100, "num_classes": len(labels), "ngf": 32, "ndf": 32, "channels": 1},
        preprocess=Preprocess(load_size=28, crop_size=28, resize="none", channels=1),
        weights=WeightsSource(filename=f"{name}.safetensors", sha256=sha256),
        license=license,
        source=f"trained with imgtrans; see weights/{name}.md",
        labels=labels,
        card=ModelCard(
            quality=f"{quality}: `imgtrans eval {name} --data data/{name.removeprefix('cgan-')}` (weights/{name}.md)",
            example=f"{name}-samples.png (`imgtrans sample {name} -n 10 --seed 0 -o weights/{name}-samples.png`)",
            failure_modes=failures + ("28x28 grayscale only; a class it was not trained on cannot be asked for",),
        ),
    )


def catalogue() -> list[ModelSpec]:
    return [
        trained_here("cgan-digits", "Handwritten digits 0-9 (conditional DCGAN trained on scikit-learn's digits)",
                     "digit label -> 28x28 image", DIGITS,
                     "CC BY 4.0 (data: UCI Optical Recognition of Handwritten Digits, via scikit-learn)",
                     "b01989299fafc045401743ae07421cb79b7d00deb0a9b1f5a0e7e62bc701be3b",
                     "samples recognised as the requested digit 0.999 (real test digits 0.997), within-class diversity "
                     "0.82 of the real digits' (100 samples per class, seed 0)",
                     ("the least varied classes are 4 and 0 (diversity 0.63 and 0.72 of the real digits')",
                      "trained on 1,442 upscaled 8x8 digits: strokes are blurrier than MNIST's")),
        trained_here("cgan-fashion", "Fashion-MNIST items by class name (conditional DCGAN trained on Fashion-MNIST)",
                     "class name -> 28x28 image", FASHION,
                     "MIT (data: Fashion-MNIST, Zalando Research, via Debian's dataset-fashion-mnist)",
                     "ac5cbc7836b5dc54d0d29a736099c07d3d7b4124d774230f1dca714856dbbf98",
                     "samples recognised as the requested class 0.902 (real test images 0.896), within-class "
                     "diversity 0.92 of the real images' (100 samples per class, seed 0)",
                     ("shirts, pullovers and t-shirts are the weakest classes (recognised 0.65, 0.80, 0.86): they "
                      "look alike, for the classifier too",)),
    ]
