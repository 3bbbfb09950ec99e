"""From a model name to a loaded library model, with the CLI's download
progress and its notes on stderr. Errors are `ImgtransError`s, turned into
one-line messages and exit codes by `cli.common.guard`."""

from __future__ import annotations

from imgtrans.cli.common import AppState
from imgtrans.spec import ModelSpec


def find_spec(app_state: AppState, name: str) -> ModelSpec:
    return app_state.registry.model(name)


def load_model(app_state: AppState, name: str, *, device: str | None = None, mirror: str | None = None,
               quiet: bool = False, **options):
    """`imgtrans.load(name, ...)`, downloading with a progress bar on a terminal."""
    from imgtrans.cli.download_ui import progress_reporter
    from imgtrans.device import resolve
    from imgtrans.hub import load, weights_file

    registry = app_state.registry
    spec = registry.model(name)
    with progress_reporter(app_state, spec.name) as (progress, on_url):
        fresh = registry.locate(spec).path is None
        path = weights_file(registry, spec, mirror=mirror, progress=progress, on_url=on_url)
    if fresh:
        app_state.note(f"saved {spec.name} to {path}")
    resolve(device, warn=None if quiet else app_state.note)  # says once when auto falls back to the CPU
    return load(name, device=device, registry=registry, **options)
