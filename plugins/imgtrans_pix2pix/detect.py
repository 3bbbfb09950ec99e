"""Reading a reference-layout U-Net generator's options from tensor shapes (torch-free)."""

from __future__ import annotations

from imgtrans.checkpoints.detection import Checkpoint, Proposal, describe_norm, norm_of

from .config import SIDES

DROPOUT_UNSEEN = ("U-Net dropout layers hold no weights, so the file cannot show it; on, as in the reference's "
                  "pix2pix (--no-dropout turns it off)")


def detect(checkpoint: Checkpoint, report) -> None:
    # Outermost block: [downconv, submodule, relu, upconv, tanh]; the others:
    # [relu, downconv, norm, submodule, relu, upconv, norm(, dropout)]; the
    # innermost: [relu, downconv, relu, upconv, norm].
    first = checkpoint.shape("model.model.0.weight")
    last = checkpoint.shape("model.model.3.weight")  # ConvTranspose2d: (in, out, 4, 4)
    if first is None or last is None or len(first) != 4 or first[2:] != (4, 4) or len(last) != 4:
        return
    downs, block = 1, "model.model.1"
    while checkpoint.has(f"{block}.model.1.weight"):
        downs, block = downs + 1, f"{block}.model.3"
    found = norm_of(checkpoint, "model.model.1.model.1", "model.model.1.model.2")
    if downs not in SIDES.values() or found is None:
        return
    norm, affine = found
    ngf, input_nc, output_nc = first[0], first[1], last[1]
    report(Proposal(
        family="pix2pix",
        config={"netG": f"unet_{2**downs}", "ngf": ngf, "norm": norm, "norm_affine": affine, "use_dropout": True,
                "input_nc": input_nc, "output_nc": output_nc},
        architecture=f"U-Net generator, {downs} downsamplings (unet_{2**downs}), ngf {ngf}, "
                     f"{describe_norm(norm, affine)}",
        channels=(input_nc, output_nc),
        assumed={"use_dropout": DROPOUT_UNSEEN},
    ))
