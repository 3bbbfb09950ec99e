"""Image decoding and encoding with Pillow.

Every decoding failure becomes an `ImageError` whose message is the reason a
user can act on; the caller adds the file name.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}


class ImageError(Exception):
    """An input that cannot be used as an image; the message is the reason."""


@dataclass
class Picture:
    """Decoded pixels: `pixels` is HxWxC uint8 (C = 1 or 3); `alpha` HxW or None."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]


def decode(data: bytes, *, channels: int = 3) -> Picture:
    """Bytes -> pixels, applying EXIF orientation and converting any mode
    (grayscale, palette, CMYK, 16-bit) to `channels` 8-bit channels."""
    if not data:
        raise ImageError("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except UnidentifiedImageError:
        raise ImageError("not an image (unrecognised format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"image too large ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"corrupt or truncated image ({exc})") from None
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a malformed EXIF block should not lose the picture
        pass
    alpha = _extract_alpha(image)
    rgb_or_gray = _to_8bit(image)
    if channels == 1:
        pixels = np.asarray(rgb_or_gray.convert("L"))[:, :, None]
    else:
        pixels = np.asarray(rgb_or_gray.convert("RGB"))
    return Picture(np.ascontiguousarray(pixels), alpha)


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
    mode = "L" if pixels.shape[2] == 1 else "RGB"
    image = Image.fromarray(pixels[:, :, 0] if mode == "L" else pixels, mode)
    if alpha is not None and fmt != "JPEG":
        image = image.convert("RGBA" if mode == "RGB" else "LA")
        image.putalpha(Image.fromarray(alpha, "L"))
    buffer = io.BytesIO()
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()
