"""`imgtrans train` and `imgtrans export`: run a family's recipe on a dataset.

Common options are declared here; each recipe's own options (`--lambda-cycle`,
`--direction`, `--z-dim`, ...) come from its config dataclass and are checked
before any data is read or any device touched.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from imgtrans.cli.common import AppState, state
from imgtrans.device import DeviceError, validate
from imgtrans.names import check_component, inside
from imgtrans.training.config import (
    ConfigError,
    architecture,
    build,
    load_toml,
    parse_flags,
    to_toml,
)

RUN_KEYS = ("plugin", "data", "name")


def register(app: typer.Typer) -> None:
    @app.command(
        "train",
        rich_help_panel="Train models",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def train_command(
        ctx: typer.Context,
        plugin: Annotated[Optional[str], typer.Option("--family", "--plugin", help="Model family: cyclegan, pix2pix, cgan, or a plugin's (--plugin is the old spelling).")] = None,
        data: Annotated[Optional[Path], typer.Option(help="Dataset folder (trainA/trainB, train/ or A/B, class folders or IDX files).")] = None,
        name: Annotated[Optional[str], typer.Option(help="Run name: runs/NAME, and the exported model's name.")] = None,
        config_file: Annotated[Optional[Path], typer.Option("--config", help="A TOML recipe (see --print-config).")] = None,
        epochs: Annotated[Optional[int], typer.Option(help="Epochs at the initial learning rate.")] = None,
        epochs_decay: Annotated[Optional[int], typer.Option(help="Epochs of linear decay to zero.")] = None,
        batch_size: Annotated[Optional[int], typer.Option(help="Images per step (per process).")] = None,
        lr: Annotated[Optional[float], typer.Option(help="Adam learning rate.")] = None,
        max_steps: Annotated[Optional[int], typer.Option(help="Stop after N steps in all.")] = None,
        save_every: Annotated[Optional[int], typer.Option(help="Steps between checkpoints.")] = None,
        sample_every: Annotated[Optional[int], typer.Option(help="Steps between sample grids.")] = None,
        seed: Annotated[Optional[int], typer.Option(help="Random seed.")] = None,
        device: Annotated[Optional[str], typer.Option(help="auto, cpu, cuda, cuda:N or mps (env: IMGTRANS_DEVICE).")] = None,
        precision: Annotated[Optional[str], typer.Option(help="fp32 (the reference's numbers), bf16 (CUDA, or a CPU with native bf16) or fp16 (CUDA, with a gradient scaler).")] = None,
        workers: Annotated[Optional[int], typer.Option(min=0, help="Processes that decode and augment the next batches (0: in the training process; default: none on the CPU, up to 8 on a GPU).")] = None,
        compile: Annotated[bool, typer.Option("--compile", help="torch.compile the networks: about a minute of compiling first, for long runs (docs/training.md).")] = False,
        amp: Annotated[bool, typer.Option(hidden=True, help="Old spelling of --precision fp16.")] = False,
        resume: Annotated[Optional[Path], typer.Option(help="Continue the run in this folder from its latest checkpoint.")] = None,
        out: Annotated[Path, typer.Option(help="Folder that holds run folders.")] = Path("runs"),
        force: Annotated[bool, typer.Option(help="Replace an existing imported or downloaded model of the same name when publishing.")] = False,
        print_config: Annotated[bool, typer.Option("--print-config", help="Print the full recipe (TOML) and exit.")] = False,
    ) -> None:
        """Train a model with its family's recipe. Recipe options (see
        --print-config) are given as --option-name VALUE."""
        app_state = state(ctx)
        flags = {k: v for k, v in {"epochs": epochs, "epochs_decay": epochs_decay, "batch_size": batch_size, "lr": lr,
                                   "max_steps": max_steps, "save_every": save_every, "sample_every": sample_every,
                                   "seed": seed, "precision": precision}.items() if v is not None}
        if amp:
            app_state.warn("--amp is now --precision fp16")
            flags.setdefault("precision", "fp16")
        try:
            flags.update(parse_flags(list(ctx.args)))
            validate(device)
        except (ConfigError, DeviceError) as exc:
            app_state.fail(str(exc))
        run_values: dict = {}
        if resume is not None:
            if not (resume / "config.toml").is_file():
                app_state.fail(f"{resume}: not a run folder (no config.toml)")
            run_values = load_toml(resume / "config.toml")
            for key, given in (("plugin", plugin), ("data", data)):
                if given is not None and str(given) != str(run_values.get(key)):
                    app_state.fail(f"--{key} {given} contradicts the run being resumed ({run_values.get(key)})")
            try:
                plugin, data, name = str(run_values["plugin"]), Path(run_values["data"]), str(run_values["name"])
            except (KeyError, TypeError):
                app_state.fail(f"{resume / 'config.toml'}: lacks plugin, data or name (not written by imgtrans train?)")
        file_values = {}
        if config_file is not None:
            try:
                file_values = load_toml(config_file)
            except ConfigError as exc:
                app_state.fail(str(exc))
            plugin = plugin or file_values.get("plugin")
        if not plugin:
            app_state.fail("--plugin is required (cyclegan, pix2pix, cgan, or a plugin's family)")
        try:
            family = app_state.registry.family(plugin)
        except LookupError as exc:
            app_state.fail(str(exc))
        if family.train_config is None or family.make_recipe is None:
            app_state.fail(f"family {plugin!r} has no training recipe")
        strip = lambda values: {k: v for k, v in values.items() if k not in RUN_KEYS}  # noqa: E731
        try:
            config = build(family.train_config, strip(run_values), strip(file_values), flags)
            multiple = family.pad_multiple(architecture(family, config)) if family.kind == "translate" else 1
            if config.preprocess != "none" and config.crop_size % multiple:
                raise ConfigError(f"crop_size {config.crop_size} must be a multiple of {multiple} for this network")
        except (ConfigError, ValueError, TypeError) as exc:
            app_state.fail(str(exc))
        if resume is not None:
            changed = sorted(k for k in strip(flags) if k not in ("max_steps", "save_every", "sample_every")
                             and str(getattr(config, k)) != str(run_values.get(k)))
            if changed:
                app_state.fail(f"{', '.join('--' + k.replace('_', '-') for k in changed)} contradicts the run being resumed")
        if print_config:
            typer.echo(to_toml(config, {"plugin": plugin}), nl=False)
            return
        if data is None or name is None:
            app_state.fail("--data and --name are required")
        if not data.exists():
            app_state.fail(f"{data}: no such dataset folder")
        if resume is None:
            check_component(name, "run name")
        run_path = resume if resume is not None else inside(out / name, out, "run folder")
        if resume is None and run_path.exists() and os.environ.get("RANK", "0") == "0":  # rank 0 creates it
            app_state.fail(f"{run_path} exists: resume it with --resume {run_path}, or choose another --name")
        if resume is None and not force:
            existing = app_state.registry.models.get(name)
            if existing is not None and app_state.registry.locate(existing).status in ("cached", "shipped"):
                app_state.fail(f"a model named {name!r} exists ({app_state.registry.locate(existing).status}); "
                               f"training would replace it: choose another --name, or pass --force")
        raise typer.Exit(run_training(app_state, family, config, data=data, name=name, run_path=run_path,
                                      device=device, workers=workers, compile=compile, resume=resume is not None))

    def publish_command(
        ctx: typer.Context,
        run_dir: Annotated[Path, typer.Argument(help="A training run folder (runs/NAME).")],
        name: Annotated[str, typer.Option(help="Model name for the (A -> B) generator.")],
        reverse_name: Annotated[Optional[str], typer.Option(help="Name for the reverse generator of a two-way run (default: NAME-reverse).")] = None,
        output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write into this folder instead of the cache.")] = None,
        force: Annotated[bool, typer.Option(help="Replace existing models.")] = False,
    ) -> None:
        """Write a run's latest generators to the weights store, so `imgtrans run NAME` uses them."""
        from imgtrans.training.export import export_run

        app_state = state(ctx)
        check_component(name, "model name")
        if reverse_name is not None:
            check_component(reverse_name, "model name")
        try:
            written = export_run(app_state.registry, run_dir, name=name, reverse_name=reverse_name, out_dir=output, overwrite=force)
        except (FileNotFoundError, FileExistsError, LookupError) as exc:
            app_state.fail(str(exc))
        for path in written:
            app_state.note(f"published {path}")

    app.command("publish", rich_help_panel="Train models")(publish_command)

    @functools.wraps(publish_command)
    def export_command(ctx: typer.Context, *args, **kwargs) -> None:
        state(ctx).warn("`imgtrans export` is now `imgtrans publish` (`imgtrans onnx` exports to ONNX)")
        publish_command(ctx, *args, **kwargs)

    export_command.__doc__ = "Deprecated spelling of `imgtrans publish`."
    app.command("export", hidden=True)(export_command)


