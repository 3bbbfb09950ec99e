"""The pix2pix authors' published PyTorch models (downloaded on first use).

Names that the CycleGAN catalogue also uses get a `_pix2pix` suffix.
"""

from __future__ import annotations

from imgtrans import ModelCard, ModelSpec, Preprocess, WeightsSource

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


# What the pix2pix paper (Isola et al. 2017) and the reference's documentation say of these models.
REFERENCE_CARD = ModelCard(
    quality="not measured by imgtrans: the authors' weights download on first use and cannot be fetched on this "
            "project's offline machines; `imgtrans eval NAME --data DATASET` (paired test split) measures a "
            "downloaded copy",
    example="none shipped (the weights cannot be fetched offline); `imgtrans run NAME inputs/` makes one",
    failure_modes=(
        "inputs must look like its training inputs: label maps in that dataset's colours (facades: the CMP "
        "Facade palette), edges as the HED detector draws them (hand sketches are out of domain)",
        "dropout stays on at test time as the noise source: outputs vary with --seed (--no-dropout for one answer)",
        "trained on 256x256 pictures: structures much larger than that in a big picture are not completed",
    ),
)

EDGES2FASHION = ModelSpec(
    name="edges2fashion",
    family="pix2pix",
    summary="Edge map -> Fashion-MNIST item, 32x32 grayscale (pix2pix trained here)",
    direction="edge map -> item",
    config={"netG": "unet_32", "norm": "instance", "use_dropout": True, "ngf": 32, "input_nc": 1, "output_nc": 1},
    preprocess=Preprocess(load_size=32, crop_size=32, resize="none", channels=1),
    weights=WeightsSource(filename="edges2fashion.safetensors",
                          sha256="cd82795e7ce204ba4427c7aef082986926aad35f3b96d83993295f260fe97f1d"),
    license="MIT (data: Fashion-MNIST, Zalando Research, via Debian's dataset-fashion-mnist)",
    source="trained with imgtrans; see weights/edges2fashion.md",
    precision_psnr={"bf16": 49.39},  # benchmarks/precision.py, dropout off
    card=ModelCard(
        quality="on the 1,000 test pairs: L1 0.0616, PSNR 19.89 dB, SSIM 0.689, Frechet distance in the reference "
                "classifier's features 11.57 (floor 5.76): `imgtrans eval edges2fashion --data data/edges "
                "--classifier fashion` (weights/edges2fashion.md)",
        example="edges2fashion-examples.png (`python benchmarks/quality.py --grids weights`)",
        failure_modes=(
            "edge maps say nothing of texture or shade: prints and logos come out as plausible noise",
            "only 32x32 grayscale Fashion-MNIST-like edge maps (Sobel edges, black on white)",
        ),
    ),
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
            card=REFERENCE_CARD,
        )
        for name, (file, direction, trained) in PUBLISHED.items()
    ]
