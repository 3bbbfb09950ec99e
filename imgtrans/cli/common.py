"""What every command shares: the lazily built registry, stderr console, and
the one-line error convention (exit 2 for usage errors, 1 for failed inputs)."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field

import typer
from rich.console import Console
from rich.markup import escape

from imgtrans.errors import INPUT_ERROR, USAGE_ERROR, ImgtransError  # noqa: F401  (commands import them from here)
from imgtrans.names import escaped


@dataclass
class AppState:
    pm: object = None
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

    def fail(self, message: str, code: int = USAGE_ERROR):
        self.error(message)
        raise typer.Exit(code)


def safe(message: str) -> str:
    """One line for the terminal: control characters (escape sequences, new
    lines from a hostile file name) escaped, rich markup neutralised."""
    return escape(escaped(message))


def guard(command):
    """Wrap a command so that an `ImgtransError` is one line on stderr and its
    exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ImgtransError as exc:
            Console(stderr=True, highlight=False).print(f"[red]imgtrans: error:[/] {safe(str(exc))}", soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


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


def human_size(size: int | None) -> str:
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
