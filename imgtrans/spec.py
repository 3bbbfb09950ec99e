"""The plugin contract: plain data that plugins register and the core consumes.

Nothing here imports torch, so listing models stays fast; networks are built
through the lazy callables a `Family` carries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, Union, runtime_checkable

if TYPE_CHECKING:  # torch, numpy and Pillow only for the annotations: importing imgtrans stays cheap
    import numpy as np
    import torch
    from PIL import Image

FamilyKind = Literal["translate", "conditional"]
FAMILY_KINDS: tuple[FamilyKind, ...] = ("translate", "conditional")
ConfigT = TypeVar("ConfigT")

# What a translator takes, and gives back in the same kind: a Pillow image, a
# H x W [x C] uint8 array, or a float tensor in [0, 1] (C x H x W or N x C x H x W).
Picture = Union["Image.Image", "np.ndarray", "torch.Tensor"]


@runtime_checkable
class ConditionalGenerator(Protocol):
    """What a conditional family's `build_generator` returns: noise (N x z_dim)
    and class indices (N) -> images (N x C x H x W) in [-1, 1]. Checked when
    a model of the family loads."""

    z_dim: int
    num_classes: int

    def __call__(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class Preprocess:
    """How images were prepared for training; travels with the weights.

    Inference runs at full resolution unless the user asks for `--load-size`;
    these values document the training regime and drive normalisation.
    """

    load_size: int | None = 286
    crop_size: int | None = 256
    resize: str = "resize_and_crop"
    mean: float = 0.5
    std: float = 0.5
    channels: int = 3

    def __post_init__(self):
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (self.mean, self.std))
        sizes = all(v is None or (isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 65536)
                    for v in (self.load_size, self.crop_size))
        if not (numbers and self.std > 0 and sizes and self.channels in (1, 3) and isinstance(self.resize, str)):
            raise ValueError(f"bad preprocessing {dataclasses.asdict(self)}")

    def normalise(self, x):
        """Pixels in [0, 1] (tensor or array) -> the network's input range."""
        return (x - self.mean) / self.std

    def denormalise(self, y):
        """The network's output -> [0, 1] (before clamping)."""
        return y * self.std + self.mean

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocess:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def describe(self) -> str:
        parts = []
        if self.resize == "none" or not self.load_size:
            parts.append("no resize")
        else:
            parts.append(f"{self.resize}: load {self.load_size}, crop {self.crop_size}")
        parts.append(f"normalise (x - {self.mean}) / {self.std}")
        parts.append(f"{self.channels} channel(s)")
        return "; ".join(parts)


