"""`imgtrans plugins`: what is installed, and what failed to load."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from imgtrans.cli.common import print_table, state
from imgtrans.plugins import describe_plugins


def register(app: typer.Typer) -> None:
    @app.command("plugins", rich_help_panel="Extend")
    def plugins_command(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    ) -> None:
        """List installed plugins, their versions and the hooks they implement."""
        rows = describe_plugins(state(ctx).pm)
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        print_table(
            ["NAME", "PACKAGE", "VERSION", "HOOKS"],
            [
                [r["name"], r["package"], r["version"],
                 f"FAILED TO LOAD: {r['error']}" if r["error"] else ", ".join(r["hooks"])]
                for r in rows
            ],
        )