def run_training(app_state: AppState, family, config, *, data: Path, name: str, run_path: Path, device,
                 workers: int | None, compile: bool, resume: bool) -> int:
    import torch

    from imgtrans.device import resolve
    from imgtrans.distributed import Distributed
    from imgtrans.training.contract import check_recipe
    from imgtrans.training.engine import Trainer, seed_everything
    from imgtrans.training.export import describe_exports, export_run
    from imgtrans.training.mixed import MixedPrecision
    from imgtrans.training.runs import RunDir

    chosen = resolve(device, warn=None if os.environ.get("RANK", "0") != "0" else app_state.note)
    MixedPrecision(config.precision, chosen)  # refused here, before any data is read
    distributed = Distributed.from_environment(chosen.type)
    if chosen.type == "cuda" and distributed.enabled:
        chosen = torch.device("cuda", distributed.local_rank)
    seed_everything(config.seed)
    recipe = family.make_recipe(config, family, chosen)
    check_recipe(recipe, family.name, after_dataset=False)
    try:
        dataset = recipe.dataset(data)
    except ConfigError as exc:
        app_state.fail(str(exc))
    check_recipe(recipe, family.name, after_dataset=True)
    run = RunDir(run_path)
    if distributed.is_main and not resume:
        run.create(to_toml(config, {"plugin": family.name, "data": str(data), "name": name}))
        info = {"plugin": family.name, "data": str(data), "name": name, "command": shlex.join(["imgtrans", *sys.argv[1:]]),
                "exports": describe_exports(recipe)}
        (run_path / "run.json").write_text(json.dumps(info, indent=2))
    reporter = Reporter(app_state, quiet=not distributed.is_main)
    trainer = Trainer(recipe, config, run, device=chosen, distributed=distributed, workers=workers, compile=compile,
                      on_event=reporter)
    try:
        summary = trainer.fit(dataset, resume=resume)
    except (FileNotFoundError, ConfigError) as exc:  # no checkpoint; an image that fails to decode
        app_state.fail(str(exc))
    finally:
        reporter.close()
    code = 130 if summary["interrupted"] else 0
    if distributed.is_main and summary.get("ranks_identical") is False:
        app_state.error("ranks ended with different weights")
        code = 1
    elif distributed.is_main:
        written = export_run(app_state.registry, run_path, name=name, overwrite=True)
        losses = ", ".join(f"{k} {v:.3f}" for k, v in summary["losses"].items())
        app_state.note(f"{'interrupted' if summary['interrupted'] else 'finished'} at step {summary['step']} "
                       f"({summary['seconds']:.0f} s); {losses}")
        app_state.note("exported " + ", ".join(f"{p.stem} ({p})" for p in written))
    if distributed.enabled:
        distributed.exit(code)  # after rank 0's export: the group is not needed for it
    return code


