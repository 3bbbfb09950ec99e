"""Training as a library call: `imgtrans.train(...)`.

`plan_training` resolves what to run (the family's defaults, a recipe file,
options, a resumed run's own config) and refuses what cannot run before any
data is read or any device touched; `run_plan` runs it and publishes the
generators. Neither prints: progress goes to `on_event(kind, **data)`
(`start`, `step`, `epoch`, `sample`, `checkpoint`, `interrupt`, `warning`).
`imgtrans train` is a thin layer over these two. Torch-free at import.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imgtrans.errors import ImgtransError
from imgtrans.names import check_component, inside
from imgtrans.training.config import ConfigError, architecture, build, load_toml, to_toml

if TYPE_CHECKING:
    from imgtrans.registry import Registry
    from imgtrans.spec import Family

Event = Callable[..., None]

RUN_KEYS = ("family", "plugin", "data", "name")  # a run's identity, not options ("plugin": the old key)
RESUMABLE_CHANGES = ("max_steps", "save_every", "sample_every")  # options a resumed run may change


class TrainingError(ImgtransError):
    """A training request that cannot start (a run folder in the way, no data ...)."""


@dataclass(frozen=True)
class TrainPlan:
    """What one training run will do, fully resolved and checked."""

    family: Family
    config: Any  # the family's train_config dataclass
    data: Path | None
    name: str | None
    run_path: Path | None
    resume: bool

    def config_toml(self) -> str:
        """The recipe as `--print-config` shows it and config.toml stores it."""
        header = {"family": self.family.name}
        if self.data is not None and self.name is not None:
            header |= {"data": str(self.data), "name": self.name}
        return to_toml(self.config, header)


@dataclass
class TrainResult:
    """What a finished (or interrupted) run left behind."""

    run_path: Path
    step: int
    epoch: int
    interrupted: bool
    signal: str | None  # "SIGINT" or "SIGTERM" when interrupted
    losses: dict[str, float]
    seconds: float
    published: list[Path] = field(default_factory=list)
    ranks_identical: bool | None = None  # None: one process
    world_size: int = 1
    is_main: bool = True
    summary: dict = field(default_factory=dict)


def _family_of(values: Mapping[str, Any]) -> str | None:
    value = values.get("family", values.get("plugin"))
    return None if value is None else str(value)


def plan_training(
    family: str | None = None,
    data: str | Path | None = None,
    name: str | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    config_file: str | Path | None = None,
    resume: str | Path | None = None,
    runs: str | Path = "runs",
    force: bool = False,
    require_run: bool = True,
    registry: Registry | None = None,
) -> TrainPlan:
    """Resolve and check a training request; raises `ImgtransError`s only.

    Options are layered: the family's defaults, then `config_file`, then a
    resumed run's config.toml, then `options` (names as in the config
    dataclass or as flags: `lambda_cycle` or `lambda-cycle`). A resumed run
    may change only how long it runs and how often it saves or samples.
    `require_run=False` skips what only a real run needs (data, name, run
    folder): `--print-config`.
    """
    from imgtrans.hub import default_registry

    registry = registry or default_registry()
    options = dict(options or {})
    data = Path(data) if data is not None else None
    run_values: dict[str, Any] = {}
    resume_path = Path(resume) if resume is not None else None
    if resume_path is not None:
        if not (resume_path / "config.toml").is_file():
            raise TrainingError(f"{resume_path}: not a run folder (no config.toml)")
        run_values = load_toml(resume_path / "config.toml")
        for key, given in (("family", family), ("data", data)):
            recorded = _family_of(run_values) if key == "family" else run_values.get(key)
            if given is not None and str(given) != str(recorded):
                raise TrainingError(f"--{key} {given} contradicts the run being resumed ({recorded})")
        if _family_of(run_values) is None or "data" not in run_values or "name" not in run_values:
            raise TrainingError(f"{resume_path / 'config.toml'}: lacks family, data or name "
                                "(not written by imgtrans train?)")
        family, data, name = _family_of(run_values), Path(str(run_values["data"])), str(run_values["name"])
    file_values: dict[str, Any] = {}
    if config_file is not None:
        file_values = load_toml(Path(config_file))
        family = family or _family_of(file_values)
    if not family:
        raise TrainingError("--family is required (cyclegan, pix2pix, cgan, or a plugin's family)")
    chosen = registry.family(family)
    if chosen.train_config is None or chosen.make_recipe is None:
        raise TrainingError(f"family {family!r} has no training recipe")

    def strip(values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if k not in RUN_KEYS}

    try:
        config = build(chosen.train_config, strip(file_values), strip(run_values), strip(options))
        multiple = chosen.pad_multiple(architecture(chosen, config)) if chosen.kind == "translate" else 1
    except (ValueError, TypeError) as exc:  # ConfigError is a ValueError; a family's own checks may raise either
        raise ConfigError(str(exc)) from None
    if config.preprocess != "none" and config.crop_size % multiple:
        raise ConfigError(f"crop_size {config.crop_size} must be a multiple of {multiple} for this network")
    if resume_path is not None:
        changed = sorted(k.replace("-", "_") for k in strip(options)
                         if k.replace("-", "_") not in RESUMABLE_CHANGES
                         and str(getattr(config, k.replace("-", "_"))) != str(run_values.get(k.replace("-", "_"))))
        if changed:
            raise TrainingError(f"{', '.join('--' + k.replace('_', '-') for k in changed)} "
                                "contradicts the run being resumed")
    if not require_run:
        return TrainPlan(chosen, config, data, name, resume_path, resume_path is not None)
    if data is None or name is None:
        raise TrainingError("--data and --name are required")
    if not data.exists():
        raise TrainingError(f"{data}: no such dataset folder")
    if resume_path is None:
        check_component(name, "run name")
        runs = Path(runs)
        run_path = inside(runs / name, runs, "run folder")
        if run_path.exists() and os.environ.get("RANK", "0") == "0":  # rank 0 creates it
            raise TrainingError(f"{run_path} exists: resume it with --resume {run_path}, or choose another --name")
        if not force:
            existing = registry.models.get(name)
            if existing is not None and registry.locate(existing).status in ("cached", "shipped"):
                raise TrainingError(f"a model named {name!r} exists ({registry.locate(existing).status}); "
                                    "training would replace it: choose another --name, or pass --force")
    else:
        run_path = resume_path
    return TrainPlan(chosen, config, data, name, run_path, resume_path is not None)


def run_plan(
    plan: TrainPlan,
    *,
    device: str | None = None,
    workers: int | None = None,
    compile: bool = False,
    publish: bool = True,
    on_event: Event | None = None,
    registry: Registry | None = None,
    command: str | None = None,
) -> TrainResult:
    """Train as planned; publish the generators under the run's name (rank 0)."""
    import torch

    from imgtrans.device import resolve
    from imgtrans.distributed import Distributed
    from imgtrans.hub import default_registry
    from imgtrans.training.contract import check_recipe
    from imgtrans.training.engine import Trainer, seed_everything
    from imgtrans.training.export import describe_exports, export_run
    from imgtrans.training.mixed import MixedPrecision
    from imgtrans.training.runs import RunDir

    if plan.data is None or plan.name is None or plan.run_path is None:
        raise TrainingError("this plan was made for printing (require_run=False); it cannot run")
    emit: Event = on_event or (lambda kind, **data: None)
    family, config = plan.family, plan.config
    distributed_rank = os.environ.get("RANK", "0")
    chosen = resolve(device,
                     warn=None if distributed_rank != "0" else (lambda message: emit("warning", message=message)))
    MixedPrecision(config.precision, chosen)  # refused here, before any data is read
    distributed = Distributed.from_environment(chosen.type)
    if chosen.type == "cuda" and distributed.enabled:
        chosen = torch.device("cuda", distributed.local_rank)
    seed_everything(config.seed)
    if family.make_recipe is None:  # refused by plan_training already
        raise TrainingError(f"family {family.name!r} has no training recipe")
    recipe = family.make_recipe(config, family, chosen)
    check_recipe(recipe, family.name, after_dataset=False)
    dataset = recipe.dataset(plan.data)
    check_recipe(recipe, family.name, after_dataset=True)
    run = RunDir(plan.run_path)
    with run.owned(distributed.is_main, new=not plan.resume):
        if distributed.is_main and not plan.resume:
            run.create(plan.config_toml(), {
                "family": family.name, "data": str(plan.data), "name": plan.name,
                "command": command or shlex.join(["imgtrans", *sys.argv[1:]]),
                "exports": describe_exports(recipe),
            })
        distributed.barrier()  # the folder exists before any rank writes into it
        trainer = Trainer(recipe, config, run, device=chosen, distributed=distributed, workers=workers,
                          compile=compile, on_event=emit)
        summary = trainer.fit(dataset, resume=plan.resume)
        result = TrainResult(
            run_path=plan.run_path, step=summary["step"], epoch=summary["epoch"], interrupted=summary["interrupted"],
            signal=summary.get("signal"), losses=dict(summary["losses"]), seconds=summary["seconds"],
            ranks_identical=summary.get("ranks_identical"), world_size=distributed.world,
            is_main=distributed.is_main, summary=summary,
        )
        if publish and distributed.is_main and result.ranks_identical is not False:
            result.published = export_run(registry or default_registry(), plan.run_path, name=plan.name,
                                          overwrite=True)
    return result


def train(
    family: str | None = None,
    data: str | Path | None = None,
    name: str | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    config_file: str | Path | None = None,
    resume: str | Path | None = None,
    runs: str | Path = "runs",
    device: str | None = None,
    workers: int | None = None,
    compile: bool = False,
    publish: bool = True,
    force: bool = False,
    on_event: Event | None = None,
    registry: Registry | None = None,
) -> TrainResult:
    """Train a model with its family's recipe and publish it as `name`.

        result = imgtrans.train("pix2pix", "data/facades", "facades",
                                options={"epochs": 1, "epochs_decay": 0})
        imgtrans.load("facades")

    Refusals raise `ImgtransError` before any work; see `plan_training` and
    `run_plan` for the parts.
    """
    plan = plan_training(family, data, name, options=options, config_file=config_file, resume=resume, runs=runs,
                         force=force, registry=registry)
    command = shlex.join(["imgtrans.train", *(str(v) for v in (family, data, name) if v is not None)])
    return run_plan(plan, device=device, workers=workers, compile=compile, publish=publish, on_event=on_event,
                    registry=registry, command=command)
