"""`imgtrans weights import|list|rm`: the user's weights cache."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from imgtrans.checkpoints import store
from imgtrans.checkpoints.weights import WeightsError, read_info
from imgtrans.cli.common import INPUT_ERROR, AppState, human_size, print_table, state

if TYPE_CHECKING:
    from imgtrans.spec import ModelSpec

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

weights_app = typer.Typer(help="Import, list and remove model weights.", no_args_is_help=True)


@weights_app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(
        help="A generator checkpoint: .pth/.pt (read weights-only) or .safetensors; its architecture is read from it.",
    )] = None,
    name: Annotated[str | None, typer.Option(
        help="Model name to register it under (default: the file's stem).",
    )] = None,
    plugin: Annotated[str | None, typer.Option(
        "--family", "--plugin",
        help="Model family (default: detected; --plugin is the old spelling).",
    )] = None,
    network: Annotated[str | None, typer.Option(
        help="The generator to take from a file that holds several (e.g. G_A, netG).",
    )] = None,
    from_package: Annotated[str | None, typer.Option(
        "--from",
        help="Convert the checkpoint a catalogue model names inside this installed Python package (e.g. vintagify).",
    )] = None,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output",
        help="Write the safetensors file here instead of the cache.",
    )] = None,
    netG: Annotated[str | None, typer.Option(
        "--netG",
        help="Override: generator architecture, e.g. resnet_9blocks, unet_256 (default: detected).",
    )] = None,
    norm: Annotated[str | None, typer.Option(help="Override: instance, batch or none (default: detected).")] = None,
    ngf: Annotated[int | None, typer.Option(help="Override: generator width (default: detected).")] = None,
    norm_affine: Annotated[bool | None, typer.Option(
        "--norm-affine/--no-norm-affine",
        help="Override: instance norm with learned scale and shift (default: detected).",
    )] = None,
    dropout: Annotated[bool | None, typer.Option(
        "--dropout/--no-dropout",
        help="Dropout layers (a U-Net's cannot be seen in the file; default: on, as the reference's pix2pix).",
    )] = None,
    direction: Annotated[str, typer.Option(help="What it translates, e.g. 'horse -> zebra'.")] = "",
    license: Annotated[str, typer.Option(help="Licence of the weights.")] = "unknown",
    source: Annotated[str, typer.Option(help="Where the file came from (default: its path).")] = "",
    labels: Annotated[str, typer.Option(
        help="Class names for a conditional model, comma-separated, in index order.",
    )] = "",
    half: Annotated[bool, typer.Option(help="Store in float16 (half the size).")] = False,
    force: Annotated[bool, typer.Option(help="Replace a cached model of the same name.")] = False,
) -> None:
    """Convert a checkpoint into the weights store, so `imgtrans run NAME` uses it.
    The family and architecture are read from the file's tensor names and shapes."""
    app_state = state(ctx)
    registry = app_state.registry
    if from_package:
        spec = _spec_from_package(app_state, from_package, name)
        file, name, plugin = _package_file(app_state, spec), spec.name, spec.family
        license, source = spec.license, source or spec.source
    if file is None:
        app_state.fail("give FILE (or --from PACKAGE)")
    if name is None:
        name = file.stem
        if not NAME_PATTERN.match(name):
            app_state.fail(f"{file.name}: its stem is not a model name; give --name")
    if not NAME_PATTERN.match(name):
        app_state.fail(f"invalid model name {name!r} (letters, digits, '.', '_' and '-')")
    if plugin is not None:
        registry.family(plugin)
    if output is None and name in registry.models and registry.locate(registry.models[name]).status == "shipped":
        app_state.fail(f"{name!r} is a shipped model; choose another --name or write elsewhere with -o")
    destination = output or store.cached_path(name)
    if destination.exists() and not force:
        app_state.fail(f"{destination} already exists (use --force to replace it)")
    flags = {"netG": netG, "norm": norm, "ngf": ngf, "norm_affine": norm_affine, "use_dropout": dropout}
    options = {k: v for k, v in flags.items() if v is not None}
    spec = registry.models.get(name)
    # A catalogue entry knows its architecture: the file must agree with it (or take another --name).
    expect = dict(spec.config) if spec is not None and registry.owners.get(name) != "user cache" else None
    from imgtrans.checkpoints.convert import import_checkpoint

    resolved = import_checkpoint(
        registry,
        file,
        name=name,
        destination=destination,
        family_name=plugin,
        options=options,
        network=network,
        expect=expect,
        expected_as=f"the catalogue's {name}",
        preprocess=spec.preprocess if spec is not None else None,
        direction=direction or (spec.direction if spec else ""),
        license=license if license != "unknown" or spec is None else spec.license,
        source_label=source or str(file),
        labels=tuple(x.strip() for x in labels.split(",") if x.strip()) or (spec.labels if spec else ()),
        half=half,
    )
    detection = resolved.detection
    what = f"{resolved.family.name}: {detection.architecture}" if detection else resolved.family.name
    app_state.note(f"imported {file} as {name!r} ({what}) into {destination}")
    for key, why in (detection.assumed.items() if detection else ()):
        if key not in options and key not in (expect or {}):
            app_state.note(f"assumed {key}={getattr(resolved.config, key)}: {why}")
    if detection is not None and detection.dtype in ("float16", "bfloat16") and not half:
        app_state.note(f"the file's weights are {detection.dtype}, stored as float32 (--half keeps half the size)")


