"""What every command shares: the lazily built registry, stderr console, and
the one-line error convention (exit 2 for usage errors, 1 for failed inputs)."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from imgtrans.errors import INPUT_ERROR, USAGE_ERROR, ImgtransError  # noqa: F401  (commands import them from here)
from imgtrans.names import escaped

if TYPE_CHECKING:  # pluggy only for the annotation
    from imgtrans.plugins import PluginManager


@dataclass
class AppState:
    pm: PluginManager
    _registry: object = None
    stderr: Console = field(default_factory=lambda: Console(stderr=True, highlight=False))

    @property
    def registry(self):
        if self._registry is None:
            from imgtrans.registry import Registry

            self._registry = Registry.from_plugin_manager(self.pm)
            for problem in self._registry.problems:
                self.warn(problem)
        return self._registry

    def warn(self, message: str) -> None:
        self.stderr.print(f"[yellow]imgtrans: warning:[/] {safe(message)}", soft_wrap=True)

    def note(self, message: str) -> None:
        self.stderr.print(f"imgtrans: {safe(message)}", soft_wrap=True)

    def error(self, message: str) -> None:
        self.stderr.print(f"[red]imgtrans: error:[/] {safe(message)}", soft_wrap=True)

    def fail(self, message: str, code: int = USAGE_ERROR) -> NoReturn:
        self.error(message)
        raise typer.Exit(code)


def safe(message: str) -> str:
    """One line for the terminal: control characters (escape sequences, new
    lines from a hostile file name) escaped, rich markup neutralised."""
    return escape(escaped(message))


# A reader that went away (`imgtrans models --json | head -1`): ended quietly,
# with the status a shell shows for any program stopped by SIGPIPE.
BROKEN_PIPE_STATUS = 128 + signal.SIGPIPE


def guard(command):
    """Wrap a command so that an `ImgtransError` is one line on stderr and its
    exit code, never a traceback; so is a dependency that cannot load. A
    closed stdout pipe ends the command quietly."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            check_working_directory()
            reserve_standard_descriptors()
            return command(*args, **kwargs)
        except ImgtransError as exc:
            _print_error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:
            silence_stdout()
            raise typer.Exit(BROKEN_PIPE_STATUS) from None
        except ImportError as exc:  # e.g. torch's libraries under an address-space limit (ulimit -v)
            _print_error(import_failure(exc))
            raise typer.Exit(USAGE_ERROR) from None

    return wrapper


def import_failure(exc: ImportError) -> str:
    """One line for a library that does not load, naming it (from its file
    when Python names only the submodule, torch's `_C`) and, for a shared
    library the loader could not map, the likely cause."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    name = exc.name or "a library"
    if exc.path and "site-packages" in exc.path:
        name = exc.path.split("site-packages", 1)[1].strip("/").split("/")[0]
    if "failed to map segment" in reason or "cannot allocate memory" in reason.lower():
        reason += "; the address space may be limited (ulimit -v)"
    return f"cannot load {name} ({reason})"


def _print_error(message: str) -> None:
    Console(stderr=True, highlight=False).print(f"[red]imgtrans: error:[/] {safe(message)}", soft_wrap=True)


class WorkingDirectoryError(ImgtransError):
    """The current folder was deleted: relative paths mean nothing, and torch's
    MKL aborts the process while loading ("Cannot load libtorch_cpu.so")."""


def check_working_directory() -> None:
    try:
        os.getcwd()
    except FileNotFoundError:
        raise WorkingDirectoryError("the current folder no longer exists (deleted or moved): libraries such as "
                                    "torch cannot load from it; cd into an existing folder") from None


class _ClosedStream:
    """Stands for sys.stdout when the program was started with it closed (`>&-`)."""

    def write(self, data) -> int:
        raise StdoutError("cannot write to standard output (it is closed)")

    def flush(self) -> None:
        pass  # nothing was written

    @property
    def buffer(self) -> _ClosedStream:
        return self


def reserve_standard_descriptors() -> None:
    """Descriptors 0-2 closed at start (`<&-`, `>&-`) are given /dev/null, so
    that no file opened later takes their number and receives what is meant
    for stdout or stderr (FFmpeg logs to descriptor 2); a closed stdout then
    says so when written."""
    for fd, mode in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, mode)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdout is None:
        sys.stdout = _ClosedStream()


def silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit raises nothing more."""
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived. A BaseException, as KeyboardInterrupt is:
    it unwinds through every `finally` (temporary files removed) and no
    `except Exception` takes it for a bad input."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum
        self.counts: dict[str, int] | None = None  # what `imgtrans run` had done: ok, skipped, error


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into `Interrupted` in the main thread; later
    signals are ignored while the first one unwinds, so cleanup finishes."""
    signals = (signal.SIGINT, signal.SIGTERM)

    def handler(signum, frame):
        for number in signals:
            signal.signal(number, signal.SIG_IGN)
        raise Interrupted(signum)

    try:
        previous: dict[int, Callable | int | None] = {number: signal.signal(number, handler) for number in signals}
    except ValueError:  # not the main thread (a program embedding the CLI): signals stay as they are
        previous = {}
    try:
        yield
    finally:
        for number, action in previous.items():
            signal.signal(number, action)


def state(ctx: typer.Context) -> AppState:
    return ctx.find_root().obj


class StdoutError(ImgtransError):
    """Standard output cannot be written (a full disk, a closed descriptor)."""

    exit_code = INPUT_ERROR


def print_json_line(obj) -> None:
    import json

    try:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # the reader went away: `main` ends quietly
    except OSError as exc:
        raise StdoutError(f"cannot write to standard output ({exc.strerror or exc})") from None


def write_stdout_bytes(data: bytes) -> None:
    """Bytes to stdout a chunk at a time: one large write into a pipe whose
    reader has gone can end short without an error (the rest silently lost,
    exit 0); the next chunk then fails with EPIPE, as it should."""
    stream = sys.stdout.buffer
    try:
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # an in-memory stream (a test runner's), or a closed one
            stream.write(data)
            stream.flush()
            return
        stream.flush()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view[: 1 << 16]) :]
    except BrokenPipeError:
        raise  # the reader went away: `guard` ends quietly
    except OSError as exc:
        raise StdoutError(f"cannot write to standard output ({exc.strerror or exc})") from None


def human_size(size: float | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return "-"


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """Plain aligned columns on stdout: fast (no layout engine) and pipe-friendly."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    for line in [headers, *rows]:
        sys.stdout.write("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() + "\n")
