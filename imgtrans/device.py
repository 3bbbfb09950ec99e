"""Choosing the compute device: CUDA, else Apple MPS, else the CPU."""

from __future__ import annotations

import os
import re

from imgtrans.errors import ImgtransError

DEVICE_ENV = "IMGTRANS_DEVICE"
_VALID = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class DeviceError(ImgtransError, ValueError):
    pass


def validate(name: str | None) -> str:
    """The requested device name (flag, else $IMGTRANS_DEVICE, else auto), checked
    for form only, so bad values fail before torch is imported."""
    name = (name or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if not _VALID.match(name):
        raise DeviceError(f"unknown device {name!r} (use auto, cpu, cuda, cuda:N or mps)")
    return name


def resolve(name: str | None, *, warn=None):
    """A torch.device; `warn` is called once with a note when auto falls back to CPU."""
    import torch

    name = validate(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        if warn is not None:
            warn("no CUDA or MPS device found; running on the CPU")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} requested but CUDA is not available")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceError("device 'mps' requested but MPS is not available")
    return torch.device(name)
