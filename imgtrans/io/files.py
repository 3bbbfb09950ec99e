"""Writing files so that readers never see half of one, and nothing is
clobbered by accident: a temporary file beside the target, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def set_default_mode(path: str | Path) -> None:
    """mkstemp creates files readable by the owner only; give them the mode a
    plain open() would (0666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


@contextlib.contextmanager
def atomic_target(path: Path, *, overwrite: bool) -> Iterator[Path]:
    """A temporary file beside `path` to write (by any writer: bytes, an ONNX
    exporter, a video muxer); moved into place only if the block succeeds.

    Without `overwrite` the final step is a hard link, which fails with
    FileExistsError if `path` appeared meanwhile: an existing file is never
    clobbered. The temporary file is removed in every case.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = ""
    try:  # a signal (SIGINT/SIGTERM raise in `imgtrans run`) right after creating it still removes it
        # A short temporary name: the final name may be near the file-system limit.
        fd, tmp = tempfile.mkstemp(prefix=".imgtrans-", suffix=".part", dir=path.parent)
        os.close(fd)
        yield Path(tmp)
        set_default_mode(tmp)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        if tmp:
            Path(tmp).unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write `data` to `path` through `atomic_target`."""
    with atomic_target(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
