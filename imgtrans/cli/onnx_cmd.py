"""`imgtrans onnx MODEL -o FILE.onnx`: the bare generator as an ONNX graph."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imgtrans.cli.common import state
from imgtrans.cli.resolve import find_target, load_model


def register(app: typer.Typer) -> None:
    @app.command("onnx", rich_help_panel="Use models")
    def onnx_command(
        ctx: typer.Context,
        model: Annotated[str, typer.Argument(help="A translation model (see `imgtrans models`), or its weights file.")],
        output: Annotated[Path, typer.Option("-o", "--output", help="The .onnx file to write.")],
        opset: Annotated[int | None, typer.Option(help="ONNX opset (18-23) (default: 18).")] = None,
        overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
    ) -> None:
        """Export MODEL's generator to ONNX: float32 N x C x H x W in [0, 1] in (H, W
        multiples of the padding multiple that `imgtrans info` shows), the translation
        in [0, 1] out, normalisation inside. pix2pix exports without dropout noise."""
        app_state = state(ctx)
        target = find_target(app_state, model)
        if target.kind != "translate":
            app_state.fail(f"{model!r} generates images from labels; only translators export to ONNX")
        if output.is_dir():
            app_state.fail(f"{output}: is a folder (give the .onnx file's path)")
        translator = load_model(app_state, target, device="cpu", precision="fp32", dropout=False, quiet=True)
        path = translator.to_onnx(output, opset=opset, overwrite=overwrite)
        app_state.note(f"wrote {path} (input 'image': N x {translator.channels} x H x W, H and W multiples of "
                       f"{translator.pad_multiple}; output 'translated')")
