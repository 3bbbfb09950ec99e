"""pix2pix training: U-Net generator, conditional PatchGAN on (input, output)
pairs, GAN + L1 (the reference's `optimize_parameters`: D first, then G)."""

from __future__ import annotations

from pathlib import Path

import torch

from imgtrans.spec import Preprocess
from imgtrans.training import recipe_tools as tools
from imgtrans.training.data import AlignedDataset
from imgtrans.training.losses import GANLoss, L1Loss, set_requires_grad


class Pix2PixRecipe(tools.Recipe):
    def __init__(self, config, family, device):
        self.config, self.device = config, device
        self.arch = tools.architecture(family, config)
        g, d = tools.build(family, self.arch, device)
        self.networks = {"G": g, "D": d}
        self.optimizers = {"D": tools.adam(d.parameters(), config), "G": tools.adam(g.parameters(), config)}
        self.gan = GANLoss(config.gan_mode).to(device)
        self.l1 = L1Loss()

    def dataset(self, root: Path):
        c = self.config
        return AlignedDataset(root, tools.transform(c, c.input_nc), tools.transform(c, c.output_nc), c.seed,
                              c.direction)

    def train_step(self, batch, update) -> dict[str, torch.Tensor]:
        c, g, d = self.config, self.networks["G"], self.networks["D"]
        real_a, real_b = batch["A"], batch["B"]
        fake_b = g(real_a)

        set_requires_grad([d], True)
        loss_d_fake = self.gan(d(torch.cat([real_a, fake_b.detach()], 1)), False)
        loss_d_real = self.gan(d(torch.cat([real_a, real_b], 1)), True)
        loss_d = 0.5 * (loss_d_fake + loss_d_real)
        update("D", loss_d)

        set_requires_grad([d], False)
        loss_g_gan = self.gan(d(torch.cat([real_a, fake_b], 1)), True) * c.lambda_gan
        loss_g_l1 = self.l1(fake_b, real_b) * c.lambda_l1
        update("G", loss_g_gan + loss_g_l1)
        return {"G_GAN": loss_g_gan.detach(), "G_L1": loss_g_l1.detach(),
                "D_real": loss_d_real.detach(), "D_fake": loss_d_fake.detach()}

    def sample_grid(self, batch):
        """Rows: input / output / target (the generator in its test-time mode)."""
        return tools.grid([[batch["A"]], [self.networks["G"](batch["A"])], [batch["B"]]])

    def exports(self) -> list[tools.Export]:
        c = self.config
        pre = Preprocess(load_size=c.load_size, crop_size=c.crop_size, resize=c.preprocess, channels=c.input_nc)
        return [tools.Export("G", self.arch, "A -> B" if c.direction == "AtoB" else "B -> A", preprocess=pre)]


def make_recipe(config, family, device):
    return Pix2PixRecipe(config, family, device)
