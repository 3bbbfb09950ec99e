"""`imgtrans sample MODEL`: images from a class-conditional generator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imgtrans.cli.common import state
from imgtrans.cli.resolve import find_target, load_model
from imgtrans.device import validate
from imgtrans.errors import check_seed


def register(app: typer.Typer) -> None:
    @app.command("sample", rich_help_panel="Use models")
    def sample_command(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="A conditional model (see `imgtrans models`), or its weights file.")],
        label: Annotated[list[str] | None, typer.Option(
            "--label", "-l",
            help="Class index or name; repeat for several (default: all).",
        )] = None,
        n: Annotated[int, typer.Option("-n", min=1, help="Samples per label.")] = 8,
        seed: Annotated[int | None, typer.Option(help="Random seed for reproducible samples.")] = None,
        output: Annotated[Path | None, typer.Option(
            "-o", "--output",
            help="Grid PNG path, or a folder with --separate.",
        )] = None,
        separate: Annotated[bool, typer.Option("--separate", help="One PNG per sample instead of a grid.")] = False,
        overwrite: Annotated[bool, typer.Option(help="Replace existing files.")] = False,
        device: Annotated[str | None, typer.Option(
            help="auto, cpu, cuda, cuda:N or mps (env: IMGTRANS_DEVICE).",
        )] = None,
    ) -> None:
        """Generate N images per label: one row per label in a grid PNG."""
        app_state = state(ctx)
        validate(device)
        check_seed(seed)
        found = find_target(app_state, model)
        if found.kind != "conditional":
            app_state.fail(f"{model!r} translates images; use `imgtrans run {model} IMAGE...`")
        generator = load_model(app_state, found, device=device)
        indices = generator.label_indices(label)
        target = output or (Path("imgtrans-out") / found.name / ("" if separate else "samples.png"))
        if target.exists() and not separate and not target.is_file():
            app_state.fail(f"{target}: is a folder (pass a .png path, or --separate for a folder)")

        from imgtrans.inference.sampling import save_grid, save_separate

        images = generator.sample_array(indices, n=n, seed=seed)
        try:
            if separate:
                written = save_separate(images, indices, generator.labels, target, overwrite=overwrite)
            else:
                written = [save_grid(images, target, overwrite=overwrite)]
        except FileExistsError as exc:
            app_state.fail(f"{exc.filename2 or exc.filename}: exists (use --overwrite)")
        except OSError as exc:
            app_state.fail(f"{target}: cannot write ({exc.strerror or exc})")
        app_state.note(f"wrote {len(written)} file(s): {written[0]}{' ...' if len(written) > 1 else ''}")
