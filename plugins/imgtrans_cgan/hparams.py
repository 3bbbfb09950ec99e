"""The conditional GAN's training recipe options and defaults (DCGAN-style:
Adam 2e-4, beta1 0.5, batch 64, BCE). Torch-free."""

from __future__ import annotations

from dataclasses import dataclass

from imgtrans.training.config import ConfigError, TrainConfig


@dataclass(frozen=True)
class CGANTrainConfig(TrainConfig):
    epochs: int = 20
    epochs_decay: int = 0
    batch_size: int = 64
    load_size: int = 28
    crop_size: int = 28
    preprocess: str = "none"
    flip: bool = False
    save_every: int = 500
    sample_every: int = 200
    z_dim: int = 100
    classes: int = 0  # 0: as many as the dataset has
    ngf: int = 64
    ndf: int = 64
    channels: int = 1

    def validate(self) -> None:
        super().validate()
        if self.z_dim < 1 or self.classes < 0 or self.channels not in (1, 3):
            raise ConfigError("z_dim must be positive, classes not negative, channels 1 or 3")
