"""Publishing a run's generators to the weights store (imports torch)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from imgtrans.checkpoints import store
from imgtrans.checkpoints import weights as wfile
from imgtrans.checkpoints.loading import load_state_strict
from imgtrans.errors import ImgtransError
from imgtrans.names import check_component, inside
from imgtrans.registry import Registry
from imgtrans.training.runs import RunDir


class ExportError(ImgtransError):
    """Publishing would replace a model (without --force)."""


def describe_exports(recipe) -> list[dict]:
    """What `export` needs later, written to run.json when training starts."""
    return [
        {
            "network": e.network,
            "config": dataclasses.asdict(e.config),
            "direction": e.direction,
            "reverse": e.reverse,
            "labels": list(e.labels),
            "preprocess": e.preprocess.to_dict(),
        }
        for e in recipe.exports()
    ]


def export_run(registry: Registry, run_path: Path, *, name: str, reverse_name: str | None = None,
               out_dir: Path | None = None, overwrite: bool = False) -> list[Path]:
    run = RunDir(run_path)
    info = run.read_info()
    stem = run.latest_stem()
    tensors = run.load_networks(stem)
    family = registry.family(info["family"])
    step = int(stem.removeprefix("step-"))
    written = []
    for entry in info["exports"]:
        model_name = check_component((reverse_name or f"{name}-reverse") if entry["reverse"] else name, "model name")
        destination = (inside(out_dir / f"{model_name}{store.SUFFIX}", out_dir, "model file") if out_dir
                       else store.cached_path(model_name))
        if destination.exists() and not overwrite:
            raise ExportError(f"{destination} exists (use --force to replace it)")
        config = family.make_config(entry["config"])
        net = family.build_generator(config)
        prefix = entry["network"] + "."
        load_state_strict(net, {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                          what=f"{run_path} network {entry['network']}")
        metadata = wfile.make_metadata(
            name=model_name,
            family=family.name,
            config=entry["config"],
            preprocess=entry["preprocess"],
            direction=entry["direction"],
            license="as the training data",
            source=f"imgtrans train: run {run_path.resolve().name}, step {step}, data {info['data']}",
            labels=tuple(entry["labels"]),
            summary=f"{family.name} trained with imgtrans ({entry['direction']})",
            extra={"training": json.dumps({"run": str(run_path), "step": step, "command": info.get("command", "")})},
        )
        wfile.save(destination, {"G." + k: v for k, v in net.state_dict().items()}, metadata)
        written.append(destination)
    return written
