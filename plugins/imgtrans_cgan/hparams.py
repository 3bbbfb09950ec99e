"""The conditional GAN's training recipe options and defaults (DCGAN-style:
Adam 2e-4, beta1 0.5, batch 64, BCE). Torch-free."""

from __future__ import annotations

from dataclasses import dataclass

from imgtrans.training.config import ConfigError, TrainConfig

from .config import CGANConfig


@dataclass(frozen=True)
class CGANTrainConfig(CGANConfig, TrainConfig):
    """The architecture (CGANConfig) plus the training recipe's options."""

    renamed = {"classes": "num_classes"}  # the old spelling still works

    epochs: int = 20
    epochs_decay: int = 0
    batch_size: int = 64
    load_size: int = 28
    crop_size: int = 28
    preprocess: str = "none"
    flip: bool = False
    save_every: int = 500
    sample_every: int = 200
    num_classes: int = 0  # 0: as many as the dataset has

    def __post_init__(self):  # the class count may come from the data, checked in validate()
        pass

    def validate(self) -> None:
        super().validate()
        if self.z_dim < 1 or self.num_classes < 0 or self.channels not in (1, 3):
            raise ConfigError("z_dim must be positive, num_classes not negative, channels 1 or 3")
