"""pix2pix's training recipe options and defaults (the paper and the reference
implementation). Torch-free: read by --print-config and flag parsing."""

from __future__ import annotations

from dataclasses import dataclass

from imgtrans.training.config import GAN_MODES, ConfigError, TrainConfig

from .config import Pix2PixConfig


@dataclass(frozen=True)
class Pix2PixTrainConfig(Pix2PixConfig, TrainConfig):
    """The architecture (Pix2PixConfig) plus the training recipe's options."""

    gan_mode: str = "vanilla"
    lambda_gan: float = 1.0  # 0 gives the paper's "L1 alone" ablation
    lambda_l1: float = 100.0  # 0 gives "cGAN alone"
    direction: str = "AtoB"

    def validate(self) -> None:
        super().validate()
        if self.gan_mode not in GAN_MODES:
            raise ConfigError(f"gan_mode must be one of {', '.join(GAN_MODES)}, not {self.gan_mode!r}")
        if self.direction not in ("AtoB", "BtoA"):
            raise ConfigError(f"direction must be AtoB or BtoA, not {self.direction!r}")
        if min(self.lambda_gan, self.lambda_l1) < 0 or self.lambda_gan + self.lambda_l1 == 0:
            raise ConfigError("lambda_gan and lambda_l1 must not be negative, nor both zero")
