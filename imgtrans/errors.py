"""Every error imgtrans raises for a user's mistake or a bad input.

One base class, so a program (or the CLI) catches `ImgtransError` and shows
its one-line message; `exit_code` says what the CLI exits with: 2 for usage
errors (unknown model, missing weights, bad option), 1 for an input that
could not be processed. Torch-free.
"""

from __future__ import annotations

USAGE_ERROR = 2
INPUT_ERROR = 1


class ImgtransError(Exception):
    """Base of every imgtrans error; the message is one line a user can act on."""

    exit_code = USAGE_ERROR


class OptionError(ImgtransError, ValueError):
    """An option value that cannot be used (a bad size, precision, label ...)."""


class ModelKindError(ImgtransError, TypeError):
    """The model exists but is of the other kind (translator vs conditional)."""


def check_seed(seed: int | None) -> None:
    """Seeds are 0 .. 2**63 - 1 (what torch and numpy generators accept)."""
    if seed is not None and not 0 <= seed < 2**63:
        raise OptionError(f"seed must be between 0 and 2**63 - 1, not {seed}")
