"""Named CycleGAN models: the shipped `vintage` model and every pretrained
direction the CycleGAN authors published (downloaded on first use)."""

from __future__ import annotations

from imgtrans import ModelCard, ModelSpec, Preprocess, ScaleSensitivity, WeightsSource

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
# What the CycleGAN paper (Zhu et al. 2017, section 5.2) reports of its own models.
REFERENCE_FAILURES = (
    "changes texture and colour, not shape: translations that need geometric change (dog -> cat) fail",
    "follows its training set: content it never saw there changes too (horse2zebra, trained on ImageNet's wild "
    "horses, stripes a person riding one)",
    "trained on 256x256 crops: much larger pictures keep the texture's scale, so stripes or brush strokes look small",
)
REFERENCE_CARD = ModelCard(
    quality="not measured by imgtrans: the authors' weights download on first use and cannot be fetched on this "
            "project's offline machines; `imgtrans eval NAME --data DATASET` measures a downloaded copy",
    example="none shipped (the weights cannot be fetched offline); `imgtrans run NAME examples/*.jpg` makes one",
    failure_modes=REFERENCE_FAILURES,
)

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
    card=ModelCard(
        quality="identical to vintagify's own network (max abs difference 0.0) and float16 storage at 67.15 dB PSNR "
                "or better on the example photos: `python benchmarks/vintage_precision.py` (weights/vintage.md); no "
                "quality score exists for a look",
        example="vintage-examples.jpg (`python benchmarks/quality.py --grids weights`)",
        failure_modes=(
            "a look, not a restoration: it adds grain, fading and a colour cast, and cannot remove modern objects",
            "trained on 512x512 crops: very large photos get finer grain than the training photos had",
            "faces and skin take the same cast as everything else",
        ),
    ),
)


FASHION_LICENSE = "MIT (data: Fashion-MNIST, Zalando Research, via Debian's dataset-fashion-mnist)"
SMALL_GRAY = Preprocess(load_size=32, crop_size=32, resize="none", channels=1)
SHOES_CONFIG = {"netG": "resnet_6blocks", "norm": "instance", "ngf": 16, "input_nc": 1, "output_nc": 1}
SHOE_FAILURES = (
    "keeps the input's position, sole line and shade, not its silhouette: a sneaker's outline shows through the boot",
    "only 32x32 grayscale items on a black background, as in Fashion-MNIST; photos are out of its domain",
    "quality falls away from 32x32 (measured below): resize first with --load-size 32",
)
SCALE_COMMAND = "python benchmarks/scale_sensitivity.py {name} data/sneaker-boot --target {target}{flag}"
TRAINED_HERE = [
    ModelSpec(
        name=name,
        family="cyclegan",
        summary=f"Fashion-MNIST {direction}, 32x32 grayscale (CycleGAN trained here, unpaired)",
        direction=direction,
        config=SHOES_CONFIG,
        preprocess=SMALL_GRAY,
        weights=WeightsSource(filename=f"{name}.safetensors", sha256=sha256),
        license=FASHION_LICENSE,
        source="trained with imgtrans; see weights/sneaker2boot.md",
        precision_psnr={"bf16": bf16_db},  # benchmarks/precision.py
        card=ModelCard(
            quality=f"{share} of the 500 test images translated into the target class (untranslated: {before}), "
                    f"content L1 {l1}: `imgtrans eval {name} --data data/sneaker-boot --classifier fashion --target "
                    f"{target}{flag}` (weights/sneaker2boot.md)",
            example="sneaker2boot-examples.png (`python benchmarks/quality.py --grids weights`)",
            failure_modes=SHOE_FAILURES,
            scale=ScaleSensitivity(trained_side=32, tolerance=0.125, figures=f"target-class share {scale}",
                                   command=SCALE_COMMAND.format(name=name, target=target, flag=flag)),
        ),
    )
    for name, direction, bf16_db, sha256, target, flag, share, before, l1, scale in (
        ("sneaker2boot", "sneaker -> ankle boot", 53.39,
         "51da6a88f9847b2e407ff551f3a68067155cf4d7d49f006cf19ae629eaa10bc8", "ankle-boot", "", 0.910, 0.014, 0.1875,
         "0.91 at 32x32, 0.80 at 28, 0.78 at 40, under 0.2 at 24 and 48"),
        ("boot2sneaker", "ankle boot -> sneaker", 53.31,
         "03a7db61fae0e564523f24d3d59e1f74074e90963ecf329d2a267842fbd6cceb", "sneaker", " --direction BtoA", 0.972,
         0.044, 0.1965, "0.97 at 32x32, 0.91 at 28, 0.66 at 40, 0.74 at 24, under 0.2 at 20 and 48"),
    )
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
                card=REFERENCE_CARD,
            )
        )
    return models
