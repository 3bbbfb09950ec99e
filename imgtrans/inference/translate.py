"""Running a translation generator on pictures (imports torch).

Test-time behaviour follows pix2pix and the reference's default test mode:
normalisation uses each image's own statistics (never mixed across a batch)
and dropout stays on as the noise source. Both are made per image so that a
batch gives exactly what the images give one by one. A picture whose
whole-image pass would not fit the memory budget runs streamed
(`imgtrans.streaming`), with the same result.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from torch import nn

from imgtrans.errors import OptionError
from imgtrans.inference.layers import (
    Float32InstanceNorm,
    FrameStatistics,
    PerImageBatchNorm,
    PerImageDropout,
    VideoStatistics,
    dropout_mask,
    swap_inference_layers,
)
from imgtrans.inference.memory import default_budget, read_peak, reset_peak
from imgtrans.inference.padding import padded_size, padding_for, reflect_index
from imgtrans.io.imageio import ImageError
from imgtrans.spec import Preprocess

if TYPE_CHECKING:  # the streaming package is imported when a picture streams
    from imgtrans.streaming import StreamPlan
# Whole-image estimates are multiplied by this: eager PyTorch holds a few
# temporaries (padded copies, activation outputs) beyond the maps themselves.
WHOLE_IMAGE_SLACK = 1.3


@dataclass(frozen=True)
class InferenceOptions:
    eval_mode: bool = False  # use stored running statistics, no dropout
    dropout: bool = True  # pix2pix's test-time noise
    seed: int | None = None  # reproducible dropout masks
    max_memory: int | None = None  # bytes for the picture and activations; None: chosen from free memory
    stream: bool | None = None  # force (True) or forbid (False) the streamed path; None: by budget
    precision: str = "fp32"  # fp32, tf32, bf16 or fp16 (checked by imgtrans.inference.precision)
    compile: bool = False  # torch.compile the whole-image pass (the streamed path stays eager)


def pad_reflect(x: torch.Tensor, multiple: int, minimum: int = 1) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad H and W up to `multiple` (and `minimum`), centred; returns
    (padded, (top, left))."""
    h, w = x.shape[-2:]
    (top, bottom), (left, right) = padding_for(h, multiple, minimum), padding_for(w, multiple, minimum)
    rows, cols = torch.from_numpy(reflect_index(h, top, bottom)), torch.from_numpy(reflect_index(w, left, right))
    return x.index_select(-2, rows.to(x.device)).index_select(-1, cols.to(x.device)), (top, left)


