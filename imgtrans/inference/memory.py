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


def available_memory(device_type: str = "cpu", index: int | None = None) -> tuple[int, int | None]:
    """(free, total) bytes of the device: GPU memory on CUDA, available RAM
    (total unknown: None) elsewhere."""
    if device_type == "cuda":
        import torch

        free, total = torch.cuda.mem_get_info(index if index is not None else torch.cuda.current_device())
        return int(free), int(total)
    return available_ram(), None


# On CUDA the budget is most of the card's free memory, less room for cuDNN's
# workspaces and the caching allocator's fragmentation: whole pictures run
# wherever they fit, streaming starts only beyond.
CUDA_FRACTION = 0.85
CUDA_RESERVE = 1 << 30


def budget_for(device_type: str, free: int) -> int:
    """The default memory budget for one picture and its activations, given
    the device's free memory. The CPU keeps a quarter of the available RAM,
    between 256 MB and 1 GB (a user who passes nothing never runs out of
    memory, and streaming is as fast there: docs/benchmarks.md)."""
    if device_type == "cuda":
        return max(int(free * CUDA_FRACTION) - CUDA_RESERVE, 256 << 20)
    return int(min(max(free // 4, 256 << 20), 1 << 30))


def default_budget(device_type: str = "cpu", index: int | None = None) -> int:
    return budget_for(device_type, available_memory(device_type, index)[0])


def reset_peak(device) -> None:
    """Start measuring the peak memory of `device` (CUDA: allocated bytes)."""
    if device.type == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def read_peak(device) -> int:
    """Peak bytes since `reset_peak`: on CUDA the largest allocation total on
    the card; elsewhere the process's peak resident memory so far (the OS
    keeps no per-call figure)."""
    if device.type == "cuda":
        import torch

        return int(torch.cuda.max_memory_allocated(device))
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
