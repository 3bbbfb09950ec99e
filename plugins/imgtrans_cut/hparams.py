"""CUT's and FastCUT's training options and defaults (the authors'
`cut_model.py` and options). Torch-free: read by --print-config and flag parsing.

`preset` picks the paper's settings for the options a user leaves unset:
CUT (identity PatchNCE on the target domain, lambda_nce 1, 200 + 200 epochs)
or FastCUT (no identity term, lambda_nce 10, flip equivariance, 150 + 50
epochs). Options given explicitly, and every option of a resumed run's
config.toml, win over the preset.
"""

from __future__ import annotations

from dataclasses import dataclass

from imgtrans.training.config import GAN_MODES, ConfigError, TrainConfig

from .config import CUTConfig

PRESETS = {
    "cut": {"nce_idt": True, "lambda_nce": 1.0, "flip_equivariance": False, "epochs": 200, "epochs_decay": 200},
    "fastcut": {"nce_idt": False, "lambda_nce": 10.0, "flip_equivariance": True, "epochs": 150, "epochs_decay": 50},
}
INIT_TYPES = ("xavier", "normal")


@dataclass(frozen=True)
class CUTTrainConfig(CUTConfig, TrainConfig):
    """The architecture (CUTConfig) plus the recipe's options."""

    preset: str = "cut"
    epochs: int = 200
    epochs_decay: int = 200
    gan_mode: str = "lsgan"
    lambda_gan: float = 1.0
    lambda_nce: float = 1.0
    nce_idt: bool = True  # PatchNCE between real B and G(real B) as well (CUT)
    flip_equivariance: bool = False  # G(flip(x)) flipped back must match x's patches (FastCUT)
    nce_layers: str = "0,4,8,12,16"  # indices into the generator's Sequential whose outputs are compared
    num_patches: int = 256  # per layer and image
    nce_temperature: float = 0.07
    netF_nc: int = 256  # units of each MLP head
    nce_all_negatives: bool = False  # negatives from the whole batch (the authors' single-image setting)
    init_type: str = "xavier"  # the authors' default for CUT (gain 0.02); "normal" is CycleGAN's

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(sorted({int(part) for part in self.nce_layers.split(",") if part.strip()}))

    def validate(self) -> None:
        super().validate()
        if self.preset not in PRESETS:
            raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, not {self.preset!r}")
        if self.gan_mode not in GAN_MODES:
            raise ConfigError(f"gan_mode must be one of {', '.join(GAN_MODES)}, not {self.gan_mode!r}")
        if self.init_type not in INIT_TYPES:
            raise ConfigError(f"init_type must be one of {', '.join(INIT_TYPES)}, not {self.init_type!r}")
        if min(self.lambda_gan, self.lambda_nce) < 0:
            raise ConfigError("lambda_gan and lambda_nce must not be negative")
        if not self.nce_temperature > 0 or self.num_patches < 1 or self.netF_nc < 1:
            raise ConfigError("nce_temperature, num_patches and netF_nc must be positive")
        if self.nce_idt and self.input_nc != self.output_nc:
            raise ConfigError("identity PatchNCE needs input_nc == output_nc (set --no-nce-idt)")
        try:
            layers = self.layers
        except ValueError:
            raise ConfigError(f"nce_layers must be comma-separated integers, not {self.nce_layers!r}") from None
        # The generator's Sequential: head, two downsamplings, blocks, two upsamplings, tail.
        size = 4 + (6 if self.no_antialias else 8) + self.n_blocks + (6 if self.no_antialias_up else 8) + 3
        if self.lambda_nce > 0 and (not layers or layers[0] < 0 or layers[-1] >= size):
            raise ConfigError(f"nce_layers must name layers 0 to {size - 1} of the generator, not {self.nce_layers!r}")


_dataclass_init = CUTTrainConfig.__init__


def _init_with_preset(self, **values) -> None:
    """The dataclass's __init__, with the preset's values for options not given."""
    _dataclass_init(self, **{**PRESETS.get(values.get("preset", "cut"), {}), **values})


CUTTrainConfig.__init__ = _init_with_preset  # type: ignore[method-assign,assignment]
