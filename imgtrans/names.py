"""Names that become paths: one rule, checked in one place (torch-free).

Model, run, label and suffix names come from the command line and from
weights files someone else made; a name with a separator, `..`, NUL or a
control character could write or delete outside the folder it belongs to. A
valid component is refused nothing else; `inside()` is the final check that
a resolved path stays in its folder. `printable()` escapes control characters
so that a file name cannot inject terminal escape sequences into a message.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from imgtrans.errors import OptionError

MAX_NAME_BYTES = 200  # leaves room for a suffix and an extension under NAME_MAX (255)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class UnsafeNameError(OptionError):
    """A name that cannot be used as a file name."""


def check_component(name: str, what: str, *, allow_empty: bool = False) -> str:
    """`name` if it is a single safe path component, else UnsafeNameError."""
    if not isinstance(name, str):
        raise UnsafeNameError(f"{what} must be text, not {type(name).__name__}")
    if not name:
        if allow_empty:
            return name
        raise UnsafeNameError(f"{what} is empty")
    reason = None
    if "/" in name or "\\" in name:
        reason = "contains a path separator"
    elif name in (".", "..") or ".." in name.split("."):
        reason = "contains '..'"
    elif _CONTROL.search(name):
        reason = "contains a control character"
    elif len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        reason = f"is longer than {MAX_NAME_BYTES} bytes"
    elif name != name.strip():
        reason = "starts or ends with white space"
    elif any(unicodedata.category(ch) == "Cs" for ch in name):
        reason = "is not valid text"
    if reason:
        raise UnsafeNameError(f"{what} {printable(name)!s} {reason}")
    return name


def inside(path: Path, folder: Path, what: str) -> Path:
    """`path` if it resolves inside `folder`, else UnsafeNameError."""
    resolved, root = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    if resolved != root and root not in resolved.parents:
        raise UnsafeNameError(f"{what} {printable(str(path))} would be outside {printable(str(folder))}")
    return path


def escaped(text: str) -> str:
    """`text` with each control character written as its escape (\\x1b, \\n)."""
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def printable(text: str) -> str:
    """`text` with control characters escaped (\\x1b, \\n, ...), quoted if changed."""
    if not _CONTROL.search(text):
        return text
    return repr(text)
