"""Where materialised intermediate maps live: in RAM, or spilled to an unnamed
temporary file (the kernel removes it when it is closed or the process dies,
so nothing is left behind after an error, Ctrl-C or a kill).

Rows are stored contiguously ([H, C, W]) so that a strip is one read or write.
File I/O goes through pread/pwrite rather than mmap: the spilled map then sits
in the page cache, which the kernel may drop, not in the process's memory.
"""

from __future__ import annotations

import os
import tempfile
from typing import IO

import torch


class StoredMap:
    def __init__(self, channels: int, height: int, width: int, *, in_memory: bool,
                 device: torch.device | str | None = None, temp_dir: str | None = None):
        self.device = device
        self.shape = (height, channels, width)
        self.row_bytes = channels * width * 4
        self.nbytes = height * self.row_bytes
        self.in_memory = in_memory
        self.tensor: torch.Tensor | None = torch.empty(self.shape) if in_memory else None
        self.file: IO[bytes] | None = (None if in_memory
                                       else tempfile.TemporaryFile(prefix="imgtrans-map-", dir=temp_dir))

    def _fileno(self) -> int:
        """The spill file's descriptor (a map not in memory has one until closed)."""
        if self.file is None:
            raise ValueError("the stored map is closed")
        return self.file.fileno()

    def write(self, a: int, strip: torch.Tensor) -> None:
        """Store a [1, C, r, W] strip as rows [a, a + r)."""
        rows = strip[0].permute(1, 0, 2).float().cpu()
        if self.tensor is not None:
            self.tensor[a : a + rows.shape[0]] = rows
            return
        fd = self._fileno()
        data = rows.contiguous().numpy()
        # ndarray.data is memoryview(data): numpy's stubs give ndarray __buffer__ only for Python >= 3.12
        view, offset = data.data.cast("B"), a * self.row_bytes
        while len(view):
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written

    def read(self, a: int, b: int) -> torch.Tensor:
        if self.tensor is not None:
            rows = self.tensor[a:b]
        else:
            fd = self._fileno()
            rows = torch.empty((b - a, *self.shape[1:]))
            view, offset = rows.numpy().data.cast("B"), a * self.row_bytes
            while len(view):
                got = os.preadv(fd, [view], offset)
                if got <= 0:
                    raise OSError("spilled map file is shorter than written")
                view, offset = view[got:], offset + got
        rows = rows.permute(1, 0, 2)[None]
        return rows if self.device is None else rows.to(self.device)

    def close(self) -> None:
        self.tensor = None
        if self.file is not None:
            self.file.close()
            self.file = None
