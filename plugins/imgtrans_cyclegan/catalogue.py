"""Named CycleGAN models: the shipped `vintage` model and every pretrained
direction the CycleGAN authors published (downloaded on first use)."""

from __future__ import annotations

from imgtrans import ModelSpec, Preprocess, WeightsSource

REFERENCE_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{name}.pth"
REFERENCE_SOURCE = "CycleGAN authors' pretrained models (junyanz/pytorch-CycleGAN-and-pix2pix)"
REFERENCE_LICENSE = "BSD-2-Clause (pytorch-CycleGAN-and-pix2pix); datasets under their own terms"
# The reference's default: ResNet-9, instance norm, trained at load 286 / crop 256.
REFERENCE_CONFIG = {"netG": "resnet_9blocks", "norm": "instance", "ngf": 64}

PUBLISHED = {
    "apple2orange": "apple -> orange",
    "orange2apple": "orange -> apple",
    "summer2winter_yosemite": "summer -> winter (Yosemite)",
    "winter2summer_yosemite": "winter -> summer (Yosemite)",
    "horse2zebra": "horse -> zebra",
    "zebra2horse": "zebra -> horse",
    "monet2photo": "Monet painting -> photo",
    "style_monet": "photo -> Monet painting",
    "style_cezanne": "photo -> Cezanne painting",
    "style_ukiyoe": "photo -> Ukiyo-e print",
    "style_vangogh": "photo -> Van Gogh painting",
    "sat2map": "satellite photo -> map",
    "map2sat": "map -> satellite photo",
    "cityscapes_photo2label": "street photo -> label map (Cityscapes)",
    "cityscapes_label2photo": "label map -> street photo (Cityscapes)",
    "facades_photo2label": "facade photo -> label map",
    "facades_label2photo": "label map -> facade photo",
    "iphone2dslr_flower": "iPhone flower photo -> DSLR look (shallow depth of field)",
}

VINTAGE = ModelSpec(
    name="vintage",
    family="cyclegan",
    summary="Modern photo -> vintage look (vintagify's CycleGAN generator, epoch 33)",
    direction="modern photo -> vintage",
    config={"netG": "resnet_9blocks", "norm": "instance", "norm_affine": True, "ngf": 64},
    preprocess=Preprocess(load_size=542, crop_size=512, resize="scale_shorter_side_and_center_crop"),
    weights=WeightsSource(
        filename="vintage.safetensors",
        package="vintagify",
        package_file="resources/G_A2B_epoch33.pth",
        sha256="c502cd44ca720d004f89775f593fc403acc6b36d27d65390cbe2f476f771e560",
    ),
    license="MIT (c) 2025 beingbetter11643; vintagify by Yusong Zhao and Fangyi Wang",
    source="PyPI package vintagify 0.1.2: vintagify/resources/G_A2B_epoch33.pth",
    precision_psnr={"bf16": 55.0},  # benchmarks/precision.py, worst of the example photos
)


FASHION_LICENSE = "MIT (data: Fashion-MNIST, Zalando Research, via Debian's dataset-fashion-mnist)"
SMALL_GRAY = Preprocess(load_size=32, crop_size=32, resize="none", channels=1)
SHOES_CONFIG = {"netG": "resnet_6blocks", "norm": "instance", "ngf": 16, "input_nc": 1, "output_nc": 1}
TRAINED_HERE = [
    ModelSpec(
        name=name,
        family="cyclegan",
        summary=f"Fashion-MNIST {direction}, 32x32 grayscale (CycleGAN trained here, unpaired)",
        direction=direction,
        config=SHOES_CONFIG,
        preprocess=SMALL_GRAY,
        weights=WeightsSource(filename=f"{name}.safetensors"),
        license=FASHION_LICENSE,
        source="trained with imgtrans; see weights/sneaker2boot.md",
        precision_psnr={"bf16": bf16_db},  # benchmarks/precision.py
    )
    for name, direction, bf16_db in (("sneaker2boot", "sneaker -> ankle boot", 53.39),
                                     ("boot2sneaker", "ankle boot -> sneaker", 53.31))
]


def catalogue() -> list[ModelSpec]:
    models = [VINTAGE, *TRAINED_HERE]
    for name, direction in PUBLISHED.items():
        models.append(
            ModelSpec(
                name=name,
                family="cyclegan",
                summary=f"CycleGAN {direction} (authors' pretrained model)",
                direction=direction,
                config=REFERENCE_CONFIG,
                weights=WeightsSource(url=REFERENCE_URL.format(name=name)),
                license=REFERENCE_LICENSE,
                source=REFERENCE_SOURCE,
            )
        )
    return models
