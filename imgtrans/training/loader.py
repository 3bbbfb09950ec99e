"""Batches off the compute path: worker processes decode and augment the next
batches while the current one trains.

Every example is a pure function of (seed, epoch, index) (see `data.py`), and
the order of batches a pure function of (seed, epoch, rank, world), so the
number of workers never changes what a run computes, and a resumed run starts
the stream exactly at the batch the checkpoint stopped before.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from imgtrans.errors import ImgtransError
from imgtrans.training.data import DatasetError, collate, epoch_batches


@dataclass(frozen=True)
class Position:
    """Where a run stands: the next batch is `batch_index` of `epoch`."""

    epoch: int
    batch_index: int


class RunBatches(Sampler):
    """This rank's batches from `start` to the end of the schedule, each a
    list of (epoch, index) keys."""

    def __init__(self, size: int, batch_size: int, *, seed: int, rank: int, world: int, start: Position, epochs: int):
        self.size, self.batch_size, self.seed, self.rank, self.world = size, batch_size, seed, rank, world
        self.start, self.epochs = start, epochs

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for epoch in range(self.start.epoch, self.epochs):
            batches = epoch_batches(self.size, self.batch_size, seed=self.seed, epoch=epoch, rank=self.rank,
                                    world=self.world)
            first = self.start.batch_index if epoch == self.start.epoch else 0
            for batch in batches[first:]:
                yield [(epoch, index) for index in batch]


@dataclass(frozen=True)
class Failed:
    """An example that could not be read, carried back from a worker so the
    run stops with the one-line reason rather than a worker traceback."""

    message: str


class EpochItems(Dataset):
    """A recipe's dataset addressed by (epoch, index)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        self.dataset.epoch = epoch
        try:
            return self.dataset[index]
        except ImgtransError as exc:
            return Failed(str(exc))


def collate_or_fail(items: list) -> dict | Failed:
    failed = [item for item in items if isinstance(item, Failed)]
    return failed[0] if failed else collate(items)


def default_workers(device: torch.device) -> int:
    """On a GPU, workers keep it fed (up to 8, a core left for the training
    process). On the CPU none: a worker takes cores from the training threads,
    which measured slower than decoding in the loop (docs/benchmarks.md)."""
    if device.type == "cpu":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, cores - 1))


def batches(dataset, sampler: RunBatches, *, workers: int, device: torch.device,
            seed: int) -> Generator[dict, None, None]:
    """Batches on `device`, prepared `workers` processes ahead (0: in this process)."""
    loader = DataLoader(
        EpochItems(dataset),
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=collate_or_fail,
        pin_memory=device.type == "cuda",
        prefetch_factor=2 if workers else None,
        # The loader draws a base seed per iterator; from its own generator,
        # so that workers or not, the global RNG the networks use is untouched.
        generator=torch.Generator().manual_seed(seed),
    )
    for batch in loader:
        if isinstance(batch, Failed):
            raise DatasetError(batch.message)
        yield {key: value.to(device, non_blocking=True) for key, value in batch.items()}
