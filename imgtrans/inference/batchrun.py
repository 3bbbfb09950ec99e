"""Translating many files: decode ahead on worker threads, batch pictures of
equal size, compute, and encode/write on worker threads, so the device is
not kept waiting on Pillow. Each input ends as one `Result`."""

from __future__ import annotations

import tempfile
import time
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from imgtrans.errors import ImgtransError
from imgtrans.io import imageio
from imgtrans.io.files import write_atomic
from imgtrans.io.inputs import Job, Result


@dataclass
class _Decoded:
    job: Job
    picture: imageio.Picture | None
    error: str | None
    ms: float


def _pixels(decoded: _Decoded) -> np.ndarray:
    """A batched picture's pixels: only pictures that decoded are batched."""
    assert decoded.picture is not None
    return decoded.picture.pixels


def resize_shorter_side(picture: imageio.Picture, size: int) -> imageio.Picture:
    """Bicubic resize so the shorter side is `size` (the reference's test-time load size)."""
    h, w = picture.pixels.shape[:2]
    scale = size / min(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    channels = picture.pixels.shape[2]
    image = Image.fromarray(picture.pixels[:, :, 0] if channels == 1 else picture.pixels)
    pixels = np.asarray(image.resize(new, Image.Resampling.BICUBIC))
    alpha = None
    if picture.alpha is not None:
        alpha = np.asarray(Image.fromarray(picture.alpha).resize(new, Image.Resampling.BICUBIC))
    return imageio.Picture(pixels.reshape(new[1], new[0], channels), alpha)


def decode_file(path: Path, *, channels: int, load_size: int | None, max_pixels: int | None = None) -> imageio.Picture:
    data = imageio.read_file(path)
    picture = imageio.decode(data, channels=channels, max_pixels=max_pixels)
    if load_size:
        h, w = picture.pixels.shape[:2]
        scaled = round(max(h, w) * load_size / min(h, w)) * load_size
        if scaled > (max_pixels or imageio.DEFAULT_MAX_PIXELS):
            raise imageio.ImageError(
                f"--load-size {load_size} would make it {scaled} pixels, over the limit (--max-pixels)"
            )
        picture = resize_shorter_side(picture, load_size)
    return picture


def translate_files(
    jobs: list[Job],
    translate: Callable[[list[np.ndarray]], list[np.ndarray]],
    *,
    batch_size: int,
    channels: int,
    load_size: int | None,
    max_pixels: int | None = None,
    ext: str,
    overwrite: bool,
    workers: int = 2,
    describe: Callable[[], dict] | None = None,
    leftovers: list[Result] | None = None,
) -> Generator[Result, None, None]:
    """Yield one Result per job, in input order. Consecutive pictures of the
    same size share a batch (up to `batch_size`). `describe()`, called after
    each batch, says how it ran (device, precision ...) for its Results.
    When the caller stops early (a signal), pictures not started are dropped,
    writes under way finish, and their Results go to `leftovers`."""

    def decode(job: Job) -> _Decoded:
        start = time.perf_counter()
        try:
            picture = decode_file(job.item.path, channels=channels, load_size=load_size, max_pixels=max_pixels)
            return _Decoded(job, picture, None, (time.perf_counter() - start) * 1e3)
        except imageio.ImageError as exc:
            return _Decoded(job, None, str(exc), (time.perf_counter() - start) * 1e3)

    def write(decoded: _Decoded, pixels: np.ndarray, compute_ms: float, ran: dict | None) -> Result:
        start = time.perf_counter()
        assert decoded.picture is not None  # only pictures that decoded are written
        try:
            write_atomic(decoded.job.output, imageio.encode(pixels, decoded.picture.alpha, ext), overwrite=overwrite)
        except FileExistsError:
            return Result(str(decoded.job.item.path), str(decoded.job.output), "skipped", 0.0, "output exists")
        except OSError as exc:
            return Result(
                str(decoded.job.item.path),
                None,
                "error",
                0.0,
                f"cannot write {decoded.job.output} ({exc.strerror or exc})",
            )
        ms = decoded.ms + compute_ms + (time.perf_counter() - start) * 1e3
        return Result(str(decoded.job.item.path), str(decoded.job.output), "ok", ms, ran=ran)

    pending: deque[Future | Result] = deque()
    decoders = ThreadPoolExecutor(workers, thread_name_prefix="imgtrans-decode")
    writers = ThreadPoolExecutor(workers, thread_name_prefix="imgtrans-write")
    try:
        window = max(2 * batch_size, 4)
        queue: deque[Future] = deque(decoders.submit(decode, job) for job in jobs[:window])
        next_job = len(queue)
        batch: list[_Decoded] = []

        def flush() -> None:
            if not batch:
                return
            start = time.perf_counter()
            try:
                outputs = translate([_pixels(d) for d in batch])
            except (RuntimeError, MemoryError, ImgtransError, OSError) as exc:  # out of memory, a full temp folder
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                if isinstance(exc, OSError):  # a large picture streams through files in the temporary folder
                    reason = f"cannot write to the temporary folder {tempfile.gettempdir()}: {exc.strerror or exc}"
                for d in batch:
                    pending.append(Result(str(d.job.item.path), None, "error", d.ms, f"translation failed ({reason})"))
                batch.clear()
                return
            per_image = (time.perf_counter() - start) * 1e3 / len(batch)
            ran = describe() if describe is not None else None
            for d, pixels in zip(batch, outputs):
                pending.append(writers.submit(write, d, pixels, per_image, ran))
            batch.clear()

        while queue:
            decoded = queue.popleft().result()
            if next_job < len(jobs):
                queue.append(decoders.submit(decode, jobs[next_job]))
                next_job += 1
            if decoded.picture is None:
                flush()
                pending.append(Result(str(decoded.job.item.path), None, "error", decoded.ms, decoded.error))
            else:
                shape = decoded.picture.pixels.shape
                if batch and (_pixels(batch[0]).shape != shape or len(batch) >= batch_size):
                    flush()
                batch.append(decoded)
            while pending and (isinstance(pending[0], Result) or pending[0].done()):
                head = pending.popleft()
                yield head if isinstance(head, Result) else head.result()
        flush()
        while pending:
            head = pending.popleft()
            yield head if isinstance(head, Result) else head.result()
    finally:
        decoders.shutdown(wait=True, cancel_futures=True)
        writers.shutdown(wait=True, cancel_futures=True)
        if leftovers is not None:
            leftovers += [item if isinstance(item, Result) else item.result() for item in pending
                          if isinstance(item, Result) or not item.cancelled()]
