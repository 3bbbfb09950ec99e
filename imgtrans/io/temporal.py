"""Normalisation statistics shared across the frames of a video.

Per-frame statistics make the output's tone jump whenever the content moves.
One set for a whole shot holds it still but drifts from what each frame alone
gives as the shot changes. The middle way, measured in
benchmarks/video_flicker.py: each frame uses a Gaussian-weighted average of
the statistics of the frames of its shot around it. A centred window follows
a gradual change (a brightness ramp) without lag, and its weights change
smoothly from frame to frame; a causal moving average's do not (the newest
frame always weighs the same, so its own fluctuation comes straight through;
both measured in docs/benchmarks.md).
Statistics are taken from every `stride`-th frame of a shot and are never
averaged across a scene cut.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI reads DEFAULT_WINDOW without loading torch
    from imgtrans.inference.layers import FrameStatistics

DEFAULT_WINDOW = 0.5  # seconds: the Gaussian's standard deviation
# The first pass records every stride-th frame, half a standard deviation
# apart: at the default window (stride 6 at 24 frames/s) measured no different
# from every frame (docs/benchmarks.md). MAX_STRIDE is a cap chosen, not
# measured, so that a wide window still samples a shot at least every 8 frames.
MAX_STRIDE = 8
REACH = 3.0  # standard deviations; farther frames weigh under 1.2% of the nearest and are left out


class ShotWindow:
    """Sampled frames' statistics and their Gaussian-weighted averages, within shots.

    Frames are numbered from 0; a shot is named by its first frame. Samples
    are added as the first pass reaches them and forgotten once no frame
    still to be translated can reach them, so memory stays bounded however
    long the video.
    """

    def __init__(self, sigma_frames: float, stride: int | None = None):
        self.sigma = max(sigma_frames, 1e-3)
        self.stride = stride or max(1, min(MAX_STRIDE, round(self.sigma / 2)))
        self.reach = math.ceil(REACH * self.sigma)
        self._samples: dict[int, tuple[int, FrameStatistics]] = {}  # frame -> (shot, its statistics)

    def sampled(self, frame: int, shot: int) -> bool:
        """Whether the first pass records this frame (a shot's first frame always)."""
        return (frame - shot) % self.stride == 0

    def add(self, frame: int, shot: int, statistics: FrameStatistics) -> None:
        self._samples[frame] = (shot, statistics)

    def at(self, frame: int, shot: int) -> FrameStatistics:
        """The statistics for `frame`: its shot's samples within reach, weighted."""
        import torch

        near = [(f, stats) for f, (s, stats) in self._samples.items() if s == shot and abs(f - frame) <= self.reach]
        if not near:
            raise LookupError(f"no statistics recorded near frame {frame}")
        weights = torch.tensor([math.exp(-0.5 * ((f - frame) / self.sigma) ** 2) for f, _ in near], dtype=torch.float64)
        weights /= weights.sum()

        def blend(layer: int, k: int) -> torch.Tensor:
            return weights @ torch.stack([stats[layer][k] for _, stats in near])

        return {layer: (blend(layer, 0), blend(layer, 1)) for layer in near[0][1]}

    def forget(self, before: int) -> None:
        """Drop samples that no frame from `before` on can reach."""
        for frame in [f for f in self._samples if f < before - self.reach]:
            del self._samples[frame]