def image_seed(pixels: np.ndarray, seed: int) -> int:
    """A per-image seed from the user's seed and the pixels: the same photo gets
    the same noise wherever it sits in a batch or a folder."""
    digest = hashlib.sha256(seed.to_bytes(8, "little", signed=True) + pixels.tobytes()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


class Translator:
    """A loaded generator ready to translate batches of same-sized pictures.

    Not for concurrent use on its own: `imgtrans.inference.pipeline` serialises calls.
    """

    def __init__(self, generator: nn.Module, *, device: torch.device, pad_multiple: int, options: InferenceOptions,
                 preprocess: Preprocess = Preprocess(), min_side: int = 1, owned: bool = False):
        """`generator` is copied before its layers are swapped for inference
        ones, so the caller's network is never changed; `owned=True` (a
        network just built from a file, used nowhere else) skips the copy."""
        if not owned:
            generator = copy.deepcopy(generator)
        self.device = device = torch.device(device)
        self.pad_multiple = pad_multiple
        self.min_side = min_side
        self.options = options
        self.preprocess = preprocess
        self.seeds_now: list[int] = []  # the current batch's seeds, read by the dropout layers
        self.video = VideoStatistics()  # off unless a video turns it on
        if not options.eval_mode:
            swap_inference_layers(generator, dropout=options.dropout, seeds=self.seeds_now, video=self.video)
        self.generator = generator.to(device).eval()
        self._forward = self._compiled() if options.compile else self.generator
        self._rng = np.random.default_rng(options.seed)
        self.budget = (options.max_memory if options.max_memory is not None
                       else default_budget(device.type, device.index))
        self._bytes_per_pixel: float | None = None
        self.last_streamed = False
        self.last_peak = 0  # bytes: imgtrans.inference.memory.read_peak after the last run
        self.last_plan: StreamPlan | None = None  # the streamed plan of the last picture, for inspection

    def _compiled(self) -> nn.Module:
        """The generator under torch.compile: weights prepacked, padding,
        normalisation and activation fused (measured in
        benchmarks/compiled_inference.py). Refused with per-image
        dropout, whose seeds would make it recompile for every picture."""
        if any(isinstance(m, PerImageDropout) for m in self.generator.modules()):
            raise OptionError("compile: this model's test-time dropout draws new masks per picture, which would "
                              "recompile every time; turn dropout off (--no-dropout, or eval mode) to compile")
        # torch.compile returns a module (OptimizedModule) for a module; its annotation says any callable
        return cast(nn.Module, torch.compile(self.generator))

    def _call_generator(self, x: torch.Tensor) -> torch.Tensor:
        try:
            return self._forward(x)
        except Exception as exc:
            # torch.compile needs a working C++ compiler (CPU) or Triton (CUDA): say so in one line.
            if not (self.options.compile and type(exc).__module__.startswith(("torch._dynamo", "torch._inductor"))):
                raise
            reason = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise OptionError(f"compile failed ({reason[:200]}): run without compile") from None

    def seeds(self, batch: list[np.ndarray]) -> list[int]:
        if self.options.seed is None:
            return [int(s) for s in self._rng.integers(0, 2**63 - 1, size=len(batch))]
        return [image_seed(p, self.options.seed) for p in batch]

    def whole_image_bytes(self, height: int, width: int, channels: int) -> int:
        """Estimated peak bytes of one whole-image pass at this (unpadded) size."""
        from imgtrans.streaming import Unstreamable, whole_image_bytes

        if self._bytes_per_pixel is None:
            side = max(self.pad_multiple, 256 // self.pad_multiple * self.pad_multiple)
            try:
                output = self._graph(torch.zeros(channels, side, side, dtype=torch.uint8), seed=0)
                self._bytes_per_pixel = whole_image_bytes(output) / side**2
            except Unstreamable:
                self._bytes_per_pixel = 0.0
        padded = (padded_size(height, self.pad_multiple, self.min_side)
                  * padded_size(width, self.pad_multiple, self.min_side))
        return int(self._bytes_per_pixel * padded * WHOLE_IMAGE_SLACK)

    def _graph(self, pixels: torch.Tensor, *, seed: int):
        from imgtrans.streaming.graph import build

        source = self._source(pixels)
        return build(self.generator, source, per_image_norm=PerImageBatchNorm, per_image_dropout=PerImageDropout,
                     make_mask=lambda layer, shape: dropout_mask(seed, layer.layer, layer.p, shape))

    def _source(self, pixels: torch.Tensor):
        from imgtrans.streaming.graph import Input

        h, w = pixels.shape[-2:]
        rows = torch.from_numpy(reflect_index(h, *padding_for(h, self.pad_multiple, self.min_side)))
        cols = torch.from_numpy(reflect_index(w, *padding_for(w, self.pad_multiple, self.min_side)))
        return Input(pixels, rows, cols, self.preprocess, self.device)

    def should_stream(self, batch: torch.Tensor) -> bool:
        if self.options.stream is not None:
            return self.options.stream
        n, c, h, w = batch.shape
        return self.whole_image_bytes(h, w, c) > self.budget

    def autocast(self):
        from imgtrans.inference.precision import arithmetic

        return arithmetic(self.device, self.options.precision or "fp32")

    @property
    def normalises_per_image(self) -> bool:
        """Whether normalisation uses each image's own statistics (what a video shares)."""
        return any(isinstance(m, (PerImageBatchNorm, Float32InstanceNorm)) and m.video is not None
                   and not getattr(m, "track_running_stats", False) for m in self.generator.modules())

    @torch.inference_mode()
    def run(self, batch: torch.Tensor, seeds: list[int], *, to_uint8: bool,
            record: list[FrameStatistics] | None = None, impose: list[FrameStatistics] | None = None,
            progress: Callable[[float], None] | None = None) -> torch.Tensor:
        """N x C x H x W pixels (uint8, or float in [0, 1]) -> the translation at
        the same size, as uint8 or float in [0, 1], on the CPU. For video,
        `record` (one empty dict per image) receives each image's own
        normalisation statistics; `impose` gives the statistics to use instead.
        `progress(fraction)` hears how far the batch is (after each strip of a
        streamed picture, each group of whole ones); raising in it stops the work."""
        n, _, h, w = batch.shape
        if n == 0 or h == 0 or w == 0:  # (the reflection padding's index arithmetic would never end)
            raise ImageError(f"empty picture or batch ({n} x {h} x {w})")
        if batch.is_floating_point() and not torch.isfinite(batch).all():
            raise ImageError("the picture holds NaN or infinite values")
        reset_peak(self.device)
        self.video.engage(record=record, impose=impose)
        try:
            return self._run(batch, seeds, to_uint8=to_uint8, progress=progress or (lambda fraction: None))
        finally:
            self.video.release()
            self.last_peak = read_peak(self.device)

    def _run(self, batch: torch.Tensor, seeds: list[int], *, to_uint8: bool,
             progress: Callable[[float], None]) -> torch.Tensor:
        n, c, h, w = batch.shape
        pre = self.preprocess
        if self.should_stream(batch):
            self.last_streamed = True
            outputs = []
            for i in range(n):
                self.video.select(i, i + 1)

                def of_batch(fraction: float, i: int = i) -> None:
                    progress((i + fraction) / n)

                outputs.append(self._run_streamed(batch[i], seeds[i], to_uint8=to_uint8, progress=of_batch))
            return torch.cat(outputs)
        self.last_streamed = False
        per_image = max(1, self.whole_image_bytes(h, w, c))
        group = max(1, min(n, self.budget // per_image))
        outputs = []
        for start in range(0, n, group):
            part = batch[start : start + group].to(self.device)
            x = part.float() / 255.0 if part.dtype == torch.uint8 else part.float()
            x, (top, left) = pad_reflect(pre.normalise(x), self.pad_multiple, self.min_side)
            self.seeds_now[:] = seeds[start : start + group]
            self.video.select(start, start + group)
            with self.autocast():
                y = self._call_generator(x)[..., top : top + h, left : left + w]
            outputs.append(self._finish(y, to_uint8))
            progress((start + len(part)) / n)
        return torch.cat(outputs)

    def _finish(self, y: torch.Tensor, to_uint8: bool) -> torch.Tensor:
        y = self.preprocess.denormalise(y.float()).clamp(0, 1)
        return (y * 255.0).round().to(torch.uint8).cpu() if to_uint8 else y.cpu()

    def _run_streamed(self, pixels: torch.Tensor, seed: int, *, to_uint8: bool,
                      progress: Callable[[float], None]) -> torch.Tensor:
        from imgtrans.streaming import plan_stream

        c, h, w = pixels.shape
        source = self._source(pixels)
        top = padding_for(h, self.pad_multiple, self.min_side)[0]
        left = padding_for(w, self.pad_multiple, self.min_side)[0]
        fixed = h * w * c * (1 if pixels.dtype == torch.uint8 else 4)  # the output picture
        plan = plan_stream(
            self.generator, source, rows=(top, top + h), budget=max(self.budget - fixed, 1 << 12),
            per_image_norm=PerImageBatchNorm, per_image_dropout=PerImageDropout,
            make_mask=lambda layer, shape: dropout_mask(seed, layer.layer, layer.p, shape),
            adjust_stats=self._video_stats if self.video.active else None,
        )
        out: torch.Tensor | None = None

        def sink(a: int, rows: torch.Tensor) -> None:
            nonlocal out
            strip = self._finish(rows[..., left : left + w], to_uint8)
            if out is None:
                out = torch.empty((1, strip.shape[1], h, w), dtype=strip.dtype)
            out[:, :, a - top : a - top + strip.shape[2]] = strip

        with self.autocast():
            plan.run(sink, progress)
        self.last_plan = plan
        if out is None:
            raise RuntimeError(f"the streamed plan wrote no rows of a {h}x{w} picture")
        return out

    def _video_stats(self, layer: PerImageBatchNorm | Float32InstanceNorm, stats):
        """The streamed path's whole-picture statistics, recorded or replaced for video."""
        from imgtrans.streaming.graph import Stats

        imposed = self.video.imposed(layer.number, stats.mean[None])
        if imposed is None:
            self.video.keep(layer.number, stats.mean[None], stats.var[None])
            return stats
        return Stats(imposed[0][0], imposed[1][0])

    def __call__(self, batch: list[np.ndarray], progress: Callable[[float], None] | None = None) -> list[np.ndarray]:
        """HxWxC uint8 arrays (all the same size) -> translated uint8 arrays."""
        x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)
        y = self.run(x, self.seeds(batch), to_uint8=True, progress=progress)
        return list(y.permute(0, 2, 3, 1).numpy())
