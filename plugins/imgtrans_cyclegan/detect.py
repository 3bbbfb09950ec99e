"""Reading a reference-layout ResNet generator's options from tensor shapes
(torch-free), and recognising the layouts that look like one but are not."""

from __future__ import annotations

import re

from imgtrans.checkpoints.detection import Checkpoint, Proposal, Unsupported, describe_norm, norm_of

_TOP_CONV = re.compile(r"model\.(\d+)\.weight")
# The reference's Sequential: pad, conv 7x7, norm, relu, two (conv, norm, relu)
# downsamplings, the blocks from index 10, two (convT, norm, relu), pad, conv 7x7, tanh.
FIRST_BLOCK = 10
AFTER_BLOCKS = 8  # the final 7x7 conv sits 8 modules after the last block


def detect(checkpoint: Checkpoint, report) -> None:
    first = checkpoint.shape("model.1.weight")
    if first is None or len(first) != 4 or first[2:] != (7, 7):
        patchgan(checkpoint, report)
        return
    ngf, input_nc = first[0], first[1]
    if any(key.endswith(".filt") for key in checkpoint.tensors):
        report(Unsupported("a CUT/FastCUT generator (antialiased down- and upsampling: fixed 'filt' blur buffers)",
                           "no installed family runs it (a CUT family plugin would)"))
        return
    last = max((int(m.group(1)) for key in checkpoint.tensors if (m := _TOP_CONV.fullmatch(key))
                and (checkpoint.shape(key) or ())[2:] == (7, 7)), default=1)
    blocks = last - AFTER_BLOCKS - FIRST_BLOCK + 1
    found = norm_of(checkpoint, "model.1", "model.2")
    if blocks < 1 or found is None:
        return
    norm, affine = found
    block = (f"model.{FIRST_BLOCK}.block" if checkpoint.has(f"model.{FIRST_BLOCK}.block.1.weight")
             else f"model.{FIRST_BLOCK}.conv_block")
    # A Dropout shifts the second conv from index 5 to 6 (where a norm's weight sits otherwise).
    dropout = len(checkpoint.shape(f"{block}.6.weight") or ()) == 4
    output_nc = (checkpoint.shape(f"model.{last}.weight") or (0,))[0]  # `last` is a key's: the shape exists
    words = f"ResNet generator, {blocks} residual blocks, ngf {ngf}, {describe_norm(norm, affine)}"
    report(Proposal(
        family="cyclegan",
        config={"netG": f"resnet_{blocks}blocks", "ngf": ngf, "norm": norm, "norm_affine": affine,
                "use_dropout": dropout, "input_nc": input_nc, "output_nc": output_nc},
        architecture=words + (", dropout" if dropout else ""),
        channels=(input_nc, output_nc),
    ))


def patchgan(checkpoint: Checkpoint, report) -> None:
    """The reference's NLayerDiscriminator (both families' D): worth naming,
    since `latest_net_D*.pth` sits beside the generator in every run folder.
    Its layout: conv, lrelu, then (conv, norm, lrelu) n_layers times, then
    the 1-channel conv; every conv 4x4."""
    first = checkpoint.shape("model.0.weight")
    if first is None or len(first) != 4 or first[2:] != (4, 4):
        return
    convs = sorted(int(m.group(1)) for key in checkpoint.tensors if (m := _TOP_CONV.fullmatch(key))
                   and len(checkpoint.shape(key) or ()) == 4)
    n_layers = len(convs) - 2
    if n_layers < 1 or convs != [0] + [2 + 3 * k for k in range(n_layers + 1)]:
        return
    if (checkpoint.shape(f"model.{convs[-1]}.weight") or (0,))[0] != 1 or any(
            (checkpoint.shape(f"model.{i}.weight") or ())[2:] != (4, 4) for i in convs):
        return
    found = norm_of(checkpoint, f"model.{convs[1]}", f"model.{convs[1] + 1}")
    if found is None or found[1]:
        return
    allowed = {f"model.{i}.{leaf}" for i in range(convs[-1] + 1)
               for leaf in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    if not set(checkpoint.tensors) <= allowed:
        return
    ndf, channels = first[0], first[1]
    pair = (" (a conditional one: input and output side by side, as pix2pix's)"
            if channels % 2 == 0 and channels > 1 else "")
    report(Unsupported(f"a PatchGAN discriminator ({n_layers} layers, ndf {ndf}, {channels} input channels{pair})",
                       "imgtrans runs generators; the reference saves the generator as latest_net_G.pth "
                       "(pix2pix) or latest_net_G_A.pth / latest_net_G_B.pth (CycleGAN)"))
