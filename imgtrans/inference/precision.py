"""Choosing the arithmetic precision of inference (imports torch lazily).

bf16 runs on CUDA and on CPUs with native bf16 (AVX512-BF16 or AMX); fp16 on
CUDA and MPS; tf32 (fp32 storage, convolutions and matrix products on
TensorFloat-32 cores) on CUDA from Ampere on. A precision that was measured
below 40 dB PSNR against fp32 for a model is refused; `auto` picks a reduced
one only where it was measured at 45 dB or better, so an unmeasured model
stays in fp32. `fp32` is true fp32 on CUDA too (cuDNN allows TF32 in
convolutions by default; imgtrans turns it off), so it reproduces the
reference's numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from imgtrans.errors import OptionError

PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "auto")
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
    if precision == "tf32":
        if device.type != "cuda":
            return "TF32 is a CUDA arithmetic (Ampere GPUs and newer)"
        return None if torch.cuda.get_device_capability(device)[0] >= 8 else "this GPU has no TF32 (Ampere and newer)"
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
        for candidate in ("bf16", "fp16", "tf32"):
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


@contextlib.contextmanager
def arithmetic(device, precision: str):
    """The arithmetic of `precision` on `device` for the block: autocast for
    bf16/fp16, and on CUDA TF32 in cuDNN and matrix products exactly when
    `precision` is tf32 (torch's flags are process-wide: restored after)."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        if device.type != "cuda":
            yield
            return
        matmul = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        try:
            with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled,
                                            benchmark=torch.backends.cudnn.benchmark,
                                            deterministic=torch.backends.cudnn.deterministic,
                                            allow_tf32=precision == "tf32"):
                yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = matmul
