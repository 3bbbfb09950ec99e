"""From a model name (or a weights file) to a loaded model: the public entry
points `list_models()` and `load()`.

The same lookup the CLI uses: shipped weights, then the user's cache, then a
download of the catalogue's published checkpoint on first use. Nothing is
printed; downloads report progress through a callback. Torch is imported only
when a model is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from imgtrans.checkpoints import store
from imgtrans.errors import ImgtransError, ModelKindError, OptionError, check_seed
from imgtrans.inference.precision import PRECISIONS
from imgtrans.registry import Registry, UnknownModelError, WeightsStatus
from imgtrans.spec import ModelSpec

if TYPE_CHECKING:
    from imgtrans.checkpoints.detection import Detection
    from imgtrans.inference.pipeline import ConditionalModel, TranslationModel

Progress = Callable[[int, "int | None"], None]  # (bytes so far, total or None)


class MissingWeightsError(ImgtransError):
    """A known model whose weights are neither shipped, cached nor downloadable."""


@dataclass(frozen=True)
class ModelInfo:
    """What `list_models()` says of one model."""

    name: str
    family: str
    kind: Literal["translate", "conditional"] | None
    direction: str
    weights: WeightsStatus
    path: Path | None
    summary: str
    license: str
    labels: tuple[str, ...]


def default_registry() -> Registry:
    """Every installed plugin's families and models, plus the user's cache."""
    from imgtrans.plugins import make_plugin_manager

    return Registry.from_plugin_manager(make_plugin_manager())


def list_models(*, registry: Registry | None = None) -> list[ModelInfo]:
    registry = registry or default_registry()
    infos = []
    for spec in sorted(registry.models.values(), key=lambda s: s.name):
        located = registry.locate(spec)
        family = registry.families.get(spec.family)
        infos.append(ModelInfo(spec.name, spec.family, family.kind if family else None, spec.direction,
                               located.status, located.path, spec.summary, spec.license, spec.labels))
    return infos


def download_weights(registry: Registry, spec: ModelSpec, *, mirror: str | None = None,
                     progress: Progress | None = None, on_url: Callable[[str], None] | None = None) -> Path:
    """Download, verify and convert `spec`'s published checkpoint into the cache."""
    from imgtrans.checkpoints.convert import import_checkpoint
    from imgtrans.checkpoints.download import DownloadError, extract_member, fetch, mirrored, progress_callbacks
    from imgtrans.checkpoints.weights import WeightsError

    if spec.weights.url is None:
        raise MissingWeightsError(f"model {spec.name!r} has no download URL")
    url = mirrored(spec.weights.url, mirror)
    if on_url is not None:
        on_url(url)
    destination = store.cached_path(spec.name)
    on_start, on_chunk = progress_callbacks(progress)
    part = None
    try:
        part, sha256 = fetch(url, store.cache_dir(), on_start=on_start, on_chunk=on_chunk)
        if spec.weights.sha256 and sha256 != spec.weights.sha256:
            raise DownloadError(f"sha256 mismatch: got {sha256}, expected {spec.weights.sha256}")
        if spec.weights.member:  # one checkpoint of an archive of several
            archive, part = part, None
            try:
                part = extract_member(archive, spec.weights.member, store.cache_dir())
            finally:
                archive.unlink(missing_ok=True)
        import_checkpoint(
            registry, part, name=spec.name, family_name=spec.family, expect=spec.config,
            expected_as=f"the catalogue's {spec.name}", destination=destination, preprocess=spec.preprocess,
            direction=spec.direction, license=spec.license, source_label=url, summary=spec.summary, labels=spec.labels,
        )
    except (DownloadError, WeightsError) as exc:
        reason = str(exc).replace(str(part), "the downloaded file") if part else str(exc)
        raise DownloadError(
            f"could not get weights for {spec.name!r} from {url}: {reason}; if you have the file, import it: "
            f"imgtrans weights import FILE --name {spec.name}"
        ) from None
    finally:
        if part is not None:
            part.unlink(missing_ok=True)
    return destination


def weights_file(registry: Registry, spec: ModelSpec, *, mirror: str | None = None,
                 progress: Progress | None = None, on_url: Callable[[str], None] | None = None) -> Path:
    """The local weights file of `spec`, downloading catalogue weights on first use."""
    located = registry.locate(spec)
    if located.path is not None:
        return located.path
    if located.status == "downloadable":
        return download_weights(registry, spec, mirror=mirror, progress=progress, on_url=on_url)
    raise MissingWeightsError(
        f"no weights for model {spec.name!r}: import a checkpoint with "
        f"`imgtrans weights import FILE --name {spec.name}`"
    )


def checkpoint_path(registry: Registry, name_or_path: str | Path) -> Path | None:
    """The file `name_or_path` names (a Path, or text that is not a model's
    name and ends in a checkpoint suffix or names a file), or None for a
    model name."""
    if isinstance(name_or_path, Path):
        path = name_or_path
    elif str(name_or_path) in registry.models:
        return None
    elif str(name_or_path).lower().endswith(store.CHECKPOINT_SUFFIXES) or Path(name_or_path).is_file():
        path = Path(name_or_path)
    else:
        return None
    if not path.is_file():
        raise MissingWeightsError(f"{path}: no such weights file")
    return path


