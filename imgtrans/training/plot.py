"""A loss-curve picture drawn with Pillow (no plotting library needed)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127)]
SKIP = {"step", "epoch", "time", "lr"}


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def loss_curves(records: list[dict], size: tuple[int, int] = (800, 400)) -> np.ndarray:
    """One line per loss (moving average), shared axes, legend with last values."""
    width, height = size
    left, right, top, bottom = 60, 170, 20, 30
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    names = [k for k in records[0] if k not in SKIP]
    steps = np.array([r["step"] for r in records], dtype=float)
    window = max(1, len(records) // 100)
    series = {n: smooth(np.array([r.get(n, np.nan) for r in records], dtype=float), window) for n in names}
    finite = np.concatenate([s[np.isfinite(s)] for s in series.values()] or [np.zeros(1)])
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1.0
    x0, x1 = steps[0], max(steps[-1], steps[0] + 1)
    draw.rectangle([left, top, width - right, height - bottom], outline=(0, 0, 0))
    for value in (lo, (lo + hi) / 2, hi):
        y = height - bottom - (value - lo) / (hi - lo) * (height - top - bottom)
        draw.text((4, y - 6), f"{value:.3g}", fill=(0, 0, 0))
    draw.text((left, height - bottom + 8), f"step {int(x0)}", fill=(0, 0, 0))
    draw.text((width - right - 70, height - bottom + 8), f"step {int(steps[-1])}", fill=(0, 0, 0))
    for index, name in enumerate(names):
        values = series[name]
        xs = steps[len(steps) - len(values):]
        points = [
            (left + (x - x0) / (x1 - x0) * (width - right - left),
             height - bottom - (v - lo) / (hi - lo) * (height - top - bottom))
            for x, v in zip(xs, values)
            if np.isfinite(v)
        ]
        colour = COLOURS[index % len(COLOURS)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        draw.text((width - right + 10, top + 16 * index), f"{name} {values[-1]:.3f}", fill=colour)
    return np.asarray(image)
