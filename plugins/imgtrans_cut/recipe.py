"""CUT and FastCUT training (the authors' `CUTModel.optimize_parameters`): one
generator, one PatchGAN, a GAN loss and PatchNCE between input and output
patches (and, for CUT, between real B and G(real B)).

The MLP heads (network "F") are made from the feature shapes of the first
training example, as the authors make theirs on the first batch; that happens
in `dataset()`, before the engine reads the networks and optimisers, so the
heads are checkpointed, resumed and synchronised like the other networks,
and Adam steps them with the generator (one optimiser over both: Adam is per
parameter, so this equals the authors' two with the same settings). Patch
positions and FastCUT's flips come from the recipe's own random generator,
whose state is part of every checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from imgtrans.spec import Preprocess
from imgtrans.training import recipe_tools as tools
from imgtrans.training.data import UnalignedDataset
from imgtrans.training.losses import GANLoss, set_requires_grad

from .patchnce import PatchHeads, draw_patch_ids, patch_nce


def initialise(network: nn.Module, init_type: str, gain: float = 0.02) -> nn.Module:
    """The authors' `init_weights`: conv and linear weights xavier-normal (or
    normal) with gain 0.02, biases 0, batch-norm scales N(1, 0.02)."""
    for module in network.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if init_type == "xavier":
                nn.init.xavier_normal_(module.weight, gain=gain)
            else:
                nn.init.normal_(module.weight, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
    return network


class CUTRecipe(tools.Recipe):
    def __init__(self, config, family, device):
        self.config, self.family, self.device = config, family, device
        self.arch = tools.architecture(family, config)
        self.generator = torch.Generator().manual_seed(config.seed)
        g = initialise(family.build_generator(self.arch), config.init_type).to(device)
        d = initialise(family.build_discriminator(self.arch), config.init_type).to(device)
        self.networks: dict[str, nn.Module] = {"G": g, "D": d}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.gan = GANLoss(config.gan_mode).to(device)

    @property
    def uses_nce(self) -> bool:
        return self.config.lambda_nce > 0

    def dataset(self, root: Path):
        c = self.config
        data = UnalignedDataset(root, tools.transform(c, c.input_nc), tools.transform(c, c.output_nc), c.seed)
        if self.uses_nce and "F" not in self.networks:
            self.networks["F"] = initialise(PatchHeads(self.feature_channels(data[0]["A"].shape), c.netF_nc),
                                            c.init_type).to(self.device)
        heads = list(self.networks["F"].parameters()) if self.uses_nce else []
        self.optimizers = {"G": tools.adam([*self.networks["G"].parameters(), *heads], c),
                           "D": tools.adam(self.networks["D"].parameters(), c)}
        return data

    def feature_channels(self, example_shape: torch.Size) -> list[int]:
        """The channels of the PatchNCE layers, from a forward pass on the
        meta device (shapes only, no arithmetic) of the first example's shape."""
        with torch.device("meta"):
            encoder = self.family.build_generator(self.arch)
            features = encoder(torch.empty(1, *example_shape), nce_layers=self.config.layers)
        return [f.shape[1] for f in features]

    def nce_loss(self, source: torch.Tensor, target: torch.Tensor, flipped: bool) -> torch.Tensor:
        """Mean over layers of the mean PatchNCE loss, times lambda_nce."""
        c, n = self.config, self.networks
        query_features = n["G"](target, nce_layers=c.layers)
        if flipped:
            query_features = [f.flip(3) for f in query_features]
        with torch.no_grad():  # the keys are targets: the authors detach them
            key_features = n["G"](source, nce_layers=c.layers)
            ids = draw_patch_ids(key_features, c.num_patches, self.generator)
            keys = n["F"](key_features, ids)
        queries = n["F"](query_features, ids)
        total = sum(patch_nce(q, k, batch_size=source.shape[0], temperature=c.nce_temperature,
                              all_negatives=c.nce_all_negatives).mean() for q, k in zip(queries, keys))
        return total * c.lambda_nce / len(queries)

    def train_step(self, batch, update) -> dict[str, float]:
        c, n = self.config, self.networks
        real_a, real_b = batch["A"], batch["B"]
        identity = c.nce_idt and self.uses_nce
        real = torch.cat([real_a, real_b]) if identity else real_a
        flipped = c.flip_equivariance and bool(torch.rand((), generator=self.generator) < 0.5)
        if flipped:
            real = real.flip(3)
        fake = n["G"](real)
        fake_b = fake[: real_a.shape[0]]

        set_requires_grad([n["D"]], True)
        losses = {"D_real": self.gan(n["D"](real_b), True), "D_fake": self.gan(n["D"](fake_b.detach()), False)}
        update("D", 0.5 * (losses["D_real"] + losses["D_fake"]))

        set_requires_grad([n["D"]], False)
        losses["G_GAN"] = self.gan(n["D"](fake_b), True) * c.lambda_gan
        total = losses["G_GAN"]
        if self.uses_nce:
            losses["NCE"] = self.nce_loss(real_a, fake_b, flipped)
            nce = losses["NCE"]
            if identity:
                losses["NCE_Y"] = self.nce_loss(real_b, fake[real_a.shape[0]:], flipped)
                nce = 0.5 * (nce + losses["NCE_Y"])
            total = total + nce
        update("G", total)
        return {k: float(v.detach()) for k, v in losses.items()}

    def sample_grid(self, batch):
        """Rows: real A, G(real A), then real B and G(real B) (the pair identity PatchNCE compares)."""
        g = self.networks["G"]
        rows = [[batch["A"]], [g(batch["A"])]]
        if self.config.input_nc == self.config.output_nc:
            rows += [[batch["B"]], [g(batch["B"])]]
        return tools.grid(rows)

    def extra_state(self) -> dict:
        return {"sampling_rng": self.generator.get_state()}

    def load_extra_state(self, state: dict) -> None:
        self.generator.set_state(state["sampling_rng"])

    def exports(self) -> list[tools.Export]:
        c = self.config
        pre = Preprocess(load_size=c.load_size, crop_size=c.crop_size, resize=c.preprocess, channels=c.input_nc)
        return [tools.Export("G", self.arch, "trainA -> trainB", preprocess=pre)]


def make_recipe(config, family, device):
    return CUTRecipe(config, family, device)
