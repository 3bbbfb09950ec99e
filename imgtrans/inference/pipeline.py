"""Loaded models, as the library hands them out (imports torch).

`TranslationModel` is callable on a PIL image, a numpy uint8 array or a
torch float tensor and gives back the same type at the same size (alpha
kept); `translate()` runs an iterable in batches. `ConditionalModel.sample()`
draws labelled images. One lock per model serialises calls from several
threads (torch already uses every core inside one call), so concurrent calls
give exactly what sequential calls give.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from imgtrans.checkpoints.loading import LoadedModel
from imgtrans.errors import ModelKindError, OptionError, check_seed
from imgtrans.inference.layers import FrameStatistics
from imgtrans.inference.translate import InferenceOptions, Translator
from imgtrans.io import imageio
from imgtrans.io.imageio import ImageError
from imgtrans.io.temporal import DEFAULT_WINDOW
from imgtrans.spec import Preprocess, ScaleSensitivity

MAX_SAMPLES = 65536  # images in one sample() call

# ITU-R 601-2 luma, as Pillow's RGB -> L conversion.
_LUMA = torch.tensor([0.299, 0.587, 0.114])


class _Model:
    def __init__(self, name: str, loaded: LoadedModel, device: torch.device):
        self.name = name
        self.family = loaded.family.name
        self.config = loaded.config
        self.info = loaded.info
        self.device = device
        self._loaded = loaded
        self._lock = threading.Lock()

    @property
    def generator(self) -> torch.nn.Module:
        """The network (with imgtrans's test-time layers swapped in)."""
        return self._loaded.generator

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} ({self.family}) on {self.device}>"


@dataclass(frozen=True)
class RunInfo:
    """What the last translation ran on: the device it actually used (`auto`
    falling back to the CPU shows here), the arithmetic, whether it streamed,
    and peak memory (CUDA: bytes allocated on the card during the call;
    elsewhere the process's peak resident memory)."""

    device: str
    precision: str
    streamed: bool
    peak_memory: int

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device, "precision": self.precision, "streamed": self.streamed,
                "peak_memory": self.peak_memory}


