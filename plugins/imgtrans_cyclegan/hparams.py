"""CycleGAN's training recipe options and defaults (the paper and the
reference implementation). Torch-free: read by --print-config and flag parsing."""

from __future__ import annotations

from dataclasses import dataclass

from imgtrans.training.config import GAN_MODES, ConfigError, TrainConfig

from .config import CycleGANConfig


@dataclass(frozen=True)
class CycleGANTrainConfig(CycleGANConfig, TrainConfig):
    """The architecture (CycleGANConfig) plus the training recipe's options."""

    gan_mode: str = "lsgan"
    lambda_gan: float = 1.0  # 0 gives the paper's "cycle alone" ablation
    lambda_cycle: float = 10.0  # 0 gives "GAN alone"
    lambda_identity: float = 0.5  # relative to lambda_cycle, as in the reference
    pool_size: int = 50

    def validate(self) -> None:
        super().validate()
        if self.gan_mode not in GAN_MODES:
            raise ConfigError(f"gan_mode must be one of {', '.join(GAN_MODES)}, not {self.gan_mode!r}")
        if self.lambda_identity > 0 and self.input_nc != self.output_nc:
            raise ConfigError("identity loss needs input_nc == output_nc (set --lambda-identity 0)")
        if min(self.lambda_gan, self.lambda_cycle, self.lambda_identity) < 0 or self.pool_size < 0:
            raise ConfigError("loss weights and pool_size must not be negative")
