"""Reading a CUT generator's options from its tensor shapes (torch-free).

Its Sequential is the ResNet generator's with a blur-subsample (`filt`
3x3) after each downsampling conv and a blur-upsample (`filt` 4x4) before
each upsampling conv. Without any `filt` the layout is the CycleGAN
generator's, which the cyclegan family runs: not proposed here.
"""

from __future__ import annotations

import re

from imgtrans.checkpoints.detection import Checkpoint, Proposal, describe_norm, norm_of

_FILT = re.compile(r"model\.(\d+)\.filt")
_BLOCK = re.compile(r"model\.(\d+)\.conv_block\.1\.weight")


def detect(checkpoint: Checkpoint, report) -> None:
    first = checkpoint.shape("model.1.weight")
    if first is None or len(first) != 4 or first[2:] != (7, 7):
        return
    filters = {int(m.group(1)): checkpoint.shape(key) for key in checkpoint.tensors if (m := _FILT.fullmatch(key))}
    if not filters:
        return
    down = sorted(i for i, shape in filters.items() if shape is not None and shape[2:] == (3, 3))
    up = sorted(i for i, shape in filters.items() if shape is not None and shape[2:] == (4, 4))
    blocks = sorted(int(m.group(1)) for key in checkpoint.tensors if (m := _BLOCK.fullmatch(key)))
    found = norm_of(checkpoint, "model.1", "model.2")
    if not blocks or found is None or found[1]:
        return
    no_antialias, no_antialias_up = not down, not up
    n_blocks = len(blocks)
    last = 4 + (6 if no_antialias else 8) + n_blocks + (6 if no_antialias_up else 8) + 1  # the final 7x7 conv
    out = checkpoint.shape(f"model.{last}.weight")
    if out is None or len(out) != 4:
        return
    ngf, input_nc, output_nc = first[0], first[1], out[0]
    norm = found[0]
    # A Dropout shifts the block's second conv from index 5 to 6.
    dropout = len(checkpoint.shape(f"model.{blocks[0]}.conv_block.6.weight") or ()) == 4
    variant = ("antialiased down- and upsampling" if down and up
               else "antialiased downsampling only (no_antialias_up)" if down
               else "antialiased upsampling only (no_antialias)")
    report(Proposal(
        family="cut",
        config={"netG": f"resnet_{n_blocks}blocks", "ngf": ngf, "norm": norm, "use_dropout": dropout,
                "no_antialias": no_antialias, "no_antialias_up": no_antialias_up, "input_nc": input_nc,
                "output_nc": output_nc},
        architecture=f"CUT ResNet generator, {n_blocks} residual blocks, ngf {ngf}, {describe_norm(norm, False)}, "
                     f"{variant}" + (", dropout" if dropout else ""),
        channels=(input_nc, output_nc),
    ))
