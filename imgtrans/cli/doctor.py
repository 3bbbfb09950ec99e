"""`imgtrans doctor`: what this machine offers (devices, memory, codecs, cache) and a timing per device."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("doctor", rich_help_panel="Use models")
    def doctor_command(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        timing: Annotated[bool, typer.Option(
            "--timing/--no-timing",
            help="Time one 256x256 picture on each device.",
        )] = True,
    ) -> None:
        """torch, CUDA, cuDNN, MPS, free RAM and GPU memory, bf16 and TF32,
        onnxruntime's providers, PyAV's codecs, the cache, and one picture's
        time on each device: what to attach to a bug report."""
        from imgtrans.diagnostics import lines, report

        facts = report(timing=timing)
        typer.echo(json.dumps(facts, indent=2) if as_json else "\n".join(lines(facts)))