@weights_app.command("inspect")
def inspect_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(
        help="A checkpoint (.pth, .pt, .safetensors, ...): read by names and shapes, weights only.",
    )],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What a checkpoint holds: family, architecture and options, channels,
    parameters, dtype, and the tensors nothing could place. Exit 0 when it
    holds one runnable generator, 1 otherwise."""
    from imgtrans.checkpoints.convert import inspect_checkpoint
    from imgtrans.checkpoints.detection import DetectionError, choose
    from imgtrans.checkpoints.weights import is_imgtrans_file
    from imgtrans.names import escaped

    app_state = state(ctx)
    loaded, report = inspect_checkpoint(app_state.registry, file)
    for problem in report.problems:
        app_state.warn(problem)
    stored = read_info(file) if file.suffix.lower() == ".safetensors" and is_imgtrans_file(file) else None
    try:
        chosen, verdict = choose(report, str(file), network="G" if stored else None), "runnable"
    except DetectionError as exc:
        chosen, verdict = None, str(exc)
    if as_json:
        typer.echo(json.dumps({
            "file": str(file), "tensors": report.tensors, "other_entries": report.other_entries,
            "runnable": chosen is not None, "verdict": verdict,
            "chosen": (chosen.network or None) if chosen is not None else None,
            "metadata": {"name": stored.name, "family": stored.family, "config": stored.config,
                         "license": stored.license, "direction": stored.direction} if stored else None,
            "detections": [d.to_dict() for d in report.detections],
            "unsupported": [{"network": root or None, "what": u.what, "reason": u.reason}
                            for root, u in report.unsupported],
            "problems": list(report.problems),
            "shapes": {k: list(m.shape) for k, m in loaded.shapes.items()},
        }, indent=2))
        raise typer.Exit(0 if chosen is not None else INPUT_ERROR)
    entries = (f", {report.other_entries} other entr{'y' if report.other_entries == 1 else 'ies'}"
               if report.other_entries else "")
    lines = [f"{file}: {report.tensors} tensor(s){entries}"]
    if stored is not None:
        lines.append(f"imgtrans file: {stored.name} ({stored.family}; {stored.direction or 'no direction'}; "
                     f"licence {stored.license}): its metadata, not detection, says how it runs")
    for d in report.detections:
        where = f" under {d.network!r}" if d.network else ""
        channels = f"{d.input_channels} -> {d.output_channels}" if d.input_channels else f"-> {d.output_channels}"
        seen = {k: v for k, v in d.config.items() if k not in d.unseen}
        lines += [f"{d.family}{where}: {d.architecture}",
                  "  options      " + ", ".join(f"{k}={v}" for k, v in seen.items()),
                  f"  channels     {channels}",
                  f"  parameters   {d.parameters:,} ({d.dtype})"]
        if d.unseen:
            lines.append("  not in file  " + ", ".join(f"{k}={d.config[k]}" for k in d.unseen)
                         + " (not generator options: defaults)")
        lines += [f"  note         {note}" for note in d.notes]
        lines += [f"  assumed      {k}: {why}" for k, why in d.assumed.items()]
        if d.unexplained:
            lines.append(f"  unplaced     {len(d.unexplained)}: "
                         f"{', '.join(d.unexplained[:8])}{' ...' if len(d.unexplained) > 8 else ''}")
    for root, u in report.unsupported:
        lines.append(f"not runnable{f' under {root!r}' if root else ''}: {u.what}: {u.reason}")
    if chosen is None:
        sample = ", ".join(f"{k} {list(m.shape)}" for k, m in list(loaded.shapes.items())[:6])
        lines += [f"tensors      {sample}{' ...' if report.tensors > 6 else ''}", f"verdict      {verdict}"]
    else:
        kind = app_state.registry.family(chosen.family).kind
        use = f"imgtrans sample {file}" if kind == "conditional" else f"imgtrans run {file} ..."
        lines.append(f"verdict      runnable: `{use}` or `imgtrans weights import {file}`"
                     + (f" (--network {chosen.network} is taken)" if chosen.network and not stored else ""))
    typer.echo("\n".join(escaped(line) for line in lines))  # names from the file may hold escape sequences
    raise typer.Exit(0 if chosen is not None else INPUT_ERROR)


@weights_app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List weights files: shipped ones and those in the cache."""
    rows: list[dict[str, Any]] = []
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
    print_table(
        ["NAME", "FAMILY", "WHERE", "SIZE", "PATH"],
        [[r["name"], r["family"], r["where"], human_size(r["size"]), r["path"]] for r in rows],
    )


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


