"""Image decoding and encoding with Pillow.

Every decoding failure becomes an `ImageError` whose message is the reason a
user can act on; the caller adds the file name.
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from imgtrans.errors import ImgtransError
from imgtrans.io.formats import NOT_REGULAR, regular_file_size

FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF"}


class ImageError(ImgtransError):
    """An input that cannot be used as an image; the message is the reason."""


@dataclass
class Picture:
    """Decoded pixels: `pixels` is HxWxC uint8 (C = 1 or 3); `alpha` HxW or None."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]


# Larger input files are refused before reading: a compressed picture under
# the pixel limit is far smaller (a sparse 64 GiB file is not read at all).
MAX_FILE_BYTES = 2 << 30
_CHUNK = 1 << 20


def read_file(path, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file; FIFOs, devices, sockets and oversized files
    are refused before reading (no hang, no unbounded read)."""
    try:
        size = regular_file_size(path)
        if size is None:
            raise ImageError(NOT_REGULAR)
        if size > limit:
            raise ImageError(f"file too large ({size} bytes; the limit is {limit})")
        with open(path, "rb") as fh:
            return _read_capped(fh, limit, "file", expected=size)
    except OSError as exc:
        raise ImageError(f"cannot read ({exc.strerror or exc})") from None


def read_stream(stream, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """At most `limit` bytes from a stream (stdin), refusing more."""
    return _read_capped(stream, limit, "input")


def _read_capped(stream, limit: int, what: str, expected: int = 0) -> bytes:
    """The stream's bytes up to `limit`. Never `read(limit)`: that reserves the
    whole limit (2 GiB) up front, a MemoryError under `ulimit -v` for a
    tiny picture. A regular file is read in one call of its own size."""
    parts, total = [], 0
    want = min(expected, limit) + 1 if expected else _CHUNK
    while chunk := stream.read(min(want, limit + 1 - total)):
        parts.append(chunk)
        total += len(chunk)
        if total > limit:
            raise ImageError(f"{what} too large (over {limit} bytes)")
        want = _CHUNK
    return parts[0] if len(parts) == 1 else b"".join(parts)


# Pillow's limit (about 89 MP), the default for `max_pixels`; Pillow's own
# figure should something have set its limit to None (off) before this import.
DEFAULT_MAX_PIXELS: int = (
    Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS is not None else 1024 * 1024 * 1024 // 4 // 3
)
_limit_lock = threading.Lock()


def decode(data: bytes, *, channels: int = 3, max_pixels: int | None = None) -> Picture:
    """Bytes -> pixels, applying EXIF orientation and converting any mode
    (grayscale, palette, CMYK, 16-bit) to `channels` 8-bit channels.

    Pictures over `max_pixels` (default: Pillow's decompression-bomb limit)
    are refused before their pixels are decoded.
    """
    if not data:
        raise ImageError("empty file")
    limit = max_pixels or DEFAULT_MAX_PIXELS
    with warnings.catch_warnings():  # Pillow warns about corrupt EXIF and the like: the picture still counts
        warnings.simplefilter("ignore")
        return _decode(data, channels, limit)


def _decode(data: bytes, channels: int, limit: int) -> Picture:
    try:
        with _limit_lock:  # Pillow's own check reads a global: we check instead
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                image = Image.open(io.BytesIO(data))
            finally:
                Image.MAX_IMAGE_PIXELS = saved
        width, height = image.size
        if width * height > limit:
            raise ImageError(
                f"image too large ({width}x{height} = {width * height} pixels, over the limit of {limit}; "
                f"--max-pixels raises it)"
            )
        if image.format == "JPEG":
            _check_jpeg_length(data, width, height)
        image.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not an image (unrecognised format)") from None
    except MemoryError:
        raise ImageError("not enough memory to decode it") from None
    except Exception as exc:  # Pillow raises many types on corrupt files
        raise ImageError(f"corrupt or truncated image ({type(exc).__name__}: {exc})") from None
    upright: Image.Image = image
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception:  # a malformed EXIF block should not lose the picture
        pass
    return from_pil(upright, channels=channels)


# Start-of-frame markers of Huffman-coded JPEGs (baseline, extended, progressive,
# lossless, hierarchical); arithmetic coding (0xC9-0xCB, 0xCD-0xCF) has no useful floor.
_HUFFMAN_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7}


def _check_jpeg_length(data: bytes, width: int, height: int) -> None:
    """Refuse a JPEG too short for the size its header declares. libjpeg
    decodes one whose data ends early at an end-of-image marker without an
    error, as grey (a 1 KB file declaring 9000x9000 became 81 MP to translate).
    Huffman coding spends at least one bit per 8x8 block of the first
    component (a progressive file's DC scan), so fewer bytes than that cannot
    hold the picture."""
    if _jpeg_frame_marker(data) not in _HUFFMAN_SOF:
        return
    floor = -(-width // 8) * -(-height // 8) // 8
    if len(data) < floor:
        raise ImageError(f"truncated JPEG: {len(data)} bytes cannot hold the {width}x{height} pixels its header "
                         f"declares (at least {floor} bytes)")


def _jpeg_frame_marker(data: bytes) -> int | None:
    """The start-of-frame marker (0xC0-0xCF) of a JPEG stream, from its segments."""
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return marker
        if marker == 0xDA:  # scan data before any frame header
            return None
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return None


def from_pil(image: Image.Image, *, channels: int = 3) -> Picture:
    """A PIL image in any mode -> `channels` 8-bit channels and its alpha, if any.

    A model that takes 2 or 4 channels gets gray + alpha or RGBA as its data
    (nothing is split off to re-attach)."""
    if channels in (2, 4):
        source = image if image.mode in ("LA", "RGBA", "P", "PA") else _to_8bit(image)
        return Picture(np.ascontiguousarray(np.asarray(source.convert("LA" if channels == 2 else "RGBA"))), None)
    alpha = _extract_alpha(image)
    rgb_or_gray = _to_8bit(image)
    if channels == 1:
        pixels = np.asarray(rgb_or_gray.convert("L"))[:, :, None]
    else:
        pixels = np.asarray(rgb_or_gray.convert("RGB"))
    return Picture(np.ascontiguousarray(pixels), alpha)


def to_pil(pixels: np.ndarray, alpha: np.ndarray | None = None) -> Image.Image:
    """HxWxC uint8 (C = 1 to 4: L, LA, RGB, RGBA) and optional alpha -> a PIL image."""
    if pixels.shape[2] in (2, 4):
        return Image.fromarray(np.ascontiguousarray(pixels), "LA" if pixels.shape[2] == 2 else "RGBA")
    image = Image.fromarray(pixels[:, :, 0], "L") if pixels.shape[2] == 1 else Image.fromarray(pixels, "RGB")
    if alpha is not None:
        image = image.convert("LA" if image.mode == "L" else "RGBA")
        image.putalpha(Image.fromarray(alpha, "L"))
    return image


def _extract_alpha(image: Image.Image) -> np.ndarray | None:
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return np.asarray(image.getchannel("A")).copy()
    return None


def _to_8bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit grayscale scaled (not clipped) to 8 bits; other modes as is."""
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0
        return Image.fromarray(np.clip(np.round(values * 255.0 / top), 0, 255).astype(np.uint8), "L")
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        top = 1.0 if values.max(initial=0) <= 1.0 else 255.0
        return Image.fromarray(np.clip(np.round(values * 255.0 / top), 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return image.convert("RGB") if image.mode != "LA" else image.convert("L")
    if image.mode == "P":
        return image.convert("RGB")
    return image


def encode(pixels: np.ndarray, alpha: np.ndarray | None, ext: str) -> bytes:
    """Pixels (HxWxC uint8) and optional alpha -> file bytes in format `ext`."""
    fmt = FORMATS[ext]
    image = to_pil(pixels, alpha if fmt != "JPEG" else None)
    if fmt == "JPEG" and image.mode in ("LA", "RGBA"):  # a 2- or 4-channel model's output: JPEG has no alpha
        image = image.convert(image.mode[:-1])
    buffer = io.BytesIO()
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()
