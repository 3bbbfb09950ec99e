"""Where weights files live: shipped with imgtrans, or in the user's cache."""

from __future__ import annotations

import os
from pathlib import Path

from imgtrans.errors import ImgtransError

HOME_ENV = "IMGTRANS_HOME"
SUFFIX = ".safetensors"
# Files `imgtrans run FILE` and `imgtrans.load(FILE)` take directly: imgtrans
# files, and foreign checkpoints whose architecture is detected.
CHECKPOINT_SUFFIXES = (SUFFIX, ".pth", ".pt", ".ckpt", ".bin")


class StoreError(ImgtransError):
    """The cache folder cannot be found or written."""


def home() -> Path:
    """The user's imgtrans folder: $IMGTRANS_HOME, else the XDG cache dir."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "imgtrans"
    try:
        return Path.home() / ".cache" / "imgtrans"
    except (RuntimeError, KeyError):  # HOME unset and the user has no entry in the password database
        raise StoreError(f"no folder for imgtrans's cache: HOME is not set and this user has no home folder; "
                         f"set {HOME_ENV} (or HOME)") from None


def cache_dir() -> Path:
    return home() / "weights"


def cached_path(name: str) -> Path:
    """The cache file of model `name` (a validated name: never outside the cache)."""
    from imgtrans.names import check_component, inside

    check_component(name, "model name")
    return inside(cache_dir() / f"{name}{SUFFIX}", cache_dir(), "model file")


def shipped_dir() -> Path:
    """`weights/` of a source checkout, or its copy inside an installed wheel."""
    package = Path(__file__).resolve().parents[1]  # imgtrans/
    inside_wheel = package / "shipped_weights"
    if inside_wheel.is_dir():
        return inside_wheel
    return package.parent / "weights"


def cached_files() -> list[Path]:
    """The cached weights files; none where there is no cache folder (shipped models still work)."""
    try:
        folder = cache_dir()
    except StoreError:
        return []
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == SUFFIX and not p.name.startswith("."))
