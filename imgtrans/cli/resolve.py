"""From a model name to a loaded network, with usage errors (exit 2) that say
how to get missing weights."""

from __future__ import annotations

from pathlib import Path

from imgtrans.cli.common import AppState
from imgtrans.registry import UnknownModelError
from imgtrans.spec import ModelSpec


def find_spec(app_state: AppState, name: str) -> ModelSpec:
    try:
        return app_state.registry.model(name)
    except UnknownModelError as exc:
        app_state.fail(str(exc))


def weights_path(app_state: AppState, spec: ModelSpec, *, mirror: str | None = None) -> Path:
    """The local weights file, downloading catalogue weights on first use."""
    located = app_state.registry.locate(spec)
    if located.path is not None:
        return located.path
    if located.status == "downloadable":
        from imgtrans.cli.download_ui import pull_with_progress

        return pull_with_progress(app_state, spec, mirror=mirror)
    app_state.fail(
        f"no weights for model {spec.name!r}: import a checkpoint with "
        f"`imgtrans weights import FILE --name {spec.name} --plugin {spec.family}`"
    )


def load_model(app_state: AppState, path: Path):
    from imgtrans.loading import load_generator
    from imgtrans.weights import WeightsError

    try:
        return load_generator(app_state.registry, path)
    except (WeightsError, LookupError) as exc:
        app_state.fail(str(exc))


def device_or_fail(app_state: AppState, name: str | None, *, quiet: bool = False):
    from imgtrans.device import DeviceError, resolve

    try:
        return resolve(name, warn=None if quiet else app_state.note)
    except DeviceError as exc:
        app_state.fail(str(exc))
