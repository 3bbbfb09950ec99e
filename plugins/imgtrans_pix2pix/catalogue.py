"""The pix2pix authors' published PyTorch models (downloaded on first use).

Names that the CycleGAN catalogue also uses get a `_pix2pix` suffix.
"""

from __future__ import annotations

from imgtrans import ModelSpec, Preprocess, WeightsSource

REFERENCE_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{name}.pth"
REFERENCE_SOURCE = "pix2pix authors' pretrained models (junyanz/pytorch-CycleGAN-and-pix2pix)"
REFERENCE_LICENSE = "BSD-2-Clause (pytorch-CycleGAN-and-pix2pix); datasets under their own terms"
# The reference's pix2pix default: U-Net 256, batch norm, dropout; load 286 / crop 256.
REFERENCE_CONFIG = {"netG": "unet_256", "norm": "batch", "use_dropout": True, "ngf": 64}

# name -> (file name, direction, the dataset direction it was trained with)
PUBLISHED = {
    "edges2shoes": ("edges2shoes", "edge map -> shoe photo", "AtoB"),
    "sat2map_pix2pix": ("sat2map", "satellite photo -> map", "AtoB"),
    "map2sat_pix2pix": ("map2sat", "map -> satellite photo", "BtoA"),
    "facades_label2photo_pix2pix": ("facades_label2photo", "label map -> facade photo", "BtoA"),
    "day2night": ("day2night", "day photo -> night photo", "AtoB"),
}


EDGES2FASHION = ModelSpec(
    name="edges2fashion",
    family="pix2pix",
    summary="Edge map -> Fashion-MNIST item, 32x32 grayscale (pix2pix trained here)",
    direction="edge map -> item",
    config={"netG": "unet_32", "norm": "instance", "use_dropout": True, "ngf": 32, "input_nc": 1, "output_nc": 1},
    preprocess=Preprocess(load_size=32, crop_size=32, resize="none", channels=1),
    weights=WeightsSource(filename="edges2fashion.safetensors"),
    license="MIT (data: Fashion-MNIST, Zalando Research, via Debian's dataset-fashion-mnist)",
    source="trained with imgtrans; see weights/edges2fashion.md",
    precision_psnr={"bf16": 49.39},  # benchmarks/precision.py, dropout off
)


def catalogue() -> list[ModelSpec]:
    return [EDGES2FASHION] + [
        ModelSpec(
            name=name,
            family="pix2pix",
            summary=f"pix2pix {direction} (authors' pretrained model, trained {trained})",
            direction=direction,
            config=REFERENCE_CONFIG,
            preprocess=Preprocess(),
            weights=WeightsSource(url=REFERENCE_URL.format(name=file)),
            license=REFERENCE_LICENSE,
            source=f"{REFERENCE_SOURCE}; trained with --direction {trained}",
        )
        for name, (file, direction, trained) in PUBLISHED.items()
    ]
