"""Video in, video out (PyAV, which ships FFmpeg in its wheel; imports torch).

Frames are decoded and encoded on worker threads while the model computes;
frames of one size are batched. Audio streams are copied packet for packet.
Normalisation statistics are shared across frames so the output's colour and
tone do not flicker: a first pass (`_FirstPass`), a second decoder running a
window ahead of the translation, finds the scene cuts and records the
statistics of sampled frames; each frame is then translated with their
average around it within its shot (`imgtrans.io.temporal`). pix2pix's dropout
uses one seed for the whole clip, so its noise stays put. The result is
written to a temporary file and renamed: nothing half-written is ever left
under the final name.
"""

from __future__ import annotations

import io
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imgtrans.errors import INPUT_ERROR, ImgtransError, OptionError
from imgtrans.io.files import atomic_target
from imgtrans.io.formats import NOT_REGULAR, output_extension, regular_file_size
from imgtrans.io.imageio import DEFAULT_MAX_PIXELS
from imgtrans.io.temporal import DEFAULT_WINDOW, ShotWindow

if TYPE_CHECKING:  # annotations only: PyAV is imported when a video is translated
    from av.video.stream import VideoStream

CONTAINERS = {"mp4": "mp4", "m4v": "mp4", "mov": "mov", "mkv": "matroska", "webm": "webm", "avi": "avi", "gif": "gif"}
DEFAULT_CRF = 18  # visually lossless for x264; VP9 gets the same number on its own scale
# A new shot: the colour histograms of consecutive frames differ by more than
# this (L1 distance of normalised 16-bin histograms per channel, 0-2). Motion
# hardly changes a histogram; a brightness ramp changes it a little per frame.
CUT_THRESHOLD = 0.6
QUEUE_FRAMES = 16
# FFmpeg guesses the container from the bytes, not the name, and some of its
# demuxers read further files (an ffconcat list saved as clip.mkv plays the
# files beside it): only the containers imgtrans claims to read are allowed.
DEMUXERS = "mov,matroska,avi,gif"


class VideoError(ImgtransError):
    """A video that cannot be read or written; the message is the reason."""

    exit_code = INPUT_ERROR


@dataclass
class VideoResult:
    frames: int
    fps: float
    size: tuple[int, int]
    audio_streams: int
    cuts: int  # scene cuts found (looked for only when statistics are shared)
    seconds: float


