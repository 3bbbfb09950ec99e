"""Foreign checkpoints: reading them (weights only), detecting what they are,
building the generator they hold, and importing them into the store (imports torch).

Reference checkpoints are bare generator state dicts saved with torch.save;
they are opened with ``torch.load(weights_only=True)`` so no pickled code runs,
and memory-mapped where the format allows, so reading names and shapes does not
read the weights.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from imgtrans.checkpoints import weights as wfile
from imgtrans.checkpoints.detection import (
    RUNNING_STATS,
    Detection,
    DetectionError,
    Report,
    TensorMeta,
    choose,
    detect_shapes,
    flatten,
)
from imgtrans.checkpoints.loading import LoadedModel, load_state_strict
from imgtrans.checkpoints.weights import WeightsError, WeightsInfo
from imgtrans.names import printable
from imgtrans.registry import Registry
from imgtrans.spec import Family, Preprocess

# CLI spellings of the architecture options, for messages: (flag, or (on, off) for a switch).
FLAGS = {"netG": "--netG", "norm": "--norm", "ngf": "--ngf", "norm_affine": ("--norm-affine", "--no-norm-affine"),
         "use_dropout": ("--dropout", "--no-dropout")}
# safetensors' dtype names, as torch spells them.
SAFETENSORS_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
                      "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


@dataclass
class CheckpointFile:
    """A checkpoint's tensors by dotted name (containers flattened), read
    without running code: shapes at once, values only when asked."""

    path: Path
    shapes: dict[str, TensorMeta]
    others: int
    loaded: dict[str, Any] | None  # torch.load's tensors (memory-mapped); None for safetensors

    def tensors(self, prefix: str) -> dict[str, Any]:
        if self.loaded is None:
            from safetensors import SafetensorError
            from safetensors.torch import load_file

            try:
                self.loaded = load_file(str(self.path))
            except (SafetensorError, OSError) as exc:
                raise WeightsError(f"{self.path}: not a readable safetensors file ({exc})") from exc
        return {k[len(prefix):]: v for k, v in self.loaded.items() if k.startswith(prefix)}


def open_checkpoint(path: Path) -> CheckpointFile:
    """A .pth/.pt/.ckpt/.bin (weights only) or .safetensors file, flattened."""
    from imgtrans.io.formats import NOT_REGULAR, regular_file_size

    try:
        size = regular_file_size(path)
    except OSError as exc:
        raise WeightsError(f"{path}: {'no such file' if not path.exists() else exc.strerror or exc}") from None
    if size is None:
        raise WeightsError(f"{path}: {NOT_REGULAR}")
    if size == 0:
        raise WeightsError(f"{path}: empty file")
    if path.suffix.lower() == ".safetensors":
        _, table = wfile.read_header(path)
        shapes = {k: TensorMeta(tuple(v["shape"]), SAFETENSORS_DTYPES.get(v["dtype"], v["dtype"].lower()))
                  for k, v in table.items()}
        if not shapes:
            raise WeightsError(f"{path}: a safetensors file with no tensors")
        return CheckpointFile(path, shapes, 0, None)
    obj = _torch_load(path)
    try:
        tensors, others = flatten(obj)
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from None
    if not tensors:
        raise WeightsError(f"{path}: no tensors in it (found {type(obj).__name__})")
    for key, tensor in tensors.items():
        # A tensor whose storage holds fewer values than its shape (torch.zeros(1).expand(...) saved as is)
        # would make a 15 KB file declare gigabytes of weights.
        if tensor.numel() and tensor.untyped_storage().nbytes() < tensor.numel() * tensor.element_size():
            raise WeightsError(f"{path}: tensor {printable(key)} of shape {tuple(tensor.shape)} stores only "
                               f"{tensor.untyped_storage().nbytes()} bytes (a broadcast view, not weights)")
    shapes = {k: TensorMeta(tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in tensors.items()}
    return CheckpointFile(path, shapes, others, tensors)


def _torch_load(path: Path) -> Any:
    import torch

    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc) and "zipfile" not in str(exc):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)  # the pre-1.6 format cannot be mapped
    except pickle.UnpicklingError as exc:
        detail = _unpickler_detail(str(exc))
        if "global" in detail.lower():
            raise WeightsError(f"{path}: refused to load: it holds more than tensors ({detail})") from exc
        raise WeightsError(f"{path}: not a PyTorch checkpoint ({detail})") from exc
    except RecursionError:
        raise WeightsError(f"{path}: not a checkpoint (nested too deeply to read)") from None
    except Exception as exc:  # torch.load raises many types on arbitrary bytes
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{path}: not a PyTorch checkpoint ({first})") from exc


def inspect_checkpoint(registry: Registry, path: Path) -> tuple[CheckpointFile, Report]:
    """What every installed family sees in `path` (names and shapes only)."""
    file = open_checkpoint(path)
    return file, detect_shapes(registry, file.shapes, file.others)


@dataclass(frozen=True)
class Resolved:
    """A checkpoint's family and full config, and the detection behind them
    (None when the user's flags were taken for a layout nothing recognised)."""

    family: Family
    config: Any
    detection: Detection | None


def resolve(registry: Registry, file: CheckpointFile, report: Report, *, family_name: str | None = None,
            options: Mapping[str, Any] | None = None, network: str | None = None,
            expect: Mapping[str, Any] | None = None, expected_as: str = "") -> Resolved:
    """Detection, checked against the user's flags (`options`) and, for a file
    imported under a catalogue name, against that entry's architecture
    (`expect`, named `expected_as`): either may set what the file cannot show;
    one that contradicts the file is an error naming both. Where nothing is
    detected, `family_name` with flags loads as told."""
    options = dict(options or {})
    if family_name is not None:
        registry.family(family_name)  # an unknown family is named before anything else
    try:
        detection = choose(report, str(file.path), family=family_name, network=network)
    except DetectionError:
        if family_name is None or report.detections or network is not None:
            raise
        family = registry.family(family_name)
        return Resolved(family, _make_config(family, {**(expect or {}), **options}, file.path), None)
    config = dict(detection.config)
    for key, value in (expect or {}).items():
        if key not in config:
            continue
        if not detection.settable(key) and config[key] != value:
            raise DetectionError(f"{file.path} holds {key}={_shown(config[key])} ({detection.architecture}), but "
                                 f"{expected_as} has {key}={_shown(value)}: import it under another --name")
        config[key] = value
    for key, value in options.items():
        if key not in config:
            raise DetectionError(f"{file.path}: {detection.family} has no option {key!r}")
        if not detection.settable(key) and config[key] != value:
            raise DetectionError(f"{file.path}: {_flag(key, value)} contradicts the file, which holds "
                                 f"{key}={_shown(detection.config[key])} ({detection.architecture})")
        config[key] = value
    family = registry.family(detection.family)
    return Resolved(family, _make_config(family, config, file.path), detection)


def _flag(key: str, value: Any) -> str:
    flag = FLAGS.get(key, f"--{key.replace('_', '-')}")
    if isinstance(flag, tuple):
        return flag[0] if value else flag[1]
    return f"{flag} {_shown(value)}"


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _make_config(family: Family, options: Mapping[str, Any], path: Path) -> Any:
    try:
        return family.make_config(options)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: {exc}") from None


def build_generator(file: CheckpointFile, resolved: Resolved):
    """The family's generator with the file's weights, strictly loaded."""
    import torch

    detection = resolved.detection
    state = file.tensors(detection.prefix if detection else "")
    if detection is None and len(state) and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    family, config = resolved.family, resolved.config
    if family.checkpoint_filter is not None:  # first, as verification did: dropped and filled keys are its names
        state = family.checkpoint_filter(state, config)
    if detection is not None:
        for key in detection.dropped:
            state.pop(key, None)
        for key in detection.filled:
            state[key] = torch.tensor(0)
    try:
        net = family.build_generator(config)
    except (MemoryError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WeightsError(f"{file.path}: cannot build its network ({reason})") from None
    if detection is None:
        state = drop_instance_norm_buffers(state, net)
    else:  # detection placed every key: what the network lacks belongs to the networks beside it
        own = net.state_dict()
        state = {k: v for k, v in state.items() if k in own}
    load_state_strict(net, state, what=f"{file.path} (as {family.name} {_describe(config)})")
    return net


def load_checkpoint(registry: Registry, path: Path, *, family_name: str | None = None,
                    options: Mapping[str, Any] | None = None, network: str | None = None) -> LoadedModel:
    """Run a foreign checkpoint directly: detected and converted in memory,
    the same network and weights that importing it would store."""
    file, report = inspect_checkpoint(registry, path)
    resolved = resolve(registry, file, report, family_name=family_name, options=options, network=network)
    generator = build_generator(file, resolved)
    info = WeightsInfo(
        path=path, name=path.stem, family=resolved.family.name, config=asdict(resolved.config),
        preprocess=default_preprocess(resolved).to_dict(), direction="", license="unknown", source=str(path),
        source_sha256="", labels=(), summary=_summary(resolved), raw={},
    )
    return LoadedModel(info=info, family=resolved.family, config=resolved.config, generator=generator)


def default_preprocess(resolved: Resolved) -> Preprocess:
    """The reference's normalisation and the file's channel count; the
    training size is unknown (a checkpoint does not record it)."""
    channels = getattr(resolved.config, "input_nc", getattr(resolved.config, "channels", 3))
    return Preprocess(load_size=None, crop_size=None, resize="none", channels=1 if channels == 1 else 3)


def _summary(resolved: Resolved) -> str:
    if resolved.detection is not None:
        return f"{resolved.family.name}: {resolved.detection.architecture}"
    return f"{resolved.family.name}: {_describe(resolved.config)}"


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
    cut = re.split(r"(?i)\s*(?:this global|to allowlist|weights_only|add_safe_globals|safe_globals|check the"
                   r"|re-running|you can)", detail)[0]
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
        if leaf in RUNNING_STATS and key not in own and isinstance(modules.get(prefix), torch.nn.InstanceNorm2d):
            continue
        cleaned[key] = value
    return cleaned


def import_checkpoint(
    registry: Registry,
    source: Path,
    *,
    name: str,
    destination: Path,
    family_name: str | None = None,
    options: Mapping[str, Any] | None = None,
    network: str | None = None,
    expect: Mapping[str, Any] | None = None,
    expected_as: str = "",
    preprocess: Preprocess | None = None,
    direction: str = "",
    license: str = "unknown",
    source_label: str = "",
    summary: str = "",
    labels: tuple[str, ...] = (),
    half: bool = False,
) -> Resolved:
    """Convert `source` into an imgtrans safetensors file at `destination`;
    the architecture is read from the file (flags may add what it cannot show).
    An imgtrans file keeps what its metadata says (licence, labels,
    preprocessing, direction) where the caller gives nothing else."""
    import json

    file, report = inspect_checkpoint(registry, source)
    stored = wfile.read_info(source) if wfile.is_imgtrans_file(source) else None
    if stored is not None:
        expect = {**stored.config, **(expect or {})}
        expected_as = expected_as or f"{source}'s metadata"
        family_name = family_name or stored.family
        network = network if network is not None else "G"
    resolved = resolve(registry, file, report, family_name=family_name, options=options, network=network,
                       expect=expect, expected_as=expected_as)
    net = build_generator(file, resolved)
    tensors = {}
    for key, tensor in net.state_dict().items():
        if half and tensor.is_floating_point():
            tensor = tensor.half()
        tensors["G." + key] = tensor
    config = asdict(resolved.config)
    extra = None
    if resolved.detection is not None:
        detected = resolved.detection.to_dict()
        chosen = set(options or {}) | set(expect or {})
        detected["config"] = config  # what is stored, the flags' settings included
        detected["assumed"] = {k: why for k, why in detected["assumed"].items() if k not in chosen}
        extra = {"detected": json.dumps(detected, sort_keys=True)}
    if stored is not None:
        preprocess = preprocess or Preprocess.from_dict(stored.preprocess)
        direction, summary, labels = direction or stored.direction, summary or stored.summary, labels or stored.labels
        license = stored.license if license == "unknown" else license
        source_label = source_label or stored.source or str(source)
    metadata = wfile.make_metadata(
        name=name,
        family=resolved.family.name,
        config=config,
        preprocess=(preprocess or default_preprocess(resolved)).to_dict(),
        direction=direction,
        license=license,
        source=source_label or str(source),
        source_sha256=wfile.sha256_file(source),
        labels=labels,
        summary=summary or _summary(resolved),
        extra=extra,
    )
    try:
        wfile.save(destination, tensors, metadata)
    except OSError as exc:  # an unwritable or vanished folder, a full disk: nothing is left half-written
        raise WeightsError(f"cannot write {destination} ({exc.strerror or exc})") from None
    return resolved


def _describe(config) -> str:
    fields = ("netG", "norm", "ngf")
    return " ".join(f"{f}={getattr(config, f)}" for f in fields if hasattr(config, f))
