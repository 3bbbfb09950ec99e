"""What this machine offers imgtrans: the facts `imgtrans doctor` prints.

Library first (`imgtrans.diagnostics.report()` returns plain data), so a bug
report, a notebook or a cluster job can attach the same facts. Each probe
fails soft: a missing or broken component is a value in the report, never an
exception. Imports torch.
"""

from __future__ import annotations

import platform
import time
from typing import Any

TIMING_SIDE = 256
TIMING_MODEL = "vintage"


def report(*, timing: bool = True) -> dict[str, Any]:
    import torch

    from imgtrans import __version__
    from imgtrans.inference.memory import available_ram, budget_for
    from imgtrans.inference.precision import cpu_has_native_bf16

    facts: dict[str, Any] = {
        "imgtrans": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu": {"native_bf16": cpu_has_native_bf16(), "available_ram": available_ram(),
                "default_budget": budget_for("cpu", available_ram())},
        "cuda": _soft(_cuda, torch),
        "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        "onnxruntime": _onnxruntime(),
        "video": _pyav(),
        "cache": _cache(),
    }
    if timing:
        facts["timing"] = _timings(facts)
    return facts


def _soft(probe, *args) -> dict[str, Any]:
    """A probe's facts, or the one line saying why it failed (a busy or
    exclusive-mode GPU must not stop the report)."""
    try:
        return probe(*args)
    except Exception as exc:
        return {"available": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0], "built_for": None}


def _cuda(torch) -> dict[str, Any]:
    if not torch.cuda.is_available():
        return {"available": False, "built_for": torch.version.cuda}
    from imgtrans.inference.memory import budget_for

    devices = []
    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        major, minor = torch.cuda.get_device_capability(index)
        devices.append({"index": index, "name": torch.cuda.get_device_name(index), "capability": f"{major}.{minor}",
                        "free_memory": int(free), "total_memory": int(total), "tf32": major >= 8,
                        "default_budget": budget_for("cuda", int(free))})
    return {"available": True, "built_for": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
            "bf16": torch.cuda.is_bf16_supported(), "devices": devices}


def _onnxruntime() -> dict[str, Any]:
    try:
        import onnxruntime
    except ImportError:
        return {"installed": False, "hint": "pip install 'imgtrans[onnx]' onnxruntime"}
    return {"installed": True, "version": onnxruntime.__version__, "providers": onnxruntime.get_available_providers()}


def _pyav() -> dict[str, Any]:
    try:
        import av
    except ImportError:
        return {"installed": False, "hint": "pip install av (video needs it)"}
    codecs = {}
    for name in ("libx264", "h264", "libvpx-vp9", "aac", "libopus", "gif"):
        try:
            codecs[name] = av.codec.Codec(name, "w").name is not None
        except Exception:  # PyAV raises UnknownCodecError (or ValueError, by version) for a codec it lacks
            codecs[name] = False
    ffmpeg = ".".join(str(part) for part in av.library_versions.get("libavcodec", ()))
    return {"installed": True, "version": av.__version__, "libavcodec": ffmpeg, "encoders": codecs}


def _cache() -> dict[str, Any]:
    from imgtrans.checkpoints import store

    folder = store.home()
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    try:
        size = sum(p.stat().st_size for p in files)
    except OSError:
        size = None
    return {"folder": str(folder), "exists": folder.is_dir(), "files": len(files), "bytes": size}


def _timings(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """One 256x256 picture through the shipped `vintage` model on each device
    (the second of two calls: the first pays for set-up)."""
    import numpy as np

    import imgtrans

    devices = ["cpu"]
    if facts["cuda"]["available"]:
        devices += [f"cuda:{d['index']}" for d in facts["cuda"]["devices"]]
    if facts["mps"]:
        devices.append("mps")
    picture = np.random.default_rng(0).integers(0, 256, (TIMING_SIDE, TIMING_SIDE, 3), dtype=np.uint8)
    rows = []
    for device in devices:
        try:
            model = imgtrans.load(TIMING_MODEL, device=device, precision="fp32")
            model(picture)
            start = time.perf_counter()
            model(picture)
            rows.append({"device": device, "model": TIMING_MODEL, "side": TIMING_SIDE, "precision": "fp32",
                         "ms": round((time.perf_counter() - start) * 1e3, 1)})
        except Exception as exc:  # the report says what failed instead of stopping
            rows.append({"device": device, "model": TIMING_MODEL, "error": f"{type(exc).__name__}: {exc}"})
    return rows


def lines(facts: dict[str, Any]) -> list[str]:
    """The report as aligned text."""
    gb = lambda n: "?" if n is None else f"{n / 2**30:.1f} GB"  # noqa: E731
    cuda = facts["cuda"]
    out = [
        f"imgtrans     {facts['imgtrans']} (Python {facts['python']}, {facts['platform']})",
        f"torch        {facts['torch']} ({facts['torch_threads']} CPU threads)",
        f"cpu          {gb(facts['cpu']['available_ram'])} RAM available, native bf16: "
        f"{'yes' if facts['cpu']['native_bf16'] else 'no'}, default memory budget {gb(facts['cpu']['default_budget'])}",
    ]
    if cuda.get("error"):
        out.append(f"cuda         probe failed: {cuda['error']}")
    elif cuda["available"]:
        out.append(f"cuda         CUDA {cuda['built_for']}, cuDNN {cuda['cudnn']}, "
                   f"bf16: {'yes' if cuda['bf16'] else 'no'}")
        for d in cuda["devices"]:
            out.append(f"  cuda:{d['index']}     {d['name']} (sm {d['capability']}), {gb(d['free_memory'])} free of "
                       f"{gb(d['total_memory'])}, TF32: {'yes' if d['tf32'] else 'no'}, default budget "
                       f"{gb(d['default_budget'])}")
    else:
        built = f"torch built for CUDA {cuda['built_for']}" if cuda["built_for"] else "a CPU-only torch build"
        out.append(f"cuda         not available ({built})")
    out.append(f"mps          {'available' if facts['mps'] else 'not available'}")
    ort = facts["onnxruntime"]
    runtime = (ort["version"] + ", " + ", ".join(ort["providers"]) if ort["installed"]
               else "not installed (" + ort["hint"] + ")")
    out.append(f"onnxruntime  {runtime}")
    video = facts["video"]
    if video["installed"]:
        encoders = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in video["encoders"].items())
        out.append(f"video        PyAV {video['version']} (libavcodec {video['libavcodec']}): {encoders}")
    else:
        out.append(f"video        PyAV not installed ({video['hint']})")
    cache = facts["cache"]
    out.append(f"cache        {cache['folder']}: {cache['files']} file(s), {gb(cache['bytes'])}"
               if cache["exists"] else f"cache        {cache['folder']} (not created yet)")
    for row in facts.get("timing", []):
        if "error" in row:
            out.append(f"timing       {row['device']}: failed ({row['error']})")
        else:
            out.append(f"timing       {row['device']}: {row['model']} {row['side']}x{row['side']} {row['precision']} "
                       f"in {row['ms']} ms")
    return out