def _histogram(frame: np.ndarray) -> np.ndarray:
    """Per-channel 16-bin colour histograms of a subsampled frame, normalised."""
    h, w = frame.shape[:2]
    sample = frame[:: max(1, h // 64), :: max(1, w // 64)].reshape(-1, 3) // 16
    counts = np.stack([np.bincount(sample[:, c], minlength=16) for c in range(3)]).astype(np.float64)
    return counts / counts.sum(axis=1, keepdims=True)


def _av():
    try:
        import av
    except ImportError:
        raise VideoError("video needs PyAV: pip install av") from None
    return av


def _open_input(av, source: Path):
    """The container, from a regular file only: FFmpeg would wait on a FIFO forever."""
    try:
        if regular_file_size(source) is None:
            raise VideoError(NOT_REGULAR)
    except OSError as exc:
        raise VideoError(f"cannot read ({exc.strerror or exc})") from None
    try:
        return av.open(str(source), container_options={"format_whitelist": DEMUXERS, "protocol_whitelist": "file"})
    except av.ArgumentError:  # what FFmpeg answers for a demuxer off the list
        raise VideoError("not a readable video (not an MP4, MOV, MKV, WebM, AVI or GIF container)") from None
    except av.FFmpegError as exc:
        raise VideoError(f"not a readable video ({_reason(exc)})") from None
    except UnicodeDecodeError:  # PyAV decodes the streams' metadata as UTF-8 while opening
        raise VideoError("not a readable video (its metadata is not valid UTF-8)") from None


def translate_video(model, source: Path, destination: Path, *, ext: str | None = None, crf: int = DEFAULT_CRF,
                    stats_window: float | None = DEFAULT_WINDOW, batch_size: int = 4, overwrite: bool = False,
                    max_pixels: int | None = None, on_start: Callable[[int | None], None] = lambda total: None,
                    on_frames: Callable[[int], None] = lambda n: None) -> VideoResult:
    """Translate every frame of `source` with `model` (a TranslationModel) into
    `destination`; `stats_window`: seconds of the statistics' Gaussian window
    (None: per-frame statistics). Frames over `max_pixels` (default: the
    pictures' decompression-bomb limit) are refused once the file is open:
    a few kilobytes per frame can declare frames of hundreds of megabytes each."""
    source, destination = _check_arguments(source, destination, ext=ext, crf=crf, stats_window=stats_window,
                                           batch_size=batch_size, max_pixels=max_pixels)
    av = _av()
    start = time.perf_counter()
    fmt = CONTAINERS[output_extension(source, ext)]
    try:
        with atomic_target(destination, overwrite=overwrite) as tmp:
            result = _translate(av, model, source, tmp, fmt, crf=crf, stats_window=stats_window, batch_size=batch_size,
                                max_pixels=max_pixels or DEFAULT_MAX_PIXELS, on_start=on_start, on_frames=on_frames)
    except FileExistsError:
        raise VideoError(f"{destination}: exists (use --overwrite)") from None
    except OSError as exc:
        raise VideoError(f"cannot write {destination} ({exc.strerror or exc})") from None
    result.seconds = time.perf_counter() - start
    return result


MAX_BATCH = 1024  # frames in one batch; more only holds memory


def _check_arguments(source, destination, *, ext, crf, stats_window, batch_size, max_pixels) -> tuple[Path, Path]:
    """A library caller's arguments, each refused with what is expected
    (they ended in KeyError, TypeError or a comparison deep inside)."""
    paths = []
    for what, value in (("source", source), ("destination", destination)):
        if not isinstance(value, (str, os.PathLike)) or not str(value):
            raise OptionError(f"{what} must be a file path, not {type(value).__name__} {value!r:.40}")
        paths.append(Path(value))
    formats = ", ".join(sorted(CONTAINERS))
    if ext is not None and (not isinstance(ext, str) or ext.lower() not in CONTAINERS):
        raise OptionError(f"ext must be one of {formats} (or None: the source's), not {ext!r:.40}")
    if ext is None and paths[0].suffix.lower().lstrip(".") not in CONTAINERS:
        raise OptionError(f"{paths[0].name}: not a video file name ({formats}); pass ext= for the output's format")
    for what, value, low, high in (("crf", crf, 0, 51), ("batch_size", batch_size, 1, MAX_BATCH)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise OptionError(f"{what} must be a whole number from {low} to {high}, not {value!r:.40}")
    if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1):
        raise OptionError(f"max_pixels must be a positive whole number (or None), not {max_pixels!r:.40}")
    if stats_window is not None and (isinstance(stats_window, bool) or not isinstance(stats_window, (int, float))
                                     or not 0 < stats_window < float("inf")):
        raise OptionError("stats_window must be a positive number of seconds (or None: per-frame statistics), "
                          f"not {stats_window!r:.40}")
    return paths[0], paths[1]


def _translate(av, model, source: Path, target: Path, fmt: str, *, crf, stats_window, batch_size, max_pixels,
               on_start, on_frames) -> VideoResult:
    container = _open_input(av, source)
    with container:
        if not container.streams.video:
            raise VideoError("no video stream")
        video = container.streams.video[0]
        if video.codec_context is None:  # FFmpeg knows the container but has no decoder for the stream
            raise VideoError("its video codec is not supported (no decoder for it in the bundled FFmpeg)")
        video.thread_type = "AUTO"
        rate = video.average_rate or video.guessed_rate or Fraction(25)
        audio = list(container.streams.audio) if fmt != "gif" else []  # a GIF carries no sound
        on_start(video.frames or None)
        try:
            output = av.open(str(target), mode="w", format=fmt)
        except av.FFmpegError as exc:
            raise VideoError(f"cannot create a {fmt} file ({_reason(exc)})") from None
        with output:
            audio_out, transcoded = {}, {}
            for stream in audio:
                if _can_copy(av, stream, fmt):
                    audio_out[stream.index] = output.add_stream_from_template(stream)
                else:  # the container cannot hold this codec (AAC in WebM, Opus in MOV): re-encode that stream
                    try:
                        encoder = output.add_stream("libopus" if fmt == "webm" else "aac", rate=48000 if fmt == "webm"
                                                    else stream.codec_context.sample_rate)
                        encoder.layout = stream.codec_context.layout.name
                    except (av.FFmpegError, ValueError) as exc:
                        raise VideoError(f"its audio ({stream.codec_context.name}) cannot go into {fmt} "
                                         f"({_reason(exc)}); keep the container (no --ext)") from None
                    audio_out[stream.index] = transcoded[stream.index] = encoder
            state = _Encoder(av, output, fmt, rate, crf)
            width, height = video.codec_context.width, video.codec_context.height
            if not (width and height):
                raise VideoError("the video stream has no frame size")
            if width * height > max_pixels:
                raise VideoError(f"its frames ({width}x{height}) are over the limit of {max_pixels} pixels "
                                 "(decompression-bomb guard; --max-pixels raises it)")
            turn = _display_transform(av, source)
            first_pass = None
            if stats_window is not None and model.normalises_per_image:
                first_pass = _FirstPass(av, source, model, ShotWindow(stats_window * float(rate)), batch_size, turn)
            # Every stream must exist before the first packet is written; frames are stored upright.
            state.open(*((width, height) if turn in _SWAPS_SIDES else (height, width)))
            frames: queue.Queue = queue.Queue(QUEUE_FRAMES)
            errors: list[BaseException] = []
            stop = threading.Event()

            def demux() -> None:
                """Decode on this thread: frames to the queue, audio packets straight to the muxer."""
                try:
                    for packet in container.demux(video, *audio):
                        if stop.is_set():
                            break
                        index = packet.stream.index
                        if index in transcoded:
                            for sound in packet.decode():
                                sound.pts = None
                                for encoded in transcoded[index].encode(sound):
                                    state.mux(encoded)
                            continue
                        if index in audio_out:
                            if packet.dts is not None:
                                packet.stream = audio_out[index]
                                state.mux(packet)
                            continue
                        for frame in packet.decode():
                            _check_size(frame, width, height)
                            frames.put(_upright(frame.to_ndarray(format="rgb24"), turn))
                    for encoder in transcoded.values():
                        for encoded in encoder.encode():
                            state.mux(encoded)
                except BaseException as exc:  # handed to the main thread
                    errors.append(exc)
                finally:
                    frames.put(None)

            reader = threading.Thread(target=demux, name="imgtrans-video-decode", daemon=True)
            reader.start()
            count = 0
            batch: list[np.ndarray] = []
            try:
                while True:
                    frame = frames.get()
                    if frame is not None:
                        if batch and (batch[0].shape != frame.shape or len(batch) >= batch_size):
                            count += _flush(model, batch, count, state, first_pass, on_frames)
                        batch.append(frame)
                    else:
                        count += _flush(model, batch, count, state, first_pass, on_frames)
                        break
            finally:
                if first_pass is not None:
                    first_pass.close()
                _stop(reader, stop, frames)
                state.stop()
            if errors:
                error = errors[0]
                if isinstance(error, av.FFmpegError):
                    raise VideoError(f"corrupt or truncated video ({_reason(error)})") from None
                raise error
            if count == 0:
                raise VideoError("the video has no frames")
            state.raise_errors()
    cuts = first_pass.cuts if first_pass is not None else 0
    return VideoResult(count, float(rate), (state.width, state.height), len(audio), cuts, 0.0)


def _can_copy(av, stream, fmt: str) -> bool:
    """Whether the `fmt` container takes this audio stream as it is. Some
    refusals come only when the header is written (Opus in MOV is
    "experimental"), after the streams are fixed: tried on a scratch file."""
    try:
        with av.open(io.BytesIO(), mode="w", format=fmt) as scratch:
            scratch.add_stream_from_template(stream)
            scratch.start_encoding()
    except (av.FFmpegError, ValueError):
        return False
    return True


# How to show a frame upright, as FFmpeg's own player and converter do (its
# autorotate): transpose (FFmpeg's cclock_flip), antitranspose (clock_flip).
_TRANSFORMS = {
    "cclock": lambda p: np.rot90(p, 1),
    "clock": lambda p: np.rot90(p, -1),
    "transpose": lambda p: p.transpose(1, 0, 2),
    "antitranspose": lambda p: p[::-1, ::-1].transpose(1, 0, 2),
    "hflip": lambda p: p[:, ::-1],
    "vflip": lambda p: p[::-1],
    "rotate180": lambda p: p[::-1, ::-1],
}
_SWAPS_SIDES = ("cclock", "clock", "transpose", "antitranspose")


def _display_transform(av, source: Path) -> str:
    """What shows the video upright (a key of _TRANSFORMS, or ""): phones
    record sideways (or mirrored) and store a display matrix, as a picture's
    EXIF orientation. Read from the first frame's side data; angles other
    than quarter turns are left alone."""
    container = _open_input(av, source)
    try:
        with container:
            frame = next(container.decode(container.streams.video[0]), None)
            matrix = next((np.frombuffer(bytes(data), np.int32) for data in getattr(frame, "side_data", ())
                           if getattr(data.type, "name", "") == "DISPLAYMATRIX"), None)
            rotation = getattr(frame, "rotation", 0) or 0  # av_display_rotation_get: counter-clockwise degrees
    except (av.FFmpegError, ValueError):
        return ""  # reported by the translation's own decoder
    if matrix is None or len(matrix) != 9 or not math.isfinite(rotation):
        return ""
    theta = -round(rotation) % 360
    if theta == 90:
        return "transpose" if matrix[3] > 0 else "clock"
    if theta == 270:
        return "antitranspose" if matrix[3] < 0 else "cclock"
    if theta == 180:
        return {(True, True): "rotate180", (True, False): "hflip", (False, True): "vflip"}.get(
            (bool(matrix[0] < 0), bool(matrix[4] < 0)), "")
    return "vflip" if theta == 0 and matrix[4] < 0 else ""


def _upright(pixels: np.ndarray, turn: str) -> np.ndarray:
    return np.ascontiguousarray(_TRANSFORMS[turn](pixels)) if turn else pixels


def _check_size(frame, width: int, height: int) -> None:
    """Before converting a frame: the size checked against the limit and
    given to the encoder is the only one (a stream can change it midway)."""
    if (frame.width, frame.height) != (width, height):
        raise VideoError("the frame size changes within the video (not supported)")


def _flush(model, batch: list[np.ndarray], first: int, state: _Encoder, first_pass: _FirstPass | None,
           on_frames) -> int:
    """Translate and encode the batch of frames numbered first, first + 1, ..."""
    if not batch:
        return 0
    statistics = None
    if first_pass is not None:
        statistics = first_pass.statistics(range(first, first + len(batch)))
    for frame in model.translate_frames(batch, statistics=statistics):
        state.encode(frame)
    on_frames(len(batch))
    n = len(batch)
    batch.clear()
    return n


class _FirstPass:
    """The video decoded a second time, running ahead of the translation just
    far enough for the statistics window. A thread decodes and finds the scene
    cuts (colour histograms of consecutive frames); the statistics of sampled
    frames are recorded in batches when the translation needs them. Holds at
    most a queue and a batch of frames."""

    def __init__(self, av, source: Path, model, window: ShotWindow, batch_size: int, turn: str = ""):
        self.model, self.window, self.batch_size, self.turn = model, window, batch_size, turn
        self.container = _open_input(av, source)
        self.decoded = 0  # frames taken from the scanner so far
        self.done = False
        self.shot, self.cuts = 0, 0  # the latest shot (its first frame), cuts found
        self.shots: dict[int, int] = {}  # frame -> its shot, until translated
        self.pending: list[tuple[int, int, np.ndarray]] = []  # sampled (frame, shot, pixels) not yet recorded
        self.scanned: queue.Queue = queue.Queue(QUEUE_FRAMES)
        self.stop = threading.Event()
        self.scanner = threading.Thread(target=self._scan, args=(av,), name="imgtrans-video-scan", daemon=True)
        self.scanner.start()

    def _scan(self, av) -> None:
        """On its own thread: (shot, pixels if sampled else None) per frame, then None."""
        try:
            stream = self.container.streams.video[0]
            stream.thread_type = "AUTO"
            previous, shot = None, 0
            size = stream.codec_context.width, stream.codec_context.height
            for index, frame in enumerate(self.container.decode(stream)):
                if self.stop.is_set():
                    break
                _check_size(frame, *size)
                pixels = _upright(frame.to_ndarray(format="rgb24"), self.turn)
                histogram = _histogram(pixels)
                if previous is not None and float(np.abs(histogram - previous).sum(axis=1).mean()) > CUT_THRESHOLD:
                    shot = index
                previous = histogram
                self.scanned.put((shot, pixels if self.window.sampled(index, shot) else None))
        except av.FFmpegError as exc:
            self.scanned.put(VideoError(f"corrupt or truncated video ({_reason(exc)})"))
        except BaseException as exc:  # handed to the main thread
            self.scanned.put(exc)
        finally:
            self.scanned.put(None)

    def statistics(self, frames: range) -> list:
        """The averaged statistics for these frames, analysing as far ahead as they need."""
        self._advance(frames[-1] + self.window.reach)
        shots = [self.shots.pop(f, self.shot) for f in frames]
        try:
            result = [self.window.at(f, shot) for f, shot in zip(frames, shots)]
        except LookupError:
            raise VideoError("the video decodes to different frames when read again") from None
        self.window.forget(frames[-1] + 1)
        return result

    def _advance(self, until: int) -> None:
        """Take scanned frames through frame `until` (or the end), then on to a
        full batch of samples, so the model sees batches."""
        while not self.done and (self.decoded <= until or self.pending):
            item = self.scanned.get()
            if item is None:
                self.done = True
                break
            if isinstance(item, BaseException):
                raise item
            shot, pixels = item
            index = self.decoded
            self.cuts += shot == index and index > 0
            self.shot = self.shots[index] = shot
            self.decoded += 1
            if pixels is not None:
                if self.pending and self.pending[0][2].shape != pixels.shape:
                    self._record()
                self.pending.append((index, shot, pixels))
                if len(self.pending) >= self.batch_size:
                    self._record()
        self._record()

    def _record(self) -> None:
        if not self.pending:
            return
        records = self.model.frame_statistics([pixels for _, _, pixels in self.pending])
        for (index, shot, _), statistics in zip(self.pending, records):
            self.window.add(index, shot, statistics)
        self.pending.clear()

    def close(self) -> None:
        _stop(self.scanner, self.stop, self.scanned)
        self.container.close()


def _stop(thread: threading.Thread, stop: threading.Event, items: queue.Queue) -> None:
    """End a decoding thread: ask it to stop, and empty its queue until it
    does (it may be waiting to put into a full one)."""
    stop.set()
    while thread.is_alive():
        try:
            items.get(timeout=0.1)
        except queue.Empty:
            pass
    thread.join()


class _Encoder:
    """The output video stream, with a writer thread so encoding overlaps the
    model's work."""

    def __init__(self, av, output, fmt: str, rate: Fraction, crf: int):
        self.av, self.output, self.fmt, self.rate, self.crf = av, output, fmt, rate, crf
        self.stream: VideoStream | None = None
        self.width = self.height = 0
        self.index = 0
        self.lock = threading.Lock()
        self.pending: queue.Queue = queue.Queue(QUEUE_FRAMES)
        self.errors: list[BaseException] = []
        self.writer: threading.Thread | None = None

    def mux(self, packet) -> None:
        with self.lock:
            self.output.mux(packet)

    def open(self, h: int, w: int) -> None:
        self.height, self.width = h, w
        if self.fmt == "gif":
            stream = self.output.add_stream("gif", rate=self.rate)
            stream.pix_fmt = "pal8"
        elif self.fmt == "webm":
            stream = self.output.add_stream("libvpx-vp9", rate=self.rate)
            stream.pix_fmt = "yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p"
            stream.options = {"crf": str(min(63, self.crf + 13)), "b:v": "0", "row-mt": "1"}
        else:
            stream = self.output.add_stream("libx264", rate=self.rate)
            stream.pix_fmt = "yuv420p" if h % 2 == 0 and w % 2 == 0 else "yuv444p"
            stream.options = {"crf": str(self.crf), "preset": "medium"}
        stream.width, stream.height = w, h
        stream.time_base = Fraction(1, 1) / self.rate
        self.stream = stream
        self.writer = threading.Thread(target=self._write, name="imgtrans-video-encode", daemon=True)
        self.writer.start()

    def encode(self, frame: np.ndarray) -> None:
        if self.errors:
            raise self.errors[0]
        self.pending.put(frame)

    def _frame(self, frame: np.ndarray):
        if self.fmt != "gif":
            return self.av.VideoFrame.from_ndarray(frame, format="rgb24")
        # GIF: a 256-colour palette per frame (median cut); FFmpeg's scaler cannot make one
        from PIL import Image

        quantised = Image.fromarray(frame).quantize(256)
        palette = np.zeros((256, 4), np.uint8)
        values = quantised.getpalette()
        assert values is not None  # quantize makes a palette picture
        colours = np.array(values[:768], np.uint8).reshape(-1, 3)
        palette[: len(colours), :3], palette[:, 3] = colours, 255
        return self.av.VideoFrame.from_ndarray((np.asarray(quantised), palette), format="pal8")

    def _write(self) -> None:
        stream = self.stream
        try:
            assert stream is not None  # open makes the stream before it starts this writer
            while True:
                frame = self.pending.get()
                if frame is None:
                    break
                video_frame = self._frame(frame)
                video_frame.pts = self.index
                self.index += 1
                for packet in stream.encode(video_frame):
                    self.mux(packet)
            for packet in stream.encode():
                self.mux(packet)
        except BaseException as exc:
            self.errors.append(exc)
            while self.pending.get() is not None:  # drain so the producer never blocks
                pass

    def stop(self) -> None:
        """Flush the encoder and end the writer thread (once)."""
        if self.writer is not None and self.writer.is_alive():
            self.pending.put(None)
            self.writer.join()

    def raise_errors(self) -> None:
        """The writer's failure, if any, as a one-line VideoError."""
        if self.errors:
            exc = self.errors[0]
            if isinstance(exc, OSError):
                raise VideoError(f"cannot write the video ({exc.strerror or exc})") from None
            if isinstance(exc, self.av.FFmpegError):
                raise VideoError(f"encoding failed ({_reason(exc)})") from None
            raise exc


def _reason(exc: BaseException) -> str:
    """FFmpeg's own words ("Invalid data found when processing input"), without errno and path."""
    text = getattr(exc, "strerror", None) or str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