class TranslationModel(_Model):
    """An image-to-image generator: `model(image)` -> translated image."""

    def __init__(self, name: str, loaded: LoadedModel, *, device: torch.device, options: InferenceOptions,
                 preprocess: Preprocess, scale: ScaleSensitivity | None = None):
        super().__init__(name, loaded, device)
        self.scale = scale
        family, config = loaded.family, loaded.config
        self.direction = loaded.info.direction
        self.preprocess = preprocess
        self.precision = options.precision
        self.pad_multiple = family.pad_multiple(config)
        self.min_side = family.min_side(config)
        self.channels = getattr(config, "input_nc", preprocess.channels)
        self.output_channels = getattr(config, "output_nc", self.channels)
        self._translator = Translator(loaded.generator, device=device, pad_multiple=self.pad_multiple,
                                      options=options, preprocess=preprocess, min_side=self.min_side, owned=True)

    @property
    def streamed_last(self) -> bool:
        """Whether the last picture ran on the streamed (bounded-memory) path."""
        return self._translator.last_streamed

    @property
    def last_run(self) -> RunInfo:
        translator = self._translator
        return RunInfo(str(self.device), self.precision, translator.last_streamed, translator.last_peak)

    @property
    def normalises_per_image(self) -> bool:
        """Whether normalisation uses each picture's own statistics (so a video
        shares them across frames); False in eval mode."""
        return self._translator.normalises_per_image

    def scale_note(self, height: int, width: int) -> str | None:
        """One line for a picture far from the size this model was trained at,
        where that was measured to matter (small models trained on one size)."""
        if self.scale is None or not self.scale.far(height, width):
            return None
        side = self.scale.trained_side
        return (f"{self.name} was trained at {side}x{side}; this {width}x{height} picture is far from it "
                f"({self.scale.figures}); --load-size {side} resizes pictures first")

    def translate_arrays(self, batch: list[np.ndarray], *,
                         progress: Callable[[float], None] | None = None) -> list[np.ndarray]:
        """HxWxC uint8 arrays of one size with the model's input channels ->
        HxWxC' uint8 translations. The core the other entry points use.
        `progress(fraction)` hears how far the batch is, after each strip of a
        streamed picture: for progress bars, and to stop the work by raising."""
        with self._lock:
            return self._translator(batch, progress)

    def _run_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x H x W float in [0, 1] (model channels) -> float output in [0, 1]."""
        quantised = [(img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy() for img in x.cpu()]
        with self._lock:
            seeds = self._translator.seeds(quantised)
            return self._translator.run(x.cpu().float(), seeds, to_uint8=False)

    def __call__(self, image: Any) -> Any:
        """Translate one picture: PIL.Image, numpy uint8 (HxW or HxWxC), or a
        torch float tensor in [0, 1] (CxHxW or NxCxHxW). Same type and size out."""
        if isinstance(image, Image.Image):
            picture = imageio.from_pil(image, channels=self.channels)
            [pixels] = self.translate_arrays([picture.pixels])
            return imageio.to_pil(pixels, picture.alpha)
        if isinstance(image, np.ndarray):
            pixels, alpha, flat = _split_array(image, self.channels)
            [out] = self.translate_arrays([pixels])
            if alpha is not None:
                out = np.concatenate([out, alpha[:, :, None]], axis=2)
            return out[:, :, 0] if flat and out.shape[2] == 1 else out
        if isinstance(image, torch.Tensor):
            return self._call_tensor(image)
        raise ImageError(
            f"cannot translate a {type(image).__name__}: pass a PIL image, a numpy uint8 array or a torch tensor"
        )

    def _call_tensor(self, image: torch.Tensor) -> torch.Tensor:
        if image.dim() not in (3, 4) or not image.is_floating_point():
            raise ImageError(
                "a tensor image must be float C x H x W or N x C x H x W in [0, 1], "
                f"not {image.dtype} {tuple(image.shape)}"
            )
        batch = image if image.dim() == 4 else image[None]
        c = batch.shape[1]
        if c not in (1, 2, 3, 4):
            raise ImageError(f"a tensor image needs 1-4 channels (gray, gray+alpha, RGB, RGBA), not {c}")
        alpha = batch[:, c - 1 :] if c in (2, 4) and c != self.channels else None
        colour = batch[:, : c - 1] if alpha is not None else batch
        out = self._run_tensor(_tensor_channels(colour.float(), self.channels))
        out = out.to(device=image.device, dtype=image.dtype)
        if alpha is not None:
            out = torch.cat([out, alpha], 1)
        return out if image.dim() == 4 else out[0]

    def to_onnx(self, path, *, opset: int | None = None, overwrite: bool = False):
        """Write the bare generator as ONNX: float32 N x C x H x W in [0, 1] in
        (H, W multiples of `pad_multiple`), the translation in [0, 1] out."""
        from imgtrans.inference.onnx_export import DEFAULT_OPSET, export

        return export(self, path, opset=opset or DEFAULT_OPSET, overwrite=overwrite)

    def frame_statistics(self, frames: list[np.ndarray]) -> list[FrameStatistics]:
        """Each video frame's own normalisation statistics (HxWx3 uint8 frames of
        one size), as `translate_frames` takes them: average several frames'
        to share statistics across them. Empty dicts for a model whose
        normalisation does not depend on the picture (eval mode)."""
        frames = _check_frames(frames)
        records: list[FrameStatistics] = [{} for _ in frames]
        self._run_frames(frames, record=records)
        return records

    def translate_frames(self, frames: list[np.ndarray], *,
                         statistics: list[FrameStatistics] | None = None) -> list[np.ndarray]:
        """Consecutive video frames (HxWx3 uint8, one size) -> translated HxWx3 frames.

        `statistics` (one per frame, from `frame_statistics` or averages of
        them) replace the frames' own normalisation statistics; None:
        each frame normalised on its own. The whole clip uses one dropout
        seed (the model's, else 0), so pix2pix's noise stays put.
        """
        frames = _check_frames(frames)
        if statistics is not None:
            if not isinstance(statistics, (list, tuple)) or not all(isinstance(s, dict) for s in statistics):
                raise OptionError("statistics must be a list of dicts, one per frame (from frame_statistics), or None")
            if len(statistics) != len(frames):
                raise OptionError(f"statistics for {len(statistics)} frames given with {len(frames)} frames")
        return self._run_frames(frames, impose=statistics)

    def _run_frames(self, frames: list[np.ndarray], **video) -> list[np.ndarray]:
        pixels = [_split_array(frame, self.channels)[0] for frame in frames]
        x = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2)
        seed = self._translator.options.seed or 0
        with self._lock:
            out = self._translator.run(x, [seed] * len(frames), to_uint8=True, **video)
        return [np.repeat(f, 3, axis=2) if f.shape[2] == 1 else f for f in out.permute(0, 2, 3, 1).numpy()]

    def translate_video(self, source, destination, *, ext: str | None = None, crf: int = 18,
                        stats_window: float | None = DEFAULT_WINDOW, batch_size: int = 4, overwrite: bool = False,
                        max_pixels: int | None = None):
        """Translate a video file (mp4, mov, mkv, webm, avi, animated gif) into
        `destination`: same frame count, rate and size, audio kept.

        Each frame is normalised with a Gaussian-weighted average of the
        statistics of the frames of its shot around it, `stats_window`
        seconds wide (the Gaussian's standard deviation), so the output does not
        flicker; averages never cross a scene cut. None: each frame normalised
        on its own (the reference's way). Videos whose frames have more than
        `max_pixels` (default: about 89 million, as for pictures) are refused.
        Returns a `VideoResult`."""
        from imgtrans.io.video import translate_video

        return translate_video(self, source, destination, ext=ext, crf=crf, stats_window=stats_window,
                               batch_size=batch_size, overwrite=overwrite, max_pixels=max_pixels)

    def translate(self, images: Iterable[Any], *, batch_size: int = 1) -> Iterator[Any]:
        """Translate many pictures in order; consecutive numpy/PIL pictures of
        one size share a batch of up to `batch_size`."""
        if batch_size < 1:
            raise OptionError("batch_size must be at least 1")
        pending: list[tuple[Any, np.ndarray, Any]] = []

        def flush():
            outputs = self.translate_arrays([p for _, p, _ in pending]) if pending else []
            for (original, _, extra), out in zip(pending, outputs):
                yield _restore(original, out, extra)
            pending.clear()

        for image in images:
            if isinstance(image, torch.Tensor):
                yield from flush()
                yield self(image)
                continue
            extra: np.ndarray | tuple[np.ndarray | None, bool] | None  # PIL: its alpha; numpy: (alpha, was it HxW)
            if isinstance(image, Image.Image):
                picture = imageio.from_pil(image, channels=self.channels)
                pixels, extra = picture.pixels, picture.alpha
            elif isinstance(image, np.ndarray):
                pixels, alpha, flat = _split_array(image, self.channels)
                extra = (alpha, flat)
            else:
                raise ImageError(f"cannot translate a {type(image).__name__}")
            if pending and (pending[0][1].shape != pixels.shape or len(pending) >= batch_size):
                yield from flush()
            pending.append((image, pixels, extra))
        yield from flush()


def _check_frames(frames: Any) -> list[np.ndarray]:
    """Video frames as `translate_frames` takes them: a non-empty list of numpy
    arrays of one size (a single array would be taken row by row)."""
    if isinstance(frames, np.ndarray) or not isinstance(frames, (list, tuple)):
        raise ImageError(f"frames must be a list of H x W x C uint8 arrays, not a {type(frames).__name__}"
                         + (" (wrap one frame in a list)" if isinstance(frames, np.ndarray) else ""))
    if not frames:
        raise ImageError("no frames given (an empty list)")
    for index, frame in enumerate(frames):
        if not isinstance(frame, np.ndarray):
            raise ImageError(f"frame {index} is a {type(frame).__name__}, not a numpy uint8 array")
        if frame.shape[:2] != frames[0].shape[:2] or frame.ndim != frames[0].ndim:
            raise ImageError(f"frame {index} is {frame.shape}, frame 0 {frames[0].shape}: one call takes frames of "
                             "one size")
    return list(frames)


def _restore(original: Any, out: np.ndarray, extra) -> Any:
    if isinstance(original, Image.Image):
        return imageio.to_pil(out, extra)
    alpha, flat = extra
    if alpha is not None:
        out = np.concatenate([out, alpha[:, :, None]], axis=2)
    return out[:, :, 0] if flat and out.shape[2] == 1 else out


def _split_array(image: np.ndarray, channels: int) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """(pixels with the model's channels, alpha or None, was it HxW)."""
    if image.dtype != np.uint8:
        raise ImageError(f"a numpy image must be uint8, not {image.dtype} (scale floats to 0-255 first)")
    if image.ndim == 2:
        image, flat = image[:, :, None], True
    elif image.ndim == 3 and image.shape[2] in (1, 2, 3, 4):
        flat = False
    else:
        raise ImageError(f"a numpy image must be H x W or H x W x C with C in 1-4, not {image.shape}")
    if min(image.shape[:2]) < 1:
        raise ImageError(f"empty image {image.shape}")
    c = image.shape[2]
    if c == channels:  # what the model takes (a 2- or 4-channel model's alpha is data)
        return np.ascontiguousarray(image), None, flat
    alpha = np.ascontiguousarray(image[:, :, c - 1]) if c in (2, 4) else None
    colour = image[:, :, : c - 1] if alpha is not None else image
    mode = "L" if colour.shape[2] == 1 else "RGB"
    pil = Image.fromarray(colour[:, :, 0] if mode == "L" else np.ascontiguousarray(colour), mode)
    return imageio.from_pil(pil, channels=channels).pixels, alpha, flat


def _tensor_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    if x.shape[1] == channels:
        return x
    if channels in (2, 4):
        raise ImageError(f"this model takes {channels} channels, not {x.shape[1]}")
    if channels == 1:
        return (x * _LUMA.to(x).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return x.expand(-1, 3, -1, -1)


class ConditionalModel(_Model):
    """A class-conditional generator: `sample(labels, n, seed)` -> PIL images."""

    def __init__(self, name: str, loaded: LoadedModel, *, device: torch.device, labels: tuple[str, ...]):
        super().__init__(name, loaded, device)
        self.labels = labels
        self.num_classes = loaded.config.num_classes

    def label_indices(self, requested: Iterable[str | int] | None) -> list[int]:
        """Labels by index (7, "7") or name ("sneaker", any case); None: all."""
        if requested is None:
            return list(range(self.num_classes))
        lowered = [n.lower() for n in self.labels]
        indices = []
        for label in requested:
            text = str(label)
            if text.isdigit() and int(text) < self.num_classes:
                indices.append(int(text))
            elif text.lower() in lowered:
                indices.append(lowered.index(text.lower()))
            else:
                known = ", ".join(self.labels) if self.labels else f"0..{self.num_classes - 1}"
                raise OptionError(f"unknown label {text!r} (known: {known})")
        return indices

    def sample_array(
        self,
        labels: Iterable[str | int] | None = None,
        *,
        n: int = 8,
        seed: int | None = None,
    ) -> np.ndarray:
        """uint8 [len(labels), n, H, W, C]; the same seed gives the same pixels."""
        from imgtrans.inference.sampling import generate

        indices = self.label_indices(labels)
        if not 1 <= n or n * len(indices) > MAX_SAMPLES:
            raise OptionError(
                f"n must be between 1 and {MAX_SAMPLES // max(len(indices), 1)} for {len(indices)} label(s)"
            )
        check_seed(seed)
        with self._lock:
            return generate(self.generator, indices, n, seed=seed, device=self.device)

    def sample(
        self,
        labels: Iterable[str | int] | None = None,
        *,
        n: int = 8,
        seed: int | None = None,
    ) -> list[Image.Image]:
        """n PIL images per label, label after label."""
        images = self.sample_array(labels, n=n, seed=seed)
        return [imageio.to_pil(img) for row in images for img in row]

    def __call__(self, *args, **kwargs):
        raise ModelKindError(f"{self.name!r} generates images from labels: use model.sample(labels, n=..., seed=...)")
