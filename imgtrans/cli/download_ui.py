"""The download progress bar on a terminal (a plain note otherwise)."""

from __future__ import annotations

import contextlib

from imgtrans.cli.common import AppState


@contextlib.contextmanager
def progress_reporter(app_state: AppState, name: str):
    """Yields (progress, on_url) callbacks for `imgtrans.hub.weights_file`."""
    bar, task = None, None
    terminal = app_state.stderr.is_terminal

    def on_url(url: str) -> None:
        if not terminal:
            app_state.note(f"downloading {name} from {url}")

    def progress(done: int, total: int | None) -> None:
        nonlocal bar, task
        if not terminal:
            return
        if bar is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            bar = Progress(TextColumn(f"downloading {name}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                           console=app_state.stderr, transient=True)
            bar.start()
            task = bar.add_task("download", total=total)
        bar.update(task, completed=done)

    try:
        yield progress, on_url
    finally:
        if bar is not None:
            bar.stop()
