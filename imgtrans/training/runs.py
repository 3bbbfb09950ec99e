"""The run folder: everything one training run writes, and how to read it back.

runs/NAME/
  config.toml              resolved recipe (plugin, data path, every option)
  checkpoints/             step-N.safetensors (all networks) + step-N.state.pt
                           (optimisers, schedules, replay buffer, RNG; tensors and
                           plain values only, read with weights_only=True);
                           latest.json names the newest complete pair
  losses.jsonl, losses.png one line per step; the curve redrawn at checkpoints
  samples/step-N.png       sample grids
  summary.json             written at the end
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from imgtrans import weights as wfile
from imgtrans.errors import ImgtransError
from imgtrans.files import write_atomic
from imgtrans.imageio import encode
from imgtrans.names import check_component

KEEP_CHECKPOINTS = 2



class RunError(ImgtransError):
    """A run folder whose files are damaged; the message names the file."""


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__

class RunDir:
    def __init__(self, path: Path):
        self.path = path
        self.checkpoints = path / "checkpoints"
        self.samples = path / "samples"
        self.losses = path / "losses.jsonl"

    def create(self, config_toml: str) -> None:
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.samples.mkdir(exist_ok=True)
        write_atomic(self.path / "config.toml", config_toml.encode(), overwrite=True)

    # -- checkpoints ---------------------------------------------------------
    def save_checkpoint(self, step: int, networks: dict, state: dict[str, Any]) -> None:
        import torch

        stem = f"step-{step:08d}"
        tensors = {f"{name}.{key}": value for name, net in networks.items() for key, value in net.state_dict().items()}
        wfile.save(self.checkpoints / f"{stem}.safetensors", tensors, {"imgtrans.step": str(step)})
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".part", dir=self.checkpoints)
        os.close(fd)
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoints / f"{stem}.state.pt")
        write_atomic(self.checkpoints / "latest.json", json.dumps({"step": step, "stem": stem}).encode(), overwrite=True)
        for old in sorted(self.checkpoints.glob("step-*.safetensors"))[:-KEEP_CHECKPOINTS]:
            old.unlink(missing_ok=True)
            (self.checkpoints / old.name.replace(".safetensors", ".state.pt")).unlink(missing_ok=True)

    def has_checkpoint(self) -> bool:
        return (self.checkpoints / "latest.json").is_file()

    def latest_stem(self) -> str:
        latest = self.checkpoints / "latest.json"
        if not latest.is_file():
            raise FileNotFoundError(f"{self.path}: no checkpoint to resume from")
        try:
            stem = json.loads(latest.read_text(encoding="utf-8"))["stem"]
            return check_component(stem, "checkpoint name")
        except (OSError, ValueError, KeyError, TypeError, RecursionError, ImgtransError) as exc:
            raise RunError(f"{latest}: corrupt ({type(exc).__name__}); delete it to resume from scratch") from None

    def load_checkpoint(self) -> tuple[dict, dict]:
        import torch

        stem = self.latest_stem()
        tensors = self.load_networks(stem)
        path = self.checkpoints / f"{stem}.state.pt"
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch.load raises many types on damaged files
            raise RunError(f"{path}: corrupt or unreadable training state ({first_line(exc)})") from None
        if not isinstance(state, dict):
            raise RunError(f"{path}: not a training state (found {type(state).__name__})")
        return tensors, state

    def load_networks(self, stem: str | None = None) -> dict:
        from safetensors.torch import load_file

        path = self.checkpoints / f"{stem or self.latest_stem()}.safetensors"
        try:
            return load_file(str(path))
        except Exception as exc:  # SafetensorError, OSError, ...
            raise RunError(f"{path}: corrupt or unreadable checkpoint ({first_line(exc)})") from None

    # -- logs and pictures -----------------------------------------------------
    def log_losses(self, record: dict) -> None:
        with open(self.losses, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def read_losses(self) -> list[dict]:
        if not self.losses.is_file():
            return []
        return [json.loads(line) for line in self.losses.read_text().splitlines() if line.strip()]

    def plot_losses(self) -> None:
        from imgtrans.training.plot import loss_curves

        records = self.read_losses()
        if records:
            write_atomic(self.path / "losses.png", encode(loss_curves(records), None, "png"), overwrite=True)

    def save_sample(self, step: int, grid) -> Path:
        path = self.samples / f"step-{step:08d}.png"
        write_atomic(path, encode(grid, None, "png"), overwrite=True)
        return path

    def write_summary(self, summary: dict) -> None:
        write_atomic(self.path / "summary.json", json.dumps(summary, indent=2).encode(), overwrite=True)
