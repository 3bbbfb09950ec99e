"""What kinds of file imgtrans reads and writes, told by name (and, for a GIF,
by its frame count) and by a stat: the facts that input planning, picture
reading and video reading all need, in a module that imports none of them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

OUTPUT_FORMATS = ("png", "jpg", "webp", "gif")
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm"}
VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".gif"}  # a GIF is a video when animated
VIDEO_FORMATS = ("mp4", "mov", "mkv", "webm", "avi", "gif")

NOT_REGULAR = "not a regular file (a folder, FIFO, device or socket)"


def regular_file_size(path) -> int | None:
    """The size of a regular file; None for a folder, FIFO, device or socket,
    which a reader would block on or read forever. OSError if it cannot be
    looked at (missing, a symlink loop)."""
    info = os.stat(path)
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def is_video(path: Path) -> bool:
    """By extension; a GIF counts when it has more than one frame."""
    suffix = path.suffix.lower()
    if suffix not in VIDEO_EXTENSIONS:
        return False
    if suffix != ".gif":
        return True
    try:
        from PIL import Image

        if regular_file_size(path) is None:  # a FIFO would block Pillow
            return False
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1) > 1
    except Exception:  # an unreadable GIF, or not a regular file: reported by the image path
        return False


def output_extension(source: Path, requested: str | None) -> str:
    ext = (requested or source.suffix.lower().lstrip(".")).lower()
    return "mp4" if ext == "m4v" else ext
