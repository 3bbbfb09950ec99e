"""Conditional GAN training: G(z, y) against D(x, y) with BCE on logits."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from imgtrans.spec import Preprocess
from imgtrans.training import recipe_tools as tools
from imgtrans.training.config import ConfigError
from imgtrans.training.data import LabelledDataset


class CGANRecipe(tools.Recipe):
    def __init__(self, config, family, device):
        self.config, self.family, self.device = config, family, device
        self.labels: tuple[str, ...] = ()
        self.networks: dict = {}
        self.optimizers: dict = {}
        self.bce = nn.BCEWithLogitsLoss()

    def dataset(self, root: Path):
        """The class count comes from the data, so networks are built here."""
        c = self.config
        data = LabelledDataset(root, channels=c.channels)
        found = len(data.class_names)
        if c.num_classes and c.num_classes != found:
            raise ConfigError(f"{root}: the data has {found} classes but --num-classes is {c.num_classes}")
        self.labels = data.class_names
        self.arch = tools.architecture(self.family, c, num_classes=found)
        g, d = tools.build(self.family, self.arch, self.device)
        self.networks.update({"G": g, "D": d})
        self.optimizers.update({"D": tools.adam(d.parameters(), c), "G": tools.adam(g.parameters(), c)})
        fixed = torch.Generator().manual_seed(c.seed)
        self.fixed_z = torch.randn(found * 8, c.z_dim, generator=fixed).to(self.device)
        self.fixed_y = torch.arange(found).repeat_interleave(8).to(self.device)
        return data

    def train_step(self, batch, update) -> dict[str, torch.Tensor]:
        g, d = self.networks["G"], self.networks["D"]
        real, labels = batch["image"], batch["label"]
        z = torch.randn(real.shape[0], self.config.z_dim, device=self.device)
        fake = g(z, labels)
        pred_real, pred_fake = d(real, labels), d(fake.detach(), labels)
        loss_d = self.bce(pred_real, torch.ones_like(pred_real)) + self.bce(pred_fake, torch.zeros_like(pred_fake))
        update("D", loss_d)
        pred = d(fake, labels)
        loss_g = self.bce(pred, torch.ones_like(pred))
        update("G", loss_g)
        return {"G": loss_g.detach(), "D": loss_d.detach(),
                "D_real": torch.sigmoid(pred_real.detach()).mean(), "D_fake": torch.sigmoid(pred_fake.detach()).mean()}

    def sample_grid(self, batch):
        """One row per class, eight fixed noise vectors (running statistics)."""
        g = self.networks["G"]
        was_training = g.training
        g.eval()
        images = g(self.fixed_z, self.fixed_y)
        g.train(was_training)
        per_class = images.view(len(self.labels), 8, *images.shape[1:])
        return tools.grid([[row] for row in per_class])

    def exports(self) -> list[tools.Export]:
        c = self.config
        pre = Preprocess(load_size=28, crop_size=28, resize="none", channels=c.channels)
        return [tools.Export("G", self.arch, "class label -> image", labels=self.labels, preprocess=pre)]


def make_recipe(config, family, device):
    return CGANRecipe(config, family, device)
