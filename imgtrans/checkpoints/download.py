"""Downloading catalogue weights over HTTP into the cache.

The file is streamed to a temporary name, checked (complete, a checkpoint,
the expected architecture), converted to safetensors, and only then renamed
into the cache; on any failure the partial file is deleted, so a later
attempt starts cleanly and the cache never holds half a model.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from imgtrans.errors import ImgtransError

# No published checkpoint is near this (pix2pix's U-Net-256 is about 220 MB):
# a server sending more, with or without a Content-Length, is refused.
MAX_DOWNLOAD_BYTES = 1 << 30
STALE_PART_SECONDS = 600  # a live download touches its partial file every few ms
MIRROR_ENV = "IMGTRANS_MIRROR"
TIMEOUT_S = 15
CHUNK = 1 << 16


class DownloadError(ImgtransError):
    """The transfer failed; the message says why."""


# The hosts a mirror stands in for: the reference's checkpoints and the FID
# Inception weights. A plugin's own URLs elsewhere are never redirected.
MIRRORED_HOSTS = ("http://efrosgans.eecs.berkeley.edu", "https://github.com/mseitzer/pytorch-fid/")


def mirrored(url: str, mirror: str | None = None) -> str:
    """Replace a mirrored host with `mirror` (or $IMGTRANS_MIRROR), keeping the
    path: one mirror holds /cyclegan/..., /pix2pix/... and /mseitzer/pytorch-fid/..."""
    base = mirror or os.environ.get(MIRROR_ENV)
    if not base or not url.startswith(MIRRORED_HOSTS):
        return url
    parts = urllib.parse.urlsplit(url)
    return base.rstrip("/") + urllib.parse.urlunsplit(("", "", parts.path, parts.query, ""))


def progress_callbacks(progress: Callable[[int, int | None], None] | None):
    """`fetch`'s on_start/on_chunk from one `progress(bytes so far, total or None)`."""
    done = 0
    total: int | None = None

    def on_start(size):
        nonlocal total
        total = size
        if progress is not None:
            progress(0, size)

    def on_chunk(n):
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    return on_start, on_chunk


def fetch(
    url: str,
    folder: Path,
    *,
    on_start: Callable[[int | None], None] = lambda total: None,
    on_chunk: Callable[[int], None] = lambda n: None,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> tuple[Path, str]:
    """Stream `url` into a temporary file in `folder`; return (path, sha256).

    The caller owns (and must delete) the returned file. Partial files left by
    a killed download are removed first.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(folder)
        fd, tmp = tempfile.mkstemp(prefix=".download.", suffix=".part", dir=folder)
    except OSError as exc:
        raise DownloadError(f"cannot write into {folder} ({exc.strerror or exc})") from None
    request = urllib.request.Request(url, headers={"User-Agent": "imgtrans"})
    digest = hashlib.sha256()
    received = 0
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > max_bytes:
                raise DownloadError(f"the server announces {total} bytes, more than any checkpoint ({max_bytes})")
            on_start(total)
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                if received + len(chunk) > max_bytes:
                    raise DownloadError(f"the server sent more than {max_bytes} bytes; stopped")
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                on_chunk(len(chunk))
        if total is not None and received != total:
            raise DownloadError(f"truncated download: received {received} of {total} bytes")
        if received == 0:
            raise DownloadError("the server sent an empty file")
    except urllib.error.HTTPError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DownloadError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        Path(tmp).unlink(missing_ok=True)
        reason = exc.reason.strerror if isinstance(exc.reason, OSError) and exc.reason.strerror else exc.reason
        raise DownloadError(f"cannot connect ({reason})") from None
    except DownloadError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except (OSError, ValueError, http.client.HTTPException) as exc:  # IncompleteRead, timeouts, bad status lines
        Path(tmp).unlink(missing_ok=True)
        raise DownloadError(f"transfer failed: {type(exc).__name__} ({exc}); received {received} bytes") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp), digest.hexdigest()


def extract_member(archive: Path, member: str, folder: Path, *, max_bytes: int = MAX_DOWNLOAD_BYTES) -> Path:
    """Copy the regular file `member` out of a tar `archive` into a temporary
    file in `folder` (the caller deletes it). Nothing else in the archive is
    written, so its other paths and links cannot land anywhere."""
    import shutil
    import tarfile

    wanted = member.removeprefix("./")
    try:
        with tarfile.open(archive) as tar:
            for info in tar:
                if info.name.removeprefix("./") != wanted:
                    continue
                source = tar.extractfile(info) if info.isfile() else None  # None for what is not a regular file
                if source is None or info.size > max_bytes:
                    raise DownloadError(f"{member} in the archive is not a regular file of at most {max_bytes} bytes")
                fd, tmp = tempfile.mkstemp(prefix=".download.", suffix=".part", dir=folder)
                try:
                    with os.fdopen(fd, "wb") as out:
                        shutil.copyfileobj(source, out, CHUNK)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
                return Path(tmp)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DownloadError(f"not a readable tar archive ({type(exc).__name__}: {exc})") from None
    raise DownloadError(f"the archive has no {member}")


def remove_stale_parts(folder: Path) -> None:
    """Delete partial downloads that no process has touched for a while."""
    now = time.time()
    for part in folder.glob(".download.*.part"):
        try:
            if now - part.stat().st_mtime > STALE_PART_SECONDS:
                part.unlink()
        except OSError:
            pass
