"""`imgtrans train` and `imgtrans export`: run a family's recipe on a dataset.

Common options are declared here; each recipe's own options (`--lambda-cycle`,
`--direction`, `--z-dim`, ...) come from its config dataclass and are checked
before any data is read or any device touched.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from imgtrans.cli.common import AppState, state
from imgtrans.device import validate
from imgtrans.names import check_component
from imgtrans.training.config import parse_flags

if TYPE_CHECKING:  # rich.progress is imported when a bar is shown
    from rich.progress import Progress, TaskID

def register(app: typer.Typer) -> None:
    @app.command(
        "train",
        rich_help_panel="Train models",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def train_command(
        ctx: typer.Context,
        family: Annotated[str | None, typer.Option(
            "--family", "--plugin",
            help="Model family: cyclegan, pix2pix, cgan, or a plugin's (--plugin is the old spelling).")] = None,
        data: Annotated[Path | None, typer.Option(
            help="Dataset folder (trainA/trainB, train/ or A/B, class folders or IDX files).")] = None,
        name: Annotated[str | None, typer.Option(help="Run name: runs/NAME, and the exported model's name.")] = None,
        config_file: Annotated[Path | None, typer.Option(
            "--config", help="A TOML recipe (see --print-config).")] = None,
        epochs: Annotated[int | None, typer.Option(help="Epochs at the initial learning rate.")] = None,
        epochs_decay: Annotated[int | None, typer.Option(help="Epochs of linear decay to zero.")] = None,
        batch_size: Annotated[int | None, typer.Option(help="Images per step (per process).")] = None,
        lr: Annotated[float | None, typer.Option(help="Adam learning rate.")] = None,
        max_steps: Annotated[int | None, typer.Option(help="Stop after N steps in all.")] = None,
        save_every: Annotated[int | None, typer.Option(help="Steps between checkpoints.")] = None,
        sample_every: Annotated[int | None, typer.Option(help="Steps between sample grids.")] = None,
        seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
        device: Annotated[str | None, typer.Option(
            help="auto, cpu, cuda, cuda:N or mps (env: IMGTRANS_DEVICE).")] = None,
        precision: Annotated[str | None, typer.Option(
            help="fp32 (the reference's numbers), bf16 (CUDA, or a CPU with native bf16) "
                 "or fp16 (CUDA, with a gradient scaler).")] = None,
        workers: Annotated[int | None, typer.Option(
            min=0, help="Processes that decode and augment the next batches "
                        "(0: in the training process; default: none on the CPU, up to 8 on a GPU).")] = None,
        compile: Annotated[bool, typer.Option(
            "--compile", help="torch.compile the networks: about a minute of compiling first, "
                              "for long runs (docs/training.md).")] = False,
        amp: Annotated[bool, typer.Option(hidden=True, help="Old spelling of --precision fp16.")] = False,
        resume: Annotated[Path | None, typer.Option(
            help="Continue the run in this folder from its latest checkpoint.")] = None,
        out: Annotated[Path, typer.Option(help="Folder that holds run folders.")] = Path("runs"),
        force: Annotated[bool, typer.Option(
            help="Replace an existing imported or downloaded model of the same name when publishing.")] = False,
        print_config: Annotated[bool, typer.Option(
            "--print-config", help="Print the full recipe (TOML) and exit.")] = False,
    ) -> None:
        """Train a model with its family's recipe. Recipe options (see
        --print-config) are given as --option-name VALUE."""
        from imgtrans.training.launch import plan_training, run_plan

        app_state = state(ctx)
        options = {k: v for k, v in {"epochs": epochs, "epochs_decay": epochs_decay, "batch_size": batch_size, "lr": lr,
                                     "max_steps": max_steps, "save_every": save_every, "sample_every": sample_every,
                                     "seed": seed, "precision": precision}.items() if v is not None}
        if amp:
            app_state.warn("--amp is now --precision fp16")
            options.setdefault("precision", "fp16")
        options.update(parse_flags(list(ctx.args)))
        validate(device)
        plan = plan_training(family, data, name, options=options, config_file=config_file, resume=resume, runs=out,
                             force=force, require_run=not print_config, registry=app_state.registry)
        if print_config:
            typer.echo(plan.config_toml(), nl=False)
            return
        reporter = Reporter(app_state, quiet=os.environ.get("RANK", "0") != "0")
        try:
            result = run_plan(plan, device=device, workers=workers, compile=compile, on_event=reporter,
                              registry=app_state.registry)
        finally:
            reporter.close()
        code = {"SIGTERM": 143, None: 130}.get(result.signal, 130) if result.interrupted else 0
        if result.is_main and result.ranks_identical is False:
            app_state.error("ranks ended with different weights")
            code = 1
        elif result.is_main:
            losses = ", ".join(f"{k} {v:.3f}" for k, v in result.losses.items())
            app_state.note(f"{'interrupted' if result.interrupted else 'finished'} at step {result.step} "
                           f"({result.seconds:.0f} s); {losses}")
            app_state.note("exported " + ", ".join(f"{p.stem} ({p})" for p in result.published))
        if result.world_size > 1:
            from imgtrans.distributed import Distributed

            Distributed().exit(code)  # after rank 0's export: the group is not needed for it
        raise typer.Exit(code)

    def publish_command(
        ctx: typer.Context,
        run_dir: Annotated[Path, typer.Argument(help="A training run folder (runs/NAME).")],
        name: Annotated[str, typer.Option(help="Model name for the (A -> B) generator.")],
        reverse_name: Annotated[str | None, typer.Option(
            help="Name for the reverse generator of a two-way run (default: NAME-reverse).")] = None,
        output: Annotated[Path | None, typer.Option(
            "-o", "--output", help="Write into this folder instead of the cache.")] = None,
        force: Annotated[bool, typer.Option(help="Replace existing models.")] = False,
    ) -> None:
        """Write a run's latest generators to the weights store, so `imgtrans run NAME` uses them."""
        from imgtrans.training.export import export_run

        app_state = state(ctx)
        check_component(name, "model name")
        if reverse_name is not None:
            check_component(reverse_name, "model name")
        written = export_run(app_state.registry, run_dir, name=name, reverse_name=reverse_name, out_dir=output,
                             overwrite=force)
        for path in written:
            app_state.note(f"published {path}")

    app.command("publish", rich_help_panel="Train models")(publish_command)

    @functools.wraps(publish_command)
    def export_command(ctx: typer.Context, *args, **kwargs) -> None:
        state(ctx).warn("`imgtrans export` is now `imgtrans publish` (`imgtrans onnx` exports to ONNX)")
        publish_command(ctx, *args, **kwargs)

    export_command.__doc__ = "Deprecated spelling of `imgtrans publish`."
    app.command("export", hidden=True)(export_command)


