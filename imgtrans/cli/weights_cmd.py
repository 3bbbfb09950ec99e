"""`imgtrans weights import|list|rm`: the user's weights cache."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from imgtrans import store
from imgtrans.cli.common import human_size, state
from imgtrans.weights import WeightsError, read_info

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

weights_app = typer.Typer(help="Import, list and remove model weights.", no_args_is_help=True)


@weights_app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A reference-format .pth (bare generator state dict) or .safetensors file.")],
    name: Annotated[str, typer.Option(help="Model name to register it under.")],
    plugin: Annotated[str, typer.Option(help="Model family: cyclegan, pix2pix, cgan, or a plugin's.")],
    netG: Annotated[Optional[str], typer.Option("--netG", help="Generator architecture, e.g. resnet_9blocks, unet_256.")] = None,
    norm: Annotated[Optional[str], typer.Option(help="instance, batch or none.")] = None,
    ngf: Annotated[Optional[int], typer.Option(help="Generator width (filters in the first layer).")] = None,
    norm_affine: Annotated[Optional[bool], typer.Option("--norm-affine/--no-norm-affine", help="Instance norm with learned scale and shift.")] = None,
    direction: Annotated[str, typer.Option(help="What it translates, e.g. 'horse -> zebra'.")] = "",
    license: Annotated[str, typer.Option(help="Licence of the weights.")] = "unknown",
    source: Annotated[str, typer.Option(help="Where the file came from (default: its path).")] = "",
    half: Annotated[bool, typer.Option(help="Store in float16 (half the size).")] = False,
    force: Annotated[bool, typer.Option(help="Replace a cached model of the same name.")] = False,
) -> None:
    """Convert a checkpoint into the weights store, so `imgtrans run NAME` uses it."""
    app_state = state(ctx)
    if not NAME_PATTERN.match(name):
        app_state.fail(f"invalid model name {name!r} (letters, digits, '.', '_' and '-')")
    registry = app_state.registry
    try:
        family = registry.family(plugin)
    except LookupError as exc:
        app_state.fail(str(exc))
    if name in registry.models and registry.locate(registry.models[name]).status == "shipped":
        app_state.fail(f"{name!r} is a shipped model; choose another --name")
    destination = store.cached_path(name)
    if destination.exists() and not force:
        app_state.fail(f"model {name!r} already exists in {destination} (use --force to replace it)")
    options = {k: v for k, v in {"netG": netG, "norm": norm, "ngf": ngf, "norm_affine": norm_affine}.items() if v is not None}
    spec = registry.models.get(name)
    if spec is not None and not options:
        options = dict(spec.config)  # a catalogue entry knows its architecture
    from imgtrans.convert import import_checkpoint
    from imgtrans.spec import Preprocess

    preprocess = spec.preprocess if spec is not None else Preprocess()
    try:
        import_checkpoint(
            registry,
            file,
            name=name,
            family_name=family.name,
            options=options,
            destination=destination,
            preprocess=preprocess,
            direction=direction or (spec.direction if spec else ""),
            license=license if license != "unknown" or spec is None else spec.license,
            source_label=source or str(file),
            labels=spec.labels if spec else (),
            half=half,
        )
    except (WeightsError, ValueError, TypeError) as exc:
        app_state.fail(str(exc))
    app_state.note(f"imported {file} as {name!r} ({family.name}) into {destination}")


@weights_app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List weights files: shipped ones and those in the cache."""
    rows = []
    for where, folder in (("shipped", store.shipped_dir()), ("cached", store.cache_dir())):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.safetensors")):
            try:
                info = read_info(path)
                rows.append({"name": info.name, "family": info.family, "where": where, "path": str(path),
                             "size": path.stat().st_size, "source": info.source, "license": info.license})
            except WeightsError as exc:
                state(ctx).warn(str(exc))
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("NAME", "FAMILY", "WHERE", "SIZE", "PATH"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["family"], row["where"], human_size(row["size"]), row["path"])
    Console().print(table)


@weights_app.command("rm")
def rm_command(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="Cached model names to remove.")],
) -> None:
    """Remove downloaded or imported weights from the cache (shipped ones stay)."""
    app_state = state(ctx)
    missing = [n for n in names if not store.cached_path(n).is_file()]
    if missing:
        app_state.fail(f"not in the cache: {', '.join(missing)} (see `imgtrans weights list`)")
    for name in names:
        store.cached_path(name).unlink()
        app_state.note(f"removed {name}")


def register(app: typer.Typer) -> None:
    app.add_typer(weights_app, name="weights", rich_help_panel="Manage weights")
