"""A third-party plugin: one catalogue entry and one extra command."""

import imgtrans


@imgtrans.hookimpl
def register_models(register):
    register(
        imgtrans.ModelSpec(
            name="hello-model",
            family="cyclegan",
            summary="a model from a third-party plugin",
            direction="hello -> world",
            config={"netG": "resnet_6blocks"},
        )
    )


@imgtrans.hookimpl
def register_commands(app):
    @app.command("hello")
    def hello():
        """Say hello from a plugin."""
        print("hello from a plugin")