class Reporter:
    """Engine events -> one progress bar on a terminal, or plain log lines."""

    def __init__(self, app_state: AppState, *, quiet: bool):
        self.app_state, self.quiet = app_state, quiet
        self.progress = None
        self.task = None
        self.every = 1

    def __call__(self, kind: str, **data) -> None:
        if self.quiet:
            return
        if kind == "start":
            self.app_state.note(f"training on {data['examples']} examples, {data['steps_per_epoch']} steps per epoch, "
                                f"{data['total_steps']} steps in all" + (f", {data['world']} processes" if data["world"] > 1 else "")
                                + f"; {data['precision']}, {data['workers']} data worker{'s' if data['workers'] != 1 else ''}")
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
                                         TimeRemainingColumn(), TextColumn("{task.fields[losses]}"), console=self.app_state.stderr)
                self.progress.start()
                self.task = self.progress.add_task("train", total=data["total_steps"], completed=data["step"], epoch=1, losses="")
        elif kind == "step":
            losses = " ".join(f"{k} {v:.3f}" for k, v in data["losses"].items())
            if self.progress is not None:
                self.progress.update(self.task, completed=data["step"], epoch=data["epoch"], losses=losses)
            elif data["step"] % self.every == 0:
                self.app_state.note(f"step {data['step']} epoch {data['epoch']}: {losses}")
        elif kind == "checkpoint" and self.progress is None:
            self.app_state.note(f"checkpoint at step {data['step']}")
        elif kind == "interrupt":
            self.app_state.note("interrupted: saving a checkpoint after this step (Ctrl-C again to stop at once)")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
