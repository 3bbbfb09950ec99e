"""`imgtrans serve`: the HTTP API on uvicorn (imgtrans/server.py), safe by default."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer

from imgtrans.cli.common import state

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(app: typer.Typer) -> None:
    @app.command("serve", rich_help_panel="Use models")
    def serve_command(
        ctx: typer.Context,
        host: Annotated[str, typer.Option(
            help="Address to listen on; anything but loopback needs --allow-remote.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
        models: Annotated[str | None, typer.Option(
            help="Serve only these models, comma-separated (default: all).")] = None,
        device: Annotated[str | None, typer.Option(
            help="auto, cpu, cuda, cuda:N or mps (env: IMGTRANS_DEVICE).")] = None,
        max_memory: Annotated[str | None, typer.Option(
            help="Memory for one picture and its activations (default: from free memory).")] = None,
        token: Annotated[str | None, typer.Option(
            help="Require `Authorization: Bearer TOKEN` (default with --allow-remote: a new one, "
                 "printed once).")] = None,
        allow_remote: Annotated[bool, typer.Option(
            "--allow-remote", help="Allow a non-loopback --host (a token is then required).")] = False,
        cors: Annotated[str | None, typer.Option(
            help="Allow this one origin to call the API from a browser (default: none).")] = None,
        max_upload: Annotated[str, typer.Option(help="Largest upload accepted.")] = "50MB",
        max_pixels: Annotated[int | None, typer.Option(
            min=1, help="Refuse pictures with more pixels (default: Pillow's, about 89 million).")] = None,
        runs: Annotated[Path | None, typer.Option(
            help="Serve the training runs in this folder (read-only): GET /v1/runs.")] = None,
        ui: Annotated[bool, typer.Option("--ui/--no-ui", help="Serve the page at / (--no-ui: the API only).")] = True,
        max_jobs: Annotated[int, typer.Option(
            min=1, help="Video and large-picture jobs queued or running at once (more get 429).")] = 4,
        max_frames: Annotated[int, typer.Option(min=1, help="Frames of one video job.")] = 100_000,
        max_job_upload: Annotated[str, typer.Option(help="Largest file a job accepts.")] = "1GB",
        warm_memory: Annotated[str, typer.Option(
            help="Weights of loaded models kept between requests (least recently used dropped first).")] = "4GB",
    ) -> None:
        """Serve the models over HTTP, with a page at / to translate, compare models,
        sample conditional models and watch training runs: GET /v1/models, POST
        /v1/translate, /v1/sample, /v1/jobs (videos, large pictures), /v1/runs.
        Bound to 127.0.0.1 unless --allow-remote; docs/serving.md."""
        from imgtrans.device import validate
        from imgtrans.inference.memory import parse_size

        app_state = state(ctx)
        validate(device)
        if host not in LOOPBACK and not allow_remote:
            app_state.fail(f"--host {host} listens beyond this machine: add --allow-remote (a token is then required)")
        if allow_remote and token is None:
            token = secrets.token_urlsafe(24)
            app_state.note(f"token (send as `Authorization: Bearer TOKEN`; shown once): {token}")
        try:
            import uvicorn

            from imgtrans.server import ServeConfig, create_app
        except ImportError as exc:
            app_state.fail(f"serving needs its extra: pip install 'imgtrans[serve]' ({exc})")
        names = tuple(n.strip() for n in models.split(",") if n.strip()) if models else None
        registry = app_state.registry
        for name in names or ():
            registry.model(name)  # an unknown name fails now, with the suggestion
        if runs is not None and not runs.is_dir():
            app_state.fail(f"--runs {runs}: not a folder")
        config = ServeConfig(host=host, port=port, models=names, device=device, max_memory=max_memory, token=token,
                             cors=cors, max_upload=parse_size(max_upload), max_pixels=max_pixels, runs=runs, ui=ui,
                             max_jobs=max_jobs, max_frames=max_frames, max_job_upload=parse_size(max_job_upload),
                             warm_bytes=parse_size(warm_memory))
        shown = f"[{host}]" if ":" in host else host
        app_state.note(f"serving {len(names) if names else len(registry.models)} model(s) on http://{shown}:{port}/ "
                       "(Ctrl-C stops)")
        # limit_concurrency: connections beyond it get 503 from uvicorn before any work.
        uvicorn.run(create_app(config, registry=registry), host=host, port=port, log_level="warning",
                    limit_concurrency=64, timeout_keep_alive=5)