@dataclass(frozen=True)
class Family(Generic[ConfigT]):
    """A model family: its networks and how to build them from a config.

    `config_type` is a frozen dataclass owned by the plugin; every field must be
    JSON-serialisable because the config is stored in the weights metadata.
    The callables import torch lazily (inside the plugin's networks module).
    `problem()` is checked when a plugin registers the family.
    """

    name: str
    summary: str
    kind: FamilyKind
    config_type: type[ConfigT]
    # A translator's generator maps N x C x H x W in [-1, 1] to the same shape;
    # a conditional family's is a ConditionalGenerator.
    build_generator: Callable[[ConfigT], torch.nn.Module]
    build_discriminator: Callable[[ConfigT], torch.nn.Module]
    # Spatial multiple the generator needs (input is padded up to it).
    pad_multiple: Callable[[ConfigT], int] = lambda config: 1
    # Smallest side the generator accepts (smaller pictures are padded up to it).
    min_side: Callable[[ConfigT], int] = lambda config: 1
    # Rename keys of a foreign checkpoint to this family's names (timm's
    # checkpoint_filter_fn): receives the state dict and the config.
    checkpoint_filter: Callable[[dict, ConfigT], dict] | None = None
    # Training: the recipe's config dataclass (a subclass of
    # imgtrans.training.config.TrainConfig, torch-free) and a lazy factory
    # make_recipe(config, family, device) returning the recipe object.
    train_config: type | None = None
    make_recipe: Callable[..., Any] | None = None
    # Options (architecture and training) that make a small, quick network of
    # this family: what the contract checks (`imgtrans.testing.check_family`)
    # build and train, as timm's test configs. Defaults are used where empty.
    test_options: Mapping[str, Any] = field(default_factory=dict)

    def problem(self) -> str | None:
        """Why this declaration cannot be used, or None (torch-free)."""
        from imgtrans.names import UnsafeNameError, check_component

        try:
            check_component(self.name, "family name")
        except UnsafeNameError as exc:
            return str(exc)
        if self.kind not in FAMILY_KINDS:
            return f"kind must be one of {', '.join(FAMILY_KINDS)}, not {self.kind!r}"
        if not (isinstance(self.config_type, type) and dataclasses.is_dataclass(self.config_type)):
            return "config_type must be a dataclass"
        for name in ("build_generator", "build_discriminator", "pad_multiple", "min_side"):
            if not callable(getattr(self, name)):
                return f"{name} must be callable"
        if self.checkpoint_filter is not None and not callable(self.checkpoint_filter):
            return "checkpoint_filter must be callable"
        if not isinstance(self.test_options, Mapping):
            return "test_options must be a mapping"
        return None

    def make_config(self, overrides: Mapping[str, Any] | None = None) -> ConfigT:
        """Build a validated config, ignoring keys the config does not know.

        Unknown keys are an error so a typo in `--netG` style options is caught.
        """
        overrides = dict(overrides or {})
        config_type = self.config_type
        if not dataclasses.is_dataclass(config_type):  # what problem() reports at registration
            raise TypeError(f"{self.name}: config_type must be a dataclass")
        known = {f.name for f in dataclasses.fields(config_type)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(
                f"{self.name}: unknown architecture option(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        return self.config_type(**overrides)


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's weights come from.

    `filename` names a file shipped in the weights directory; `path` a
    safetensors file installed with a plugin package; `url` a
    reference-format checkpoint to download into the cache on first use;
    `package`/`package_file` a checkpoint inside an installed Python package
    (the source a shipped file was converted from). `sha256` is of the source.
    `member` names the checkpoint inside a tar archive at `url` (authors who
    publish all their models in one archive); `sha256` is then the archive's,
    and the model's recorded source sha256 the member's.
    """

    filename: str | None = None
    path: str | None = None
    url: str | None = None
    member: str | None = None
    package: str | None = None
    package_file: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class ScaleSensitivity:
    """A model measured to lose quality on pictures far from its training size
    (small models trained on one size): `imgtrans run` says so, once."""

    trained_side: int
    # Shorter sides within this relative distance of the trained side are fine.
    tolerance: float
    # The figures behind it and the command that measured them.
    figures: str
    command: str

    def far(self, height: int, width: int) -> bool:
        ratio = min(height, width) / self.trained_side
        return ratio <= 1 - self.tolerance or ratio >= 1 / (1 - self.tolerance)


@dataclass(frozen=True)
class ModelCard:
    """What a person choosing a model needs beyond its architecture: measured
    quality (with the command that measured it, or why it was not), an example
    before/after (a file beside the weights, or why there is none), and known
    failure modes. Trained size, licence, source and its sha256 are the
    spec's own fields."""

    quality: str
    example: str
    failure_modes: tuple[str, ...]
    scale: ScaleSensitivity | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ModelSpec:
    """A named, runnable model: a family, its config, and where weights live."""

    name: str
    family: str
    summary: str
    direction: str
    config: Mapping[str, Any] = field(default_factory=dict)
    preprocess: Preprocess = field(default_factory=Preprocess)
    weights: WeightsSource = field(default_factory=WeightsSource)
    license: str = "unknown"
    source: str = ""
    labels: tuple[str, ...] = ()
    # PSNR (dB) of each reduced precision against fp32, measured on the example
    # photos (benchmarks/precision.py); drives --precision auto and refusals.
    precision_psnr: Mapping[str, float] = field(default_factory=dict)
    card: ModelCard | None = None
