"""The run folder: everything one training run writes, and how to read it back.

runs/NAME/
  config.toml              resolved recipe (family, data path, every option)
  run.json                 what publishing needs later (the exports) and the command
  .lock                    held by the process that trains in the folder
  checkpoints/             step-N.safetensors (all networks) + step-N.state.pt
                           (optimisers, schedules, replay buffer, RNG; tensors and
                           plain values only, read with weights_only=True);
                           latest.json names the newest complete pair
  losses.jsonl, losses.png one line per step; the curve redrawn at checkpoints
  samples/step-N.png       sample grids
  summary.json             written at the end
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imgtrans.checkpoints import weights as wfile
from imgtrans.errors import ImgtransError
from imgtrans.io.files import write_atomic
from imgtrans.io.imageio import encode
from imgtrans.names import check_component

KEEP_CHECKPOINTS = 2


class RunError(ImgtransError):
    """A run folder whose files are damaged or cannot be written; the message names the file."""

    exit_code = 1


class RunBusyError(RunError):
    """Another process trains in the run folder (two `imgtrans train` with one --name)."""


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _reason(exc: OSError) -> str:
    return exc.strerror or first_line(exc)


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """A failed write in a run folder (a full disk, a vanished folder) is one
    line naming the file; `write_atomic` has already removed its temporary file."""
    try:
        yield
    except OSError as exc:
        raise RunError(f"{path}: cannot write ({_reason(exc)})") from None


class RunDir:
    def __init__(self, path: Path):
        self.path = path
        self.checkpoints = path / "checkpoints"
        self.samples = path / "samples"
        self.losses = path / "losses.jsonl"

    @contextlib.contextmanager
    def owned(self, main: bool, *, new: bool) -> Iterator[None]:
        """Hold the folder for one training process (rank 0 for a group):
        a new run creates it atomically (two processes asking for one name:
        one wins, the other is told), and an advisory lock on `.lock` keeps a
        second `imgtrans train` out of a folder in use, resumed or not."""
        if not main:
            yield
            return
        if new:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.mkdir()
            except FileExistsError:
                raise RunBusyError(f"{self.path} exists (another imgtrans train started it just now?): "
                                   "choose another --name") from None
            except OSError as exc:
                raise RunError(f"{self.path}: cannot create the run folder ({_reason(exc)})") from None
        try:
            handle = open(self.path / ".lock", "a+")
        except OSError as exc:
            raise RunError(f"{self.path}: cannot write in the run folder ({_reason(exc)})") from None
        with handle:
            try:
                import fcntl
            except ImportError:  # pragma: no cover (Windows: no advisory locks here)
                locking = False
            else:
                locking = True
            if locking:
                try:  # a POSIX record lock: owned by this process, so forked data workers do not keep it
                    fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except (BlockingIOError, PermissionError):
                    handle.seek(0)
                    owner = handle.read().strip()
                    raise RunBusyError(f"{self.path} is in use by another imgtrans train"
                                       + (f" (process {owner})" if owner.isdigit() else "")) from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield

    def create(self, config_toml: str, info: dict[str, Any]) -> None:
        """The run's recipe (config.toml) and what publishing needs (run.json)."""
        try:
            write_atomic(self.path / "config.toml", config_toml.encode(), overwrite=True)
            write_atomic(self.path / "run.json", json.dumps(info, indent=2).encode(), overwrite=True)
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            self.samples.mkdir(exist_ok=True)
        except OSError as exc:
            raise RunError(f"{self.path}: cannot write the run folder ({_reason(exc)})") from None

    def read_info(self) -> dict[str, Any]:
        """run.json, with the family under "family" (older runs wrote "plugin")."""
        try:
            info = json.loads((self.path / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            raise RunError(f"{self.path}: not a training run folder (no readable run.json)") from None
        if not isinstance(info, dict) or not isinstance(info.get("family", info.get("plugin")), str):
            raise RunError(f"{self.path / 'run.json'}: lacks the family (not written by imgtrans train?)")
        info.setdefault("family", info.get("plugin"))
        return info

    # -- checkpoints ---------------------------------------------------------
    def save_checkpoint(self, step: int, networks: dict, state: dict[str, Any]) -> None:
        import torch

        stem = f"step-{step:08d}"
        tensors = {f"{name}.{key}": value for name, net in networks.items() for key, value in net.state_dict().items()}
        tmp = None
        try:
            wfile.save(self.checkpoints / f"{stem}.safetensors", tensors, {"imgtrans.step": str(step)})
            fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".part", dir=self.checkpoints)
            os.close(fd)
            torch.save(state, tmp)
            os.replace(tmp, self.checkpoints / f"{stem}.state.pt")
            tmp = None
            write_atomic(self.checkpoints / "latest.json", json.dumps({"step": step, "stem": stem}).encode(),
                         overwrite=True)
        except Exception as exc:  # a full disk: OSError, torch's RuntimeError, safetensors' own error
            if not self.has_checkpoint() or self.latest_stem() != stem:
                (self.checkpoints / f"{stem}.safetensors").unlink(missing_ok=True)
            raise RunError(f"{self.checkpoints}: cannot write the checkpoint of step {step} ({first_line(exc)}); "
                           "the previous checkpoint is intact") from None
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
        for old in sorted(self.checkpoints.glob("step-*.safetensors"))[:-KEEP_CHECKPOINTS]:
            old.unlink(missing_ok=True)
            (self.checkpoints / old.name.replace(".safetensors", ".state.pt")).unlink(missing_ok=True)

    def has_checkpoint(self) -> bool:
        return (self.checkpoints / "latest.json").is_file()

    def latest_stem(self) -> str:
        latest = self.checkpoints / "latest.json"
        if not latest.is_file():
            raise RunError(f"{self.path}: no checkpoint yet")
        try:
            stem = check_component(json.loads(latest.read_text(encoding="utf-8"))["stem"], "checkpoint name")
            if not re.fullmatch(r"step-\d+", stem):
                raise ValueError(stem)
            return stem
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
        with _writing(self.losses), open(self.losses, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def forget_losses_after(self, step: int) -> None:
        """On resume: drop the lines of steps after the checkpoint (they are
        computed again), so the log has each step once."""
        records = [r for r in self.read_losses() if r.get("step", 0) <= step]
        text = "".join(json.dumps(r) + "\n" for r in records)
        with _writing(self.losses):
            write_atomic(self.losses, text.encode(), overwrite=True)

    def read_losses(self) -> list[dict]:
        if not self.losses.is_file():
            return []
        records = []
        for line in self.losses.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:  # a line cut short by a kill
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def plot_losses(self) -> None:
        from imgtrans.training.plot import loss_curves

        records = self.read_losses()
        if records:
            with _writing(self.path / "losses.png"):
                write_atomic(self.path / "losses.png", encode(loss_curves(records), None, "png"), overwrite=True)

    def save_sample(self, step: int, grid) -> Path:
        path = self.samples / f"step-{step:08d}.png"
        with _writing(path):
            write_atomic(path, encode(grid, None, "png"), overwrite=True)
        return path

    def write_summary(self, summary: dict) -> None:
        with _writing(self.path / "summary.json"):
            write_atomic(self.path / "summary.json", json.dumps(summary, indent=2).encode(), overwrite=True)