def find_model(registry: Registry, name_or_path: str | Path) -> tuple[ModelSpec | None, Path | None]:
    """A catalogue/cache name, or the path of a weights file (imgtrans or foreign)."""
    path = checkpoint_path(registry, name_or_path)
    return (None, path) if path is not None else (registry.model(str(name_or_path)), None)


def detect(path: str | Path, *, network: str | None = None, registry: Registry | None = None) -> Detection:
    """What generator a checkpoint holds (family, every option, channels,
    parameters), read from its tensor names and shapes; `DetectionError`
    (an `ImgtransError`) says why when it holds none, or several."""
    from imgtrans.checkpoints.convert import inspect_checkpoint
    from imgtrans.checkpoints.detection import choose

    registry = registry or default_registry()
    _, report = inspect_checkpoint(registry, Path(path))
    return choose(report, str(path), network=network)


def load_network(registry: Registry, path: Path, *, network: str | None = None):
    """An imgtrans file as its metadata says; any other checkpoint detected
    from its names and shapes and converted in memory."""
    from imgtrans.checkpoints.weights import is_imgtrans_file

    if path.suffix.lower() == store.SUFFIX and is_imgtrans_file(path):
        if network not in (None, "G"):
            raise OptionError(f"{path} is an imgtrans file: it holds one generator (no network {network!r})")
        from imgtrans.checkpoints.loading import load_generator

        return load_generator(registry, path)
    from imgtrans.checkpoints.convert import load_checkpoint

    return load_checkpoint(registry, path, network=network)


def load(
    name_or_path: str | Path,
    *,
    device: str | None = None,
    precision: str | None = None,
    mirror: str | None = None,
    progress: Progress | None = None,
    seed: int | None = None,
    dropout: bool = True,
    eval_mode: bool = False,
    max_memory: int | str | None = None,
    compile: bool = False,
    network: str | None = None,
    registry: Registry | None = None,
) -> TranslationModel | ConditionalModel:
    """Load a model by name (`imgtrans models`) or from a file: an imgtrans
    `.safetensors` file, or any generator checkpoint (`.pth`, `.pt`, a
    foreign `.safetensors`), whose architecture is read from the file.

    `device`: auto (default; or $IMGTRANS_DEVICE), cpu, cuda, cuda:N, mps.
    `precision`: fp32, tf32, bf16, fp16 or auto (default: reduced precision only
    where it was measured at 45 dB or better against fp32 for this model).
    `max_memory` ("2GB" or bytes) bounds the memory for one picture and its
    activations; larger pictures run streamed, with the same result.
    `seed` makes pix2pix's test-time dropout reproducible; `dropout=False`
    turns it off and `eval_mode=True` uses the stored running statistics.
    `compile=True` runs whole pictures through torch.compile: faster once
    compiled (seconds to a minute per process and picture size), for many
    pictures or a video; refused with test-time dropout. `network` picks the
    generator of a checkpoint that holds several (e.g. "G_A").
    """
    from imgtrans.device import resolve as resolve_device
    from imgtrans.device import validate
    from imgtrans.inference.memory import parse_size

    validate(device)
    check_seed(seed)
    if precision is not None and precision not in PRECISIONS:
        raise OptionError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    budget = parse_size(max_memory) if max_memory is not None else None
    registry = registry or default_registry()
    spec, path = find_model(registry, name_or_path)
    if path is None:
        assert spec is not None  # find_model gives a spec or a path
        path = weights_file(registry, spec, mirror=mirror, progress=progress)

    from imgtrans.inference.pipeline import ConditionalModel, TranslationModel

    loaded = load_network(registry, path, network=network)
    torch_device = resolve_device(device)
    name = spec.name if spec is not None else path.stem
    if loaded.family.kind == "conditional":
        from imgtrans.spec import ConditionalGenerator

        if not isinstance(loaded.generator, ConditionalGenerator):
            raise ModelKindError(f"{name!r}: family {loaded.family.name!r} builds no conditional generator "
                                 "(z_dim, num_classes, generator(z, labels)); see docs/plugins.md")
        if precision not in (None, "auto", "fp32"):
            raise OptionError(f"{name!r} samples in fp32 only (precision {precision} is for translators)")
        if compile:
            raise OptionError(f"{name!r} samples without compiling (compile is for translators)")
        labels = loaded.info.labels or (spec.labels if spec else ())
        return ConditionalModel(name, loaded, device=torch_device, labels=tuple(labels))
    from imgtrans.inference.precision import choose
    from imgtrans.inference.translate import InferenceOptions
    from imgtrans.spec import Preprocess

    chosen = choose(precision, torch_device, spec.precision_psnr if spec else {}, name)
    preprocess = spec.preprocess if spec is not None else Preprocess.from_dict(loaded.info.preprocess)
    options = InferenceOptions(eval_mode=eval_mode, dropout=dropout, seed=seed, max_memory=budget, precision=chosen,
                               compile=compile)
    scale = spec.card.scale if spec is not None and spec.card is not None else None
    return TranslationModel(name, loaded, device=torch_device, options=options, preprocess=preprocess, scale=scale)


__all__ = ["ModelInfo", "MissingWeightsError", "UnknownModelError", "detect", "list_models", "load"]