@weights_app.command("pull")
def pull_command(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="Catalogue model names to download ahead of time.")],
    mirror: Annotated[str | None, typer.Option(
        help="Base URL replacing the weights host (env: IMGTRANS_MIRROR).",
    )] = None,
) -> None:
    """Download catalogue weights into the cache now (they are otherwise fetched on first use)."""
    from imgtrans.cli.download_ui import progress_reporter
    from imgtrans.hub import download_weights

    app_state = state(ctx)
    specs = [app_state.registry.model(name) for name in names]
    for spec in specs:
        located = app_state.registry.locate(spec)
        if located.path is not None:
            app_state.note(f"{spec.name}: already {located.status} ({located.path})")
        elif located.status == "missing":
            app_state.fail(f"{spec.name!r} has no download source; import it with `imgtrans weights import`")
        else:
            with progress_reporter(app_state, spec.name) as (progress, on_url):
                path = download_weights(app_state.registry, spec, mirror=mirror, progress=progress, on_url=on_url)
            app_state.note(f"saved {spec.name} to {path}")


def _spec_from_package(app_state: AppState, package: str, name: str | None) -> ModelSpec:
    """The catalogue model whose source checkpoint lives in `package`."""
    candidates = [s for s in app_state.registry.models.values() if s.weights.package == package]
    if name:
        candidates = [s for s in candidates if s.name == name]
    if not candidates:
        app_state.fail(f"no catalogue model is converted from package {package!r}")
    return candidates[0]


def _package_file(app_state: AppState, spec: ModelSpec) -> Path:
    import importlib.util

    package, member = spec.weights.package, spec.weights.package_file
    if package is None or member is None:
        app_state.fail(f"{spec.name}: its catalogue entry names no package_file in a package to convert")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        app_state.fail(
            f"package {package!r} is not installed: "
            f"pip install --no-deps {package}"
        )
    path = Path(list(found.submodule_search_locations)[0]) / member
    if not path.is_file():
        app_state.fail(f"{path}: not found in the installed {package!r} package")
    if spec.weights.sha256:
        from imgtrans.checkpoints.weights import sha256_file

        if sha256_file(path) != spec.weights.sha256:
            app_state.fail(f"{path}: sha256 differs from the catalogue's ({spec.weights.sha256})")
    return path


def register(app: typer.Typer) -> None:
    app.add_typer(weights_app, name="weights", rich_help_panel="Manage weights")
