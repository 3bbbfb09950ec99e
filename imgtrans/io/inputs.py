"""Turning command-line INPUT arguments into files, and files into output names.

Files named explicitly are always tried (a wrong one gets a clear error);
folders contribute the files with an image extension.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from imgtrans.io.formats import (  # noqa: F401  (OUTPUT_FORMATS, VIDEO_FORMATS: read from here by the CLI)
    IMAGE_EXTENSIONS,
    OUTPUT_FORMATS,
    VIDEO_EXTENSIONS,
    VIDEO_FORMATS,
    is_video,
    output_extension,
)
from imgtrans.names import UnsafeNameError, inside


@dataclass(frozen=True)
class InputFile:
    path: Path
    rel: Path  # where its output goes, relative to the output folder


@dataclass(frozen=True)
class Problem:
    name: str
    reason: str


def _folder_files(folder: Path, recursive: bool) -> list[InputFile]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    files = []
    for path in sorted(candidates):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
            files.append(InputFile(path, rel))
    return files


def collect(arguments: list[str], *, recursive: bool = False) -> tuple[list[InputFile], list[Problem]]:
    """Expand files, folders and (quoted) globs; report what matched nothing.
    An argument that cannot even be looked at (a path over the system's
    length limit: ENAMETOOLONG) is a problem of its own; the others go on."""
    found: list[InputFile] = []
    problems: list[Problem] = []
    for argument in arguments:
        try:
            files, problem = _expand(argument, recursive)
        except OSError as exc:
            files, problem = [], Problem(argument, f"cannot read ({exc.strerror or exc})")
        found += files
        if problem is not None:
            problems.append(problem)
    unique, seen = [], set()
    for item in found:
        key = _real(item.path)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique, problems


def _expand(argument: str, recursive: bool) -> tuple[list[InputFile], Problem | None]:
    path = Path(argument)
    if not glob.has_magic(argument):
        try:
            os.lstat(path)  # OSError for what cannot be looked at, e.g. a path over the length limit
        except (FileNotFoundError, NotADirectoryError):
            return [], Problem(argument, "no such file or directory")
    if path.is_dir():
        files = _folder_files(path, recursive)
        if not files:
            return [], Problem(argument, "folder has no image files" + ("" if recursive else " (try --recursive)"))
        return files, None
    if path.is_file() or path.exists() or path.is_symlink():  # a FIFO, device, socket, dangling or looping link
        return [InputFile(path, Path(path.name))], None  # one that is not a file is refused with its reason when read
    if glob.has_magic(argument):
        matches = sorted(glob.glob(argument, recursive=recursive))
        if not matches:
            return [], Problem(argument, "no files match this pattern")
        files = []
        for match in map(Path, matches):
            files += _folder_files(match, recursive) if match.is_dir() else [InputFile(match, Path(match.name))]
        return files, None
    return [], Problem(argument, "no such file or directory")


def _real(path: Path) -> Path:
    """The canonical path; unlike Path.resolve() never raises on a symlink loop."""
    return Path(os.path.realpath(path))


def output_path(item: InputFile, out_dir: Path, *, suffix: str, ext: str) -> Path:
    """Where `item`'s result goes; never outside `out_dir`."""
    return inside(out_dir / item.rel.parent / f"{item.rel.stem}{suffix}.{ext}", out_dir, "output")


Status = Literal["ok", "skipped", "error"]


@dataclass
class Result:
    """The outcome for one input (one line of `run --json`)."""

    input: str
    output: str | None
    status: Status
    ms: float
    error: str | None = None
    frames: int | None = None  # videos only
    ran: dict | None = None  # where and how it was computed (pipeline.RunInfo.as_dict)

    def as_dict(self) -> dict:
        row = {
            "input": self.input,
            "output": self.output,
            "status": self.status,
            "ms": round(self.ms, 1),
            "error": self.error,
        }
        if self.frames is not None:
            row["frames"] = self.frames
        return row if self.ran is None else {**row, **self.ran}


@dataclass
class Job:
    item: InputFile
    output: Path
    video: bool = False


def plan(arguments: list[str], out_dir: Path, *, recursive: bool, suffix: str, ext: str, overwrite: bool,
         video_ext: str | None = None):
    """Jobs to run, and results already decided (missing inputs, name clashes,
    existing outputs) so they are reported without touching the model.
    Videos keep their container unless `video_ext` names another."""
    items, problems = collect(arguments, recursive=recursive)
    results = [Result(p.name, None, "error", 0.0, p.reason) for p in problems]
    jobs: list[Job] = []
    claimed: dict[Path, Path] = {}
    for item in items:
        video = is_video(item.path)
        try:  # refused for this input alone: an output that is a link out of the folder, a name over the limits
            target = output_path(item, out_dir, suffix=suffix,
                                 ext=output_extension(item.path, video_ext) if video else ext)
            key, exists = _real(target), target.exists()
        except UnsafeNameError as exc:
            results.append(Result(str(item.path), None, "error", 0.0, str(exc)))
            continue
        except OSError as exc:
            reason = f"cannot write its output ({exc.strerror or exc})"
            results.append(Result(str(item.path), None, "error", 0.0, reason))
            continue
        if key == _real(item.path):
            reason = "output would overwrite the input (use -o or --suffix)"
            results.append(Result(str(item.path), None, "error", 0.0, reason))
        elif key in claimed:
            reason = f"same output name as {claimed[key]} (use --suffix)"
            results.append(Result(str(item.path), None, "error", 0.0, reason))
        elif exists and not overwrite:
            claimed[key] = item.path
            results.append(Result(str(item.path), str(target), "skipped", 0.0, "output exists (use --overwrite)"))
        else:
            claimed[key] = item.path
            jobs.append(Job(item, target, video))
    return jobs, results
