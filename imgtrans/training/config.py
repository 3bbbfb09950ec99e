"""Training configuration: typed dataclasses, TOML in and out, and strict
parsing of command-line overrides (no torch here, so errors come first).

Each family's recipe dataclass extends `TrainConfig`; every field is a flag
(`lambda_cycle` is `--lambda-cycle`) and a key of the TOML file.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgtrans.errors import ImgtransError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "none")
GAN_MODES = ("lsgan", "vanilla")
TRAINING_PRECISIONS = ("fp32", "bf16", "fp16")


class ConfigError(ImgtransError, ValueError):
    """A configuration that cannot run; raised before any work starts."""


@dataclass(frozen=True)
class TrainConfig:
    """Options every recipe has (the reference implementation's defaults)."""

    epochs: int = 100  # epochs at the initial learning rate
    epochs_decay: int = 100  # epochs of linear decay to zero
    batch_size: int = 1
    lr: float = 0.0002
    beta1: float = 0.5
    load_size: int = 286
    crop_size: int = 256
    preprocess: str = "resize_and_crop"
    flip: bool = True
    max_steps: int = 0  # stop after this many steps (0: run the whole schedule)
    save_every: int = 1000  # steps between checkpoints
    sample_every: int = 500  # steps between sample grids
    seed: int = 0
    precision: str = "fp32"  # fp32, bf16 (CPU with native bf16, CUDA) or fp16 (CUDA)

    def validate(self) -> None:
        if self.precision not in TRAINING_PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(TRAINING_PRECISIONS)}, not {self.precision!r}")
        if self.preprocess not in PREPROCESS_MODES:
            raise ConfigError(f"preprocess must be one of {', '.join(PREPROCESS_MODES)}, not {self.preprocess!r}")
        if self.preprocess == "resize_and_crop" and self.crop_size > self.load_size:
            raise ConfigError(f"crop_size {self.crop_size} is larger than load_size {self.load_size}")
        for name in ("epochs", "batch_size", "save_every", "sample_every", "crop_size", "load_size"):
            if getattr(self, name) < (0 if name == "epochs" else 1):
                raise ConfigError(f"{name} must be positive, not {getattr(self, name)}")
        if self.epochs + self.epochs_decay < 1:
            raise ConfigError("epochs + epochs_decay must be at least 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, not {self.lr}")
        if not (math.isfinite(self.beta1) and 0 <= self.beta1 < 1):
            raise ConfigError(f"beta1 must be in [0, 1), not {self.beta1}")
        if self.max_steps < 0:
            raise ConfigError(f"max_steps must not be negative (0: the whole schedule), not {self.max_steps}")
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"seed must be between 0 and 2**63 - 1, not {self.seed}")
        if max(self.load_size, self.crop_size) > 16384:
            raise ConfigError("load_size and crop_size must be at most 16384")


def field_types(config_type: type) -> dict[str, type]:
    hints = typing.get_type_hints(config_type)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_type)}


def _convert(name: str, kind: type, value: Any) -> Any:
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        try:
            if kind is bool:
                lowered = text.lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return lowered in ("true", "1", "yes")
            return kind(text)
        except ValueError:
            raise ConfigError(f"{name}: expected {kind.__name__}, got {value!r}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{name}: expected {kind.__name__}, got {value!r}")
    return value


def build(config_type: type, *layers: dict[str, Any]) -> Any:
    """Defaults, then each layer of overrides (config file, flags); unknown keys fail."""
    types = field_types(config_type)
    renamed = getattr(config_type, "renamed", {})
    values: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            name = key.replace("-", "_")
            name = renamed.get(name, name)
            if name not in types:
                known = ", ".join(sorted(types))
                raise ConfigError(f"unknown option {key!r} for this recipe (known: {known})")
            values[name] = _convert(name, types[name], value)
    try:
        config = config_type(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    config.validate()
    return config


def parse_flags(args: list[str]) -> dict[str, str]:
    """`--lambda-cycle 5 --no-flip --flip=false` -> {"lambda_cycle": "5", "flip": "false", ...}."""
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise ConfigError(f"unexpected argument {arg!r}")
        name, eq, value = arg[2:].partition("=")
        if not eq:
            if name.startswith("no-"):
                name, value = name[3:], "false"
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                value = args[i + 1]
                i += 1
            else:
                value = "true"
        values[name.replace("-", "_")] = value
        i += 1
    return values


def load_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({type(exc).__name__}: {exc})") from None
    return data


def to_toml(config: Any, header: dict[str, str] | None = None) -> str:
    """A flat TOML document written by a TOML library (quotes, backslashes and
    control characters in a data path stay readable); `header` holds string
    keys such as the plugin."""
    import tomli_w

    values = dict(header or {})
    values.update({field.name: getattr(config, field.name) for field in dataclasses.fields(config)})
    return tomli_w.dumps(values)


def architecture(family, config: Any, **overrides: Any) -> Any:
    """The family's architecture part of a training config (which extends the
    architecture config, so every field is there), with `overrides`."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(family.config_type)}
    return family.make_config({**values, **overrides})
