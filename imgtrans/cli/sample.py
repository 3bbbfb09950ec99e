"""`imgtrans sample MODEL`: images from a class-conditional generator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from imgtrans.cli.common import state
from imgtrans.cli.resolve import device_or_fail, find_spec, load_model, weights_path
from imgtrans.device import DeviceError, validate


def parse_labels(requested: list[str], names: tuple[str, ...], num_classes: int) -> list[int]:
    """Labels by index (`7`) or by name (`sneaker`, case-insensitive)."""
    lowered = [n.lower() for n in names]
    indices = []
    for label in requested:
        if label.isdigit() and int(label) < num_classes:
            indices.append(int(label))
        elif label.lower() in lowered:
            indices.append(lowered.index(label.lower()))
        else:
            known = ", ".join(names) if names else f"0..{num_classes - 1}"
            raise ValueError(f"unknown label {label!r} (known: {known})")
    return indices


def register(app: typer.Typer) -> None:
    @app.command("sample", rich_help_panel="Use models")
    def sample_command(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="A conditional model (see `imgtrans models`).")],
        label: Annotated[Optional[list[str]], typer.Option("--label", "-l", help="Class index or name; repeat for several [default: all].")] = None,
        n: Annotated[int, typer.Option("-n", min=1, help="Samples per label.")] = 8,
        seed: Annotated[Optional[int], typer.Option(help="Random seed for reproducible samples.")] = None,
        output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Grid PNG path, or a folder with --separate.")] = None,
        separate: Annotated[bool, typer.Option("--separate", help="One PNG per sample instead of a grid.")] = False,
        overwrite: Annotated[bool, typer.Option(help="Replace existing files.")] = False,
        device: Annotated[Optional[str], typer.Option(help="auto, cpu, cuda, cuda:N or mps [env: IMGTRANS_DEVICE].")] = None,
    ) -> None:
        """Generate N images per label: one row per label in a grid PNG."""
        app_state = state(ctx)
        try:
            validate(device)
        except DeviceError as exc:
            app_state.fail(str(exc))
        spec = find_spec(app_state, model)
        if app_state.registry.family(spec.family).kind != "conditional":
            app_state.fail(f"{model!r} translates images; use `imgtrans run {model} IMAGE...`")
        loaded = load_model(app_state, weights_path(app_state, spec))
        names = loaded.info.labels or spec.labels
        num_classes = loaded.config.num_classes
        try:
            labels = parse_labels(label or [str(i) for i in range(num_classes)], names, num_classes)
        except ValueError as exc:
            app_state.fail(str(exc))
        target = output or (Path("imgtrans-out") / model / ("" if separate else "samples.png"))

        from imgtrans.sampling import generate, save_grid, save_separate

        images = generate(loaded.generator, labels, n, seed=seed, device=device_or_fail(app_state, device))
        try:
            if separate:
                written = save_separate(images, labels, names, target, overwrite=overwrite)
            else:
                written = [save_grid(images, target, overwrite=overwrite)]
        except FileExistsError as exc:
            app_state.fail(f"{exc.filename2 or exc.filename}: exists (use --overwrite)")
        app_state.note(f"wrote {len(written)} file(s): {written[0]}{' ...' if len(written) > 1 else ''}")
