"""Comparisons of 8-bit images, shared by the benchmarks."""

from __future__ import annotations

import math

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two 8-bit images of one shape, infinite when identical.

    On the saved 8-bit pixels users see, where `imgtrans.evaluation.metrics.psnr`
    takes [0, 1] float tensors and caps at 100 dB (a training metric)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
