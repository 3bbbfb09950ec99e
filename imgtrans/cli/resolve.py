"""From a model name or a weights file to a loaded library model, with the
CLI's download progress and its notes on stderr. Errors are `ImgtransError`s,
turned into one-line messages and exit codes by `cli.common.guard`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from imgtrans.cli.common import AppState
from imgtrans.names import UnsafeNameError, check_component
from imgtrans.spec import FamilyKind, ModelSpec


@dataclass(frozen=True)
class Target:
    """What a MODEL argument names: a registered model, or a weights file
    (an imgtrans file, or any checkpoint whose architecture is detected)."""

    name: str  # the model's name, or the file's stem: names the default output folder
    kind: FamilyKind
    spec: ModelSpec | None
    path: Path | None
    notes: tuple[str, ...] = ()  # what detection assumed of a checkpoint (a U-Net's dropout), to say


def find_target(app_state: AppState, model: str, *, network: str | None = None) -> Target:
    from imgtrans.hub import checkpoint_path

    registry = app_state.registry
    path = checkpoint_path(registry, model)
    if path is None:
        spec = registry.model(model)
        return Target(spec.name, registry.family(spec.family).kind, spec, None)
    from imgtrans.checkpoints.weights import is_imgtrans_file, read_info

    notes: tuple[str, ...] = ()
    if path.suffix.lower() == ".safetensors" and is_imgtrans_file(path):
        family = read_info(path).family
    else:
        from imgtrans.checkpoints.convert import inspect_checkpoint, resolve

        file, report = inspect_checkpoint(registry, path)
        resolved = resolve(registry, file, report, network=network)
        family = resolved.family.name
        detection = resolved.detection  # None only where a family was named: not here
        if detection is not None:
            notes = tuple(f"{path.name}: {resolved.family.name}, {detection.architecture}; assumed "
                          f"{key}={getattr(resolved.config, key)}: {why}" for key, why in detection.assumed.items())
    try:
        name = check_component(path.stem, "file name")
    except UnsafeNameError:
        name = "model"
    return Target(name, registry.family(family).kind, None, path, notes)


def load_model(app_state: AppState, target: Target | str, *, device: str | None = None, mirror: str | None = None,
               quiet: bool = False, **options):
    """`imgtrans.load(...)`, downloading with a progress bar on a terminal."""
    from imgtrans.cli.download_ui import progress_reporter
    from imgtrans.device import resolve
    from imgtrans.hub import load, weights_file

    registry = app_state.registry
    if isinstance(target, str):
        target = find_target(app_state, target)
    if target.spec is not None:
        spec = target.spec
        with progress_reporter(app_state, spec.name) as (progress, on_url):
            fresh = registry.locate(spec).path is None
            path = weights_file(registry, spec, mirror=mirror, progress=progress, on_url=on_url)
        if fresh:
            app_state.note(f"saved {spec.name} to {path}")
    resolve(device, warn=None if quiet else app_state.note)  # says once when auto falls back to the CPU
    return load(target.path or target.name, device=device, registry=registry, **options)
