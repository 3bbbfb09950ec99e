"""Memory sizes: parsing `--max-memory 300MB`, reading the free memory, and
the default budget (torch only for a CUDA device's free memory)."""

from __future__ import annotations

import os
import re

from imgtrans.errors import OptionError

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30,
          "t": 1 << 40, "tb": 1 << 40, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
MINIMUM = 16 << 20


def parse_size(text: str | int) -> int:
    """'300MB', '2GB', '1.5G' or a number of bytes -> bytes (binary units)."""
    if isinstance(text, int):
        value = text
    else:
        match = _SIZE.match(str(text))
        if not match or match.group(2).lower() not in _UNITS:
            raise OptionError(f"bad memory size {text!r} (use e.g. 300MB, 2GB)")
        value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value < MINIMUM:
        raise OptionError(f"memory size {text!r} is too small (at least 16MB)")
    return value


def available_ram() -> int:
    """MemAvailable from /proc/meminfo, else free physical pages."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def available_memory(device_type: str = "cpu", index: int | None = None) -> int:
    """Free memory of the device in bytes: free GPU memory on CUDA, else available RAM."""
    if device_type == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(index if index is not None else torch.cuda.current_device())[0])
    return available_ram()


def default_budget(device_type: str = "cpu", index: int | None = None) -> int:
    """A quarter of the free memory, between 256 MB and 1 GB: whole-image
    inference up to about 0.7 MP (ResNet-9), streamed beyond (as fast, see
    docs/benchmarks.md), so a user who passes nothing never runs out of memory."""
    return int(min(max(available_memory(device_type, index) // 4, 256 << 20), 1 << 30))
