"""`imgtrans plugins`: what is installed, and what failed to load."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from imgtrans.cli.common import stdout_console, state
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
        table = Table(box=None, pad_edge=False)
        for column in ("NAME", "PACKAGE", "VERSION", "HOOKS"):
            table.add_column(column)
        for row in rows:
            hooks = ", ".join(row["hooks"]) if not row["error"] else f"[red]failed to load: {row['error']}[/]"
            table.add_row(row["name"], row["package"], row["version"], hooks)
        stdout_console().print(table)
