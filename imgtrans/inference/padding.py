"""Reflection padding as index arithmetic, shared by the whole-image and the
streamed paths so both pad a picture identically (numpy only)."""

from __future__ import annotations

import numpy as np


class PaddingError(ValueError):
    pass


def reflect_index(n: int, before: int, after: int, *, repeat: bool = True) -> np.ndarray:
    """Indices of a length-`n` axis reflect-padded by (before, after).

    With `repeat`, padding wider than the axis reflects again and again (and a
    1-long axis is replicated), so small pictures reach large multiples (U-Net
    256); without it, torch's single reflection (an error when too wide).
    """
    index = np.arange(n)
    while before or after:
        step_before, step_after = min(before, len(index) - 1), min(after, len(index) - 1)
        if not (step_before or step_after):
            return np.concatenate([np.repeat(index[:1], before), index, np.repeat(index[-1:], after)])
        if not repeat and (step_before < before or step_after < after):
            raise PaddingError("reflection padding wider than the map")
        index = np.concatenate([index[1 : step_before + 1][::-1], index, index[len(index) - 1 - step_after : -1][::-1]])
        before, after = before - step_before, after - step_after
    return index


def padded_size(size: int, multiple: int, minimum: int = 1) -> int:
    """`size` rounded up to a multiple, and to at least `minimum`."""
    return max(size + -size % multiple, minimum + -minimum % multiple)


def padding_for(size: int, multiple: int, minimum: int = 1) -> tuple[int, int]:
    """(before, after) padding that takes `size` to `padded_size`, centred."""
    need = padded_size(size, multiple, minimum) - size
    return need // 2, need - need // 2
