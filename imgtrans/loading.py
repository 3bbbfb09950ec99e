"""Building a family's network from a weights file (imports torch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgtrans.registry import Registry
from imgtrans.spec import Family
from imgtrans.weights import WeightsError, WeightsInfo, load_tensors, read_info


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


def load_generator(registry: Registry, path: Path) -> LoadedModel:
    info = read_info(path)
    family = registry.family(info.family)
    try:
        config = family.make_config(info.config)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: bad architecture config ({exc})") from exc
    generator = family.build_generator(config)
    load_state_strict(generator, load_tensors(path, "G."), what=str(path))
    return LoadedModel(info=info, family=family, config=config, generator=generator)
