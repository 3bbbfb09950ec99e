"""Choosing the arithmetic precision of inference (imports torch lazily).

bf16 runs on CUDA and on CPUs with native bf16 (AVX512-BF16 or AMX); fp16 on
CUDA and MPS. A precision that was measured below 40 dB PSNR against fp32 for
a model is refused; `auto` picks a reduced one only where it was measured at
45 dB or better, so an unmeasured model stays in fp32.
"""

from __future__ import annotations

from typing import Mapping

from imgtrans.errors import OptionError

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
REFUSE_BELOW_DB = 40.0
AUTO_FROM_DB = 45.0


def cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def supported(precision: str, device) -> str | None:
    """None if `device` can run `precision`, else the reason it cannot."""
    import torch

    if precision == "fp32":
        return None
    if device.type == "cuda":
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            return "this GPU has no bf16 support"
        return None
    if device.type == "mps":
        return None if precision == "fp16" else "MPS runs fp32 or fp16"
    if precision == "fp16":
        return "fp16 needs a CUDA or MPS device (on the CPU use bf16)"
    if not cpu_has_native_bf16():
        return "this CPU has no native bf16 (AVX512-BF16 or AMX): it would be slower than fp32"
    return None


def choose(requested: str | None, device, measured: Mapping[str, float], model: str) -> str:
    """The precision to run `model` at; `measured` maps precision -> PSNR (dB) vs fp32."""
    requested = requested or "auto"
    if requested not in PRECISIONS:
        raise OptionError(f"unknown precision {requested!r} (choose from {', '.join(PRECISIONS)})")
    if requested == "auto":
        for candidate in ("bf16", "fp16"):
            if measured.get(candidate, 0.0) >= AUTO_FROM_DB and supported(candidate, device) is None:
                return candidate
        return "fp32"
    reason = supported(requested, device)
    if reason is not None:
        raise OptionError(f"precision {requested} on {device.type}: {reason}")
    if requested in measured and measured[requested] < REFUSE_BELOW_DB:
        raise OptionError(
            f"precision {requested} gives {model} only {measured[requested]:.1f} dB PSNR against fp32 "
            f"(measured; at least {REFUSE_BELOW_DB:.0f} dB needed): use fp32"
        )
    return requested
