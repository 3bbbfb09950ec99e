"""Building a family's network from a weights file (imports torch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgtrans.checkpoints.weights import (
    WeightsError,
    WeightsInfo,
    load_tensors,
    read_header,
    read_info,
)
from imgtrans.registry import Registry
from imgtrans.spec import Family


@dataclass
class LoadedModel:
    info: WeightsInfo
    family: Family
    config: Any
    generator: Any  # torch.nn.Module


def describe_mismatch(missing: list[str], unexpected: list[str]) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s) ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})")
    if unexpected:
        parts.append(
            f"{len(unexpected)} unexpected key(s) ({', '.join(unexpected[:3])}{', ...' if len(unexpected) > 3 else ''})"
        )
    return "; ".join(parts)


def load_state_strict(net, state_dict: dict, *, what: str) -> None:
    """load_state_dict(strict=True) with shape and key errors on one line."""
    own = net.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    if missing or unexpected:
        raise WeightsError(f"{what} does not match the network: {describe_mismatch(missing, unexpected)}")
    for key, tensor in state_dict.items():
        if tuple(tensor.shape) != tuple(own[key].shape):
            raise WeightsError(
                f"{what} does not match the network: {key} has shape {tuple(tensor.shape)}, "
                f"expected {tuple(own[key].shape)}"
            )
    net.load_state_dict(state_dict, strict=True)


def check_shapes(family: Family, config: Any, path: Path) -> None:
    """Build the network without memory (on the meta device) and compare its
    shapes with the file's header, so absurd architecture numbers in a hostile
    file (ngf 100000) are refused instead of allocating gigabytes."""
    import torch

    try:
        with torch.device("meta"):
            network = family.build_generator(config)
    except Exception as exc:
        raise WeightsError(f"{path}: bad architecture config ({type(exc).__name__}: {exc})") from None
    _, table = read_header(path)
    stored = {k[2:]: tuple(v["shape"]) for k, v in table.items() if k.startswith("G.")}
    for key, tensor in network.state_dict().items():
        if key in stored and stored[key] != tuple(tensor.shape):
            raise WeightsError(f"{path} does not match its architecture config: {key} has shape {stored[key]}, "
                               f"the config gives {tuple(tensor.shape)}")
        if key not in stored and not key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            raise WeightsError(f"{path} does not match its architecture config: no tensor {key}")


def load_generator(registry: Registry, path: Path) -> LoadedModel:
    info = read_info(path)
    family = registry.family(info.family)
    try:
        config = family.make_config(info.config)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: bad architecture config ({exc})") from exc
    check_shapes(family, config, path)
    try:
        generator = family.build_generator(config)
    except Exception as exc:  # a plugin's builder on odd values
        raise WeightsError(f"{path}: cannot build the network ({type(exc).__name__}: {exc})") from None
    load_state_strict(generator, load_tensors(path, "G."), what=str(path))
    return LoadedModel(info=info, family=family, config=config, generator=generator)
