"""The layers inference swaps into a generator (imports torch).

Normalisation uses each picture's own statistics in float32, never mixed
across a batch (batch norm as pix2pix tests it, instance norm under any
precision), or statistics a video records and shares across frames; dropout
draws its masks from each picture's seed, so a batch gives exactly what the
pictures give one by one. `imgtrans.inference.translate` runs the forward pass with them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from imgtrans.errors import OptionError

# A frame's normalisation statistics: layer number -> (mean, mean of squares)
# per channel, float64 on the CPU. Means of squares average linearly across
# frames, so a weighted mean of these is the statistics of the weighted frames.
FrameStatistics = dict[int, tuple[torch.Tensor, torch.Tensor]]


class VideoStatistics:
    """What a video does to the normalisation layers, one call at a time:
    `record` each image's own statistics (into one FrameStatistics per image),
    or `impose` given ones instead of the image's own. Neither (pictures):
    every image uses its own statistics, untouched."""

    def __init__(self):
        self.engage()

    @property
    def active(self) -> bool:
        return self.record is not None or self.impose is not None

    def engage(self, *, record: list[FrameStatistics] | None = None, impose: list[FrameStatistics] | None = None):
        """For one call's images (None, None: off)."""
        self._call = (record, impose)
        self.record, self.impose = record, impose

    def select(self, start: int, stop: int) -> None:
        """Narrow to images start..stop of the call (a group, or one streamed image)."""
        record, impose = self._call
        self.record = None if record is None else record[start:stop]
        self.impose = None if impose is None else impose[start:stop]

    def release(self) -> None:
        self.engage()

    def imposed(self, layer: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The [N, C] mean and variance imposed on norm layer `layer` (as
        `like`'s dtype and device), or None: the images' own are used."""
        if self.impose is None:
            return None
        if any(layer not in frame for frame in self.impose):
            raise OptionError(f"the statistics given lack norm layer {layer}: take them from this model's "
                              "frame_statistics")
        mean64 = torch.stack([frame[layer][0] for frame in self.impose])
        square64 = torch.stack([frame[layer][1] for frame in self.impose])
        return mean64.to(like), (square64 - mean64**2).clamp_min(0).to(like)

    def keep(self, layer: int, mean: torch.Tensor, var: torch.Tensor) -> None:
        """Record the images' own [N, C] mean and variance of norm layer `layer`, when recording."""
        if self.record is not None:
            for frame, m, v in zip(self.record, mean.double().cpu(), var.double().cpu()):
                frame[layer] = (m, v + m**2)


def _instance_norm(x: torch.Tensor, weight, bias, eps: float, layer: int, video: VideoStatistics | None):
    """Instance norm in float32; a video may record or impose the statistics.
    Given statistics go through batch norm's fused inference kernel, each
    image's channels as channels of one image."""
    x = x.float()
    if video is None or not video.active:
        return F.instance_norm(x, weight=weight, bias=bias, eps=eps)
    imposed = video.imposed(layer, x)
    if imposed is None:
        var, mean = torch.var_mean(x, dim=(2, 3), correction=0)
        video.keep(layer, mean, var)
    else:
        mean, var = imposed
    n, c = x.shape[:2]
    weight, bias = (None, None) if weight is None else (weight.float().repeat(n), bias.float().repeat(n))
    y = F.batch_norm(x.reshape(1, n * c, *x.shape[2:]), mean.reshape(-1), var.reshape(-1), weight, bias,
                     training=False, eps=eps)
    return y.reshape(x.shape)


class PerImageBatchNorm(nn.Module):
    """Batch norm computed over one image at a time, with the trained affine.

    With batch size 1 this is exactly the reference's train-mode batch norm;
    with larger batches it keeps images independent.
    """

    def __init__(self, bn: nn.BatchNorm2d, number: int = 0, video: VideoStatistics | None = None):
        super().__init__()
        self.weight, self.bias, self.eps = bn.weight, bn.bias, bn.eps
        self.number, self.video = number, video

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):  # statistics in float32
            return _instance_norm(x, self.weight, self.bias, self.eps, self.number, self.video)


class Float32InstanceNorm(nn.InstanceNorm2d):
    """Instance norm whose statistics are computed in float32 under autocast
    (autocast does not keep normalisation in float32 by itself)."""

    number: int = 0  # position among the network's norm layers: the key of its statistics
    video: VideoStatistics | None = None

    @classmethod
    def replacing(cls, norm: nn.InstanceNorm2d, number: int = 0,
                  video: VideoStatistics | None = None) -> Float32InstanceNorm:
        # torch annotates InstanceNorm's momentum float, but passes it on to _NormBase, which takes None too
        new = cls(norm.num_features, eps=norm.eps, affine=norm.affine, track_running_stats=norm.track_running_stats,
                  momentum=norm.momentum)  # type: ignore[arg-type]
        new.load_state_dict(norm.state_dict())
        new.number, new.video = number, video
        return new.to(norm.weight.device if norm.weight is not None else "cpu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            if self.track_running_stats:
                return super().forward(x.float())
            return _instance_norm(x, self.weight, self.bias, self.eps, self.number, self.video)


def dropout_mask(seed: int, layer: int, p: float, shape) -> torch.Tensor:
    """The scaled keep-mask of dropout layer `layer` for the image seeded `seed`.

    Keyed by layer, not drawn in execution order, so the streamed path (which
    visits layers in another order) draws the same mask. Made on the CPU so a
    seed gives the same noise on every device.
    """
    generator = torch.Generator().manual_seed((seed * 1_000_003 + layer) & 0x7FFF_FFFF_FFFF_FFFF)
    return (torch.rand(tuple(shape), generator=generator) >= p).float() / (1.0 - p)


class PerImageDropout(nn.Module):
    """Dropout whose mask for each image comes from that image's seed."""

    def __init__(self, p: float, layer: int, seeds: list[int]):
        super().__init__()
        self.p, self.layer, self.seeds = p, layer, seeds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        masks = [dropout_mask(seed, self.layer, self.p, x.shape[1:]) for seed in self.seeds]
        return x * torch.stack(masks).to(x)


def swap_inference_layers(module: nn.Module, *, dropout: bool, seeds: list[int], video: VideoStatistics) -> None:
    """Replace, in place, every batch and plain instance norm with its
    per-picture float32 form and every dropout with per-picture masks (or
    nothing, without `dropout`), numbering the layers in module order."""
    _swap(module, dropout, seeds, {"norm": 0, "dropout": 0}, video)


def _swap(module: nn.Module, dropout: bool, seeds: list[int], counter: dict[str, int], video: VideoStatistics) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d) or type(child) is nn.InstanceNorm2d:
            counter["norm"] += 1
            norm = (PerImageBatchNorm(child, counter["norm"], video) if isinstance(child, nn.BatchNorm2d)
                    else Float32InstanceNorm.replacing(child, counter["norm"], video))
            setattr(module, name, norm)
        elif isinstance(child, nn.Dropout):
            counter["dropout"] += 1
            setattr(module, name, PerImageDropout(child.p, counter["dropout"], seeds) if dropout else nn.Identity())
        else:
            _swap(child, dropout, seeds, counter, video)
