"""The `imgtrans` command line. Built by a factory: plugins add commands
through the `register_commands` hook when the app is created."""

from __future__ import annotations

import typer

from imgtrans.cli import (
    common,
    doctor,
    eval_cmd,
    models,
    onnx_cmd,
    plugins_cmd,
    run,
    sample,
    serve_cmd,
    train,
    weights_cmd,
)


def create_app(pm=None) -> typer.Typer:
    from imgtrans.plugins import make_plugin_manager

    pm = pm if pm is not None else make_plugin_manager()
    app = typer.Typer(
        name="imgtrans",
        help="Image-to-image translation with GANs: run and train pix2pix, CycleGAN and conditional GAN models.",
        no_args_is_help=True,
        rich_markup_mode="rich",
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = common.AppState(pm=pm)

    run.register(app)
    sample.register(app)
    onnx_cmd.register(app)
    train.register(app)
    eval_cmd.register(app)
    models.register(app)
    weights_cmd.register(app)
    plugins_cmd.register(app)
    doctor.register(app)
    serve_cmd.register(app)
    pm.hook.register_commands(app=app)
    _guard_commands(app)
    return app


def _guard_commands(app: typer.Typer) -> None:
    for command in app.registered_commands:
        command.callback = common.guard(command.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            _guard_commands(group.typer_instance)


def main() -> None:
    create_app()()
