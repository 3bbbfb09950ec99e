"""Importing other people's checkpoints into the weights store (imports torch).

Reference checkpoints are bare generator state dicts saved with torch.save;
they are opened with ``torch.load(weights_only=True)`` so no pickled code runs.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any, Mapping

from imgtrans import weights as wfile
from imgtrans.loading import load_state_strict
from imgtrans.registry import Registry
from imgtrans.spec import Preprocess
from imgtrans.weights import WeightsError

_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A flat name -> tensor dict from a .pth/.pt (weights only) or .safetensors file."""
    import torch

    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: empty file")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from exc
        if any(k.startswith("G.") for k in state):  # an imgtrans file: take its generator
            state = {k[2:]: v for k, v in state.items() if k.startswith("G.")}
        return state
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = _unpickler_detail(str(exc))
        if "global" in detail.lower():
            raise WeightsError(f"{path}: refused to load: it holds more than tensors ({detail})") from exc
        raise WeightsError(f"{path}: not a PyTorch checkpoint ({detail})") from exc
    except Exception as exc:  # torch.load raises many types on arbitrary bytes
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{path}: not a PyTorch checkpoint ({first})") from exc
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(f"{path}: not a state dict (found {type(obj).__name__})")
    state = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise WeightsError(f"{path}: entry {key!r} is not a tensor ({type(value).__name__})")
        state[key.removeprefix("module.")] = value
    return state


def _unpickler_detail(message: str) -> str:
    """The informative line of torch's long weights-only refusal message."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith("WeightsUnpickler error:"):
            rest = line.removeprefix("WeightsUnpickler error:").strip()
            return _without_advice(rest or (lines[index + 1] if index + 1 < len(lines) else "unsupported content"))
    return _without_advice(lines[0]) if lines else "unsupported content"


def _without_advice(detail: str) -> str:
    """torch's message goes on to suggest weights_only=False or allow-listing
    globals: never advice to give an untrusted file."""
    cut = re.split(r"(?i)\s*(?:this global|to allowlist|weights_only|add_safe_globals|safe_globals|check the|re-running|you can)", detail)[0]
    return cut.strip(" .,;:") or "unsupported content"


def drop_instance_norm_buffers(state: dict[str, Any], net) -> dict[str, Any]:
    """Old reference checkpoints carry running statistics for instance-norm
    layers that no longer track them; drop those entries (as the reference's
    ``__patch_instance_norm_state_dict`` does)."""
    import torch

    own = net.state_dict()
    modules = dict(net.named_modules())
    cleaned = {}
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf in _NORM_BUFFERS and key not in own and isinstance(modules.get(prefix), torch.nn.InstanceNorm2d):
            continue
        cleaned[key] = value
    return cleaned


def import_checkpoint(
    registry: Registry,
    source: Path,
    *,
    name: str,
    family_name: str,
    options: Mapping[str, Any],
    destination: Path,
    preprocess: Preprocess,
    direction: str = "",
    license: str = "unknown",
    source_label: str = "",
    summary: str = "",
    labels: tuple[str, ...] = (),
    half: bool = False,
) -> Path:
    """Convert `source` into an imgtrans safetensors file at `destination`."""
    family = registry.family(family_name)
    config = family.make_config(options)
    net = family.build_generator(config)
    state = read_checkpoint(source)
    if family.checkpoint_filter is not None:
        state = family.checkpoint_filter(state, config)
    state = drop_instance_norm_buffers(state, net)
    load_state_strict(net, state, what=f"{source} (as {family_name} {_describe(config)})")
    tensors = {}
    for key, tensor in net.state_dict().items():
        if half and tensor.is_floating_point():
            tensor = tensor.half()
        tensors["G." + key] = tensor
    from dataclasses import asdict

    metadata = wfile.make_metadata(
        name=name,
        family=family_name,
        config=asdict(config),
        preprocess=preprocess.to_dict(),
        direction=direction,
        license=license,
        source=source_label or str(source),
        source_sha256=wfile.sha256_file(source),
        labels=labels,
        summary=summary,
    )
    wfile.save(destination, tensors, metadata)
    return destination


def _describe(config) -> str:
    fields = ("netG", "norm", "ngf")
    return " ".join(f"{f}={getattr(config, f)}" for f in fields if hasattr(config, f))
