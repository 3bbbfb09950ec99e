"""GAN losses and the image replay buffer, shared by the recipes."""

from __future__ import annotations

import torch
from torch import nn

from imgtrans.training.config import GAN_MODES


class GANLoss(nn.Module):
    """LSGAN (mean squared error to 1/0) or vanilla (BCE on logits) against a
    target of the discriminator output's shape, as in the reference."""

    def __init__(self, mode: str):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {', '.join(GAN_MODES)}, not {mode!r}")
        self.loss = nn.MSELoss() if mode == "lsgan" else nn.BCEWithLogitsLoss()

    def forward(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        prediction = prediction.float()  # losses in float32 under mixed precision
        target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
        return self.loss(prediction, target)


class L1Loss(nn.L1Loss):
    """Mean absolute error in float32 (a bf16 output against a float32 target)."""

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return super().forward(output.float(), target.float())


class ImagePool:
    """The replay buffer of Shrivastava et al. (used by CycleGAN): the
    discriminator sees a mix of the latest fakes and up to `size` older ones.

    Randomness comes from torch's global generator, whose state the engine
    checkpoints, so a resumed run draws the same choices.
    """

    def __init__(self, size: int):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(1).item() > 0.5:
                index = int(torch.randint(0, self.size, (1,)).item())
                out.append(self.images[index].clone())
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        return {"images": [im.cpu() for im in self.images]}

    def load_state_dict(self, state: dict, device) -> None:
        self.images = [im.to(device) for im in state["images"]]


def set_requires_grad(nets, flag: bool) -> None:
    for net in nets:
        for parameter in net.parameters():
            parameter.requires_grad_(flag)
