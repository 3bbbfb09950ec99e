"""CycleGAN training: two generators, two PatchGANs, LSGAN + cycle + identity
losses, replay buffers (the reference's `optimize_parameters`)."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import torch

from imgtrans.spec import Preprocess
from imgtrans.training import recipe_tools as tools
from imgtrans.training.data import UnalignedDataset
from imgtrans.training.losses import GANLoss, ImagePool, L1Loss, set_requires_grad


class CycleGANRecipe(tools.Recipe):
    def __init__(self, config, family, device):
        self.config, self.device = config, device
        self.arch = tools.architecture(family, config)
        self.reverse_arch = dataclasses.replace(self.arch, input_nc=config.output_nc, output_nc=config.input_nc)
        g_a, d_a = tools.build(family, self.arch, device)  # G_A: A -> B; D_A judges B
        g_b, d_b = tools.build(family, self.reverse_arch, device)
        self.networks = {"G_A": g_a, "G_B": g_b, "D_A": d_a, "D_B": d_b}
        self.optimizers = {
            "G": tools.adam(itertools.chain(g_a.parameters(), g_b.parameters()), config),
            "D": tools.adam(itertools.chain(d_a.parameters(), d_b.parameters()), config),
        }
        self.gan = GANLoss(config.gan_mode).to(device)
        self.l1 = L1Loss()
        self.pool_a, self.pool_b = ImagePool(config.pool_size), ImagePool(config.pool_size)

    def dataset(self, root: Path):
        c = self.config
        return UnalignedDataset(root, tools.transform(c, c.input_nc), tools.transform(c, c.output_nc), c.seed)

    def train_step(self, batch, update) -> dict[str, torch.Tensor]:
        c, n = self.config, self.networks
        real_a, real_b = batch["A"], batch["B"]
        fake_b, fake_a = n["G_A"](real_a), n["G_B"](real_b)
        rec_a, rec_b = n["G_B"](fake_b), n["G_A"](fake_a)

        set_requires_grad([n["D_A"], n["D_B"]], False)
        losses = {
            "G_A": self.gan(n["D_A"](fake_b), True) * c.lambda_gan,
            "G_B": self.gan(n["D_B"](fake_a), True) * c.lambda_gan,
            "cycle_A": self.l1(rec_a, real_a) * c.lambda_cycle,
            "cycle_B": self.l1(rec_b, real_b) * c.lambda_cycle,
        }
        if c.lambda_identity > 0:
            losses["idt_A"] = self.l1(n["G_A"](real_b), real_b) * c.lambda_cycle * c.lambda_identity
            losses["idt_B"] = self.l1(n["G_B"](real_a), real_a) * c.lambda_cycle * c.lambda_identity
        update("G", sum(losses.values()))

        set_requires_grad([n["D_A"], n["D_B"]], True)
        fake_b_seen, fake_a_seen = self.pool_b.query(fake_b), self.pool_a.query(fake_a)
        losses["D_A"] = 0.5 * (self.gan(n["D_A"](real_b), True) + self.gan(n["D_A"](fake_b_seen.detach()), False))
        losses["D_B"] = 0.5 * (self.gan(n["D_B"](real_a), True) + self.gan(n["D_B"](fake_a_seen.detach()), False))
        update("D", losses["D_A"] + losses["D_B"])
        return {k: v.detach() for k, v in losses.items()}

    def sample_grid(self, batch):
        """Rows: real A / fake B / reconstructed A, then real B / fake A / reconstructed B."""
        n = self.networks
        fake_b, fake_a = n["G_A"](batch["A"]), n["G_B"](batch["B"])
        return tools.grid([[batch["A"]], [fake_b], [n["G_B"](fake_b)], [batch["B"]], [fake_a], [n["G_A"](fake_a)]])

    def extra_state(self) -> dict:
        return {"pool_A": self.pool_a.state_dict(), "pool_B": self.pool_b.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        self.pool_a.load_state_dict(state["pool_A"], self.device)
        self.pool_b.load_state_dict(state["pool_B"], self.device)

    def exports(self) -> list[tools.Export]:
        c = self.config
        pre = Preprocess(load_size=c.load_size, crop_size=c.crop_size, resize=c.preprocess, channels=c.input_nc)
        pre_b = Preprocess(load_size=c.load_size, crop_size=c.crop_size, resize=c.preprocess, channels=c.output_nc)
        return [
            tools.Export("G_A", self.arch, "trainA -> trainB", preprocess=pre),
            tools.Export("G_B", self.reverse_arch, "trainB -> trainA", reverse=True, preprocess=pre_b),
        ]


def make_recipe(config, family, device):
    return CycleGANRecipe(config, family, device)
