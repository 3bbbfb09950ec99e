"""Mixed-precision training: bf16 (CPUs with native bf16, and CUDA) or fp16
with a gradient scaler (CUDA).

Convolutions run in the reduced type under autocast; parameters and the
optimiser state stay float32. Autocast keeps losses such as mse_loss in
float32 but not normalisation, so every norm layer's input is cast to float32
first: instance and batch statistics are then computed, and back-propagated,
in float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from imgtrans.errors import OptionError
from imgtrans.inference.precision import supported
from imgtrans.training.config import TRAINING_PRECISIONS


def unsupported(precision: str, device: torch.device) -> str | None:
    """Why `device` cannot train in `precision`, or None."""
    if precision == "fp16" and device.type != "cuda":
        return "fp16 training needs CUDA (its gradient scaler); on the CPU use bf16"
    if precision == "bf16" and device.type == "mps":
        return "MPS trains in fp32"
    return supported(precision, device)


def _float32_input(module: nn.Module, args: tuple) -> tuple:
    return (args[0].float(), *args[1:])


@dataclass
class MixedPrecision:
    precision: str
    device: torch.device
    scaler: torch.amp.GradScaler | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.precision not in TRAINING_PRECISIONS:
            raise OptionError(f"unknown precision {self.precision!r} (choose from {', '.join(TRAINING_PRECISIONS)})")
        reason = unsupported(self.precision, self.device)
        if reason is not None:
            raise OptionError(f"precision {self.precision} on {self.device.type}: {reason}")
        if self.precision == "fp16":
            self.scaler = torch.amp.GradScaler(self.device.type)

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def prepare(self, networks: Iterable[nn.Module]) -> None:
        """Normalisation in float32 (hooks only: state dicts are unchanged)."""
        if self.dtype is None:
            return
        for network in networks:
            for module in network.modules():
                if isinstance(module, nn.modules.batchnorm._NormBase):  # batch and instance norm
                    module.register_forward_pre_hook(_float32_input)
