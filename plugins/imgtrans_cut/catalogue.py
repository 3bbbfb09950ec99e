"""Named CUT models: the authors' published CUT and FastCUT generators
(downloaded on first use from their one archive)."""

from __future__ import annotations

from imgtrans import ModelCard, ModelSpec, WeightsSource

# The authors publish every pretrained model in one tar (their README: `wget
# .../CUT/pretrained_models.tar`), each generator at
# checkpoints/NAME_pretrained/latest_net_G.pth; imgtrans takes that member.
ARCHIVE_URL = "http://efrosgans.eecs.berkeley.edu/CUT/pretrained_models.tar"
MEMBER = "checkpoints/{name}_pretrained/latest_net_G.pth"
SOURCE = "CUT authors' pretrained models (taesungp/contrastive-unpaired-translation, README)"
LICENSE = "BSD (taesungp/contrastive-unpaired-translation); datasets under their own terms"
# The authors' defaults: ResNet-9, instance norm, antialiased down- and upsampling.
CONFIG = {"netG": "resnet_9blocks", "ngf": 64, "norm": "instance"}
# What the paper (Park et al. 2020, sections 4 and 6) says of its own models.
FAILURES = (
    "changes texture and colour, hardly shape: cat -> dog keeps the cat's pose and outline",
    "one direction only, and no cycle to keep the input's content: it can drop or invent details that the "
    "target domain's statistics favour (the paper's failure cases: a horse rider turned into stripes)",
    "trained on 256x256 crops (the authors test at 256x256 resized inputs); larger pictures keep the texture's scale",
)
CARD = ModelCard(
    quality="not measured by imgtrans: the authors' weights download on first use and cannot be fetched on this "
            "project's offline machines; the paper reports horse->zebra FID 45.5 for CUT against "
            "CycleGAN's 77.2 (docs/cut.md); `imgtrans eval NAME --data DATASET --fid` measures a downloaded copy",
    example="none shipped (the weights cannot be fetched offline); `imgtrans run NAME examples/*.jpg` makes one",
    failure_modes=FAILURES,
)

PUBLISHED = {
    # catalogue name: (the authors' experiment name, direction, summary)
    "horse2zebra_cut": ("horse2zebra_cut", "horse -> zebra", "CUT horse -> zebra"),
    "horse2zebra_fastcut": ("horse2zebra_fastcut", "horse -> zebra", "FastCUT horse -> zebra"),
    "cat2dog_cut": ("cat2dog_cut", "cat -> dog (AFHQ)", "CUT cat -> dog"),
    "cat2dog_fastcut": ("cat2dog_fastcut", "cat -> dog (AFHQ)", "FastCUT cat -> dog"),
    # Trained with --direction BtoA on photos (A) and label maps (B).
    "cityscapes_label2photo_cut": ("cityscapes_cut", "label map -> street photo (Cityscapes)",
                                   "CUT label map -> street photo"),
    "cityscapes_label2photo_fastcut": ("cityscapes_fastcut", "label map -> street photo (Cityscapes)",
                                       "FastCUT label map -> street photo"),
}


def catalogue() -> list[ModelSpec]:
    return [
        ModelSpec(
            name=name,
            family="cut",
            summary=f"{summary} (authors' pretrained model)",
            direction=direction,
            config=CONFIG,
            weights=WeightsSource(url=ARCHIVE_URL, member=MEMBER.format(name=experiment)),
            license=LICENSE,
            source=SOURCE,
            card=CARD,
        )
        for name, (experiment, direction, summary) in PUBLISHED.items()
    ]
