"""Every hook an imgtrans plugin can implement.

Hooks receive a `register` callback: plugins declare, the core decides (names,
collisions, lookup). Implementations may accept fewer arguments than the spec.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("imgtrans")
hookimpl = pluggy.HookimplMarker("imgtrans")


@hookspec
def register_families(register):
    """Register model families: call ``register(family)`` with an
    :class:`imgtrans.spec.Family` for each architecture family the plugin brings."""


@hookspec
def register_models(register):
    """Register named, runnable models (catalogue entries): call
    ``register(spec)`` with an :class:`imgtrans.spec.ModelSpec` for each."""


@hookspec
def detect_checkpoint(checkpoint, report):
    """Say what a foreign checkpoint is, from names and shapes alone.

    ``checkpoint`` is an :class:`imgtrans.checkpoints.detection.Checkpoint` (one candidate
    network of the file: tensor name -> shape and dtype, no values). Call
    ``report(Proposal(...))`` with your family and every option you can read
    (the core verifies it by building your generator on the meta device and
    comparing every tensor), or ``report(Unsupported(...))`` for a layout you
    recognise that no installed family runs. Report nothing otherwise."""


@hookspec
def register_commands(app):
    """Add commands to the CLI: ``app`` is the root ``typer.Typer``; call
    ``app.command()`` or ``app.add_typer(...)`` on it."""