class Reporter:
    """Engine events -> one progress bar on a terminal, or plain log lines."""

    def __init__(self, app_state: AppState, *, quiet: bool):
        self.app_state, self.quiet = app_state, quiet
        self.progress: Progress | None = None  # a bar on a terminal, from the "start" event
        self.task: TaskID | None = None
        self.every = 1

    def __call__(self, kind: str, **data) -> None:
        if self.quiet:
            return
        if kind == "start":
            self.app_state.note(f"training on {data['examples']} examples, {data['steps_per_epoch']} steps per epoch, "
                                f"{data['total_steps']} steps in all"
                                + (f", {data['world']} processes" if data["world"] > 1 else "")
                                + f"; {data['precision']}, {data['workers']} data "
                                  f"worker{'s' if data['workers'] != 1 else ''}")
            self.every = max(1, data["total_steps"] // 20)
            if self.app_state.stderr.is_terminal:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeRemainingColumn,
                )

                self.progress = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                                         TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
                                         console=self.app_state.stderr)
                self.progress.start()
                self.task = self.progress.add_task("train", total=data["total_steps"], completed=data["step"],
                                                   epoch=1, losses="")
        elif kind == "step":
            losses = " ".join(f"{k} {v:.3f}" for k, v in data["losses"].items())
            if self.progress is not None and self.task is not None:
                self.progress.update(self.task, completed=data["step"], epoch=data["epoch"], losses=losses)
            elif data["step"] % self.every == 0:
                self.app_state.note(f"step {data['step']} epoch {data['epoch']}" + (f": {losses}" if losses else ""))
        elif kind == "checkpoint" and self.progress is None:
            self.app_state.note(f"checkpoint at step {data['step']}")
        elif kind == "interrupt":
            self.app_state.note(f"interrupted ({data['signal']}): saving a checkpoint after this step "
                                "(a second signal stops at once)")
        elif kind == "warning":
            self.app_state.note(data["message"])

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
