"""Writing files so that readers never see half of one, and nothing is
clobbered by accident: a temporary file beside the target, then a rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def set_default_mode(path: str | Path) -> None:
    """mkstemp creates files readable by the owner only; give them the mode a
    plain open() would (0666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_atomic(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write to a temporary file beside `path`, then move it into place.

    Without `overwrite` the final step is a hard link, which fails if `path`
    appeared meanwhile: an existing file is never clobbered.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # A short temporary name: the final name may be near the file-system limit.
    fd, tmp = tempfile.mkstemp(prefix=".imgtrans-", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        set_default_mode(tmp)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
