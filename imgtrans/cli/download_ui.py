"""Pulling catalogue weights with a progress bar, and the one-line failure
message that says how to import a file obtained elsewhere."""

from __future__ import annotations

from pathlib import Path

from imgtrans import store
from imgtrans.cli.common import AppState
from imgtrans.spec import ModelSpec


def pull_with_progress(app_state: AppState, spec: ModelSpec, *, mirror: str | None = None) -> Path:
    """Download, verify and convert `spec`'s weights into the cache; exit 2 on failure."""
    from imgtrans.convert import import_checkpoint
    from imgtrans.download import DownloadError, fetch, mirrored
    from imgtrans.weights import WeightsError

    url = mirrored(spec.weights.url, mirror)
    destination = store.cached_path(spec.name)
    how_to = (
        f"if you have the file, import it: "
        f"imgtrans weights import FILE --name {spec.name} --plugin {spec.family}"
    )
    progress = None
    if app_state.stderr.is_terminal:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        progress = Progress(
            TextColumn(f"downloading {spec.name}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            console=app_state.stderr, transient=True,
        )
    else:
        app_state.note(f"downloading {spec.name} from {url}")
    task = None

    def on_start(total):
        nonlocal task
        if progress is not None:
            progress.start()
            task = progress.add_task("download", total=total)

    def on_chunk(n):
        if progress is not None and task is not None:
            progress.advance(task, n)

    part = None
    try:
        part, sha256 = fetch(url, store.cache_dir(), on_start=on_start, on_chunk=on_chunk)
        if progress is not None:
            progress.stop()
        if spec.weights.sha256 and sha256 != spec.weights.sha256:
            raise DownloadError(f"sha256 mismatch: got {sha256}, expected {spec.weights.sha256}")
        import_checkpoint(
            app_state.registry, part, name=spec.name, family_name=spec.family, options=spec.config,
            destination=destination, preprocess=spec.preprocess, direction=spec.direction,
            license=spec.license, source_label=url, summary=spec.summary, labels=spec.labels,
        )
    except (DownloadError, WeightsError) as exc:
        if progress is not None:
            progress.stop()
        reason = str(exc).replace(str(part), "the downloaded file") if part else str(exc)
        app_state.fail(f"could not get weights for {spec.name!r} from {url}: {reason}; {how_to}")
    finally:
        if part is not None:
            part.unlink(missing_ok=True)
    app_state.note(f"saved {spec.name} to {destination}")
    return destination
