"""Sharing a run's inputs among the processes of a torch.distributed job
(torchrun over GPUs or machines): each rank takes a deterministic share,
balanced by estimated work. Torch-free.

Work is estimated from file sizes, which every rank can read cheaply and
alike: a video's bytes count VIDEO_WEIGHT times a picture's, since H.264
packs a frame into far fewer bytes than JPEG or PNG packs a photo.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from imgtrans.io.inputs import Job

VIDEO_WEIGHT = 20


def work(job: Job) -> int:
    try:
        size = job.item.path.stat().st_size
    except OSError:
        size = 0
    return max(size, 1) * (VIDEO_WEIGHT if job.video else 1)


def share(jobs: Sequence[Job], rank: int, world: int) -> list[Job]:
    """Rank `rank`'s jobs: the largest first, each to the rank with the least
    work so far (ties to the lowest rank), so shares are balanced and every
    rank computes the same split. Returned in the original order."""
    if world <= 1:
        return list(jobs)
    order = sorted(range(len(jobs)), key=lambda i: (-work(jobs[i]), str(jobs[i].item.path), i))
    loads = [(0, r) for r in range(world)]
    mine = []
    for index in order:
        load, owner = heapq.heappop(loads)
        if owner == rank:
            mine.append(index)
        heapq.heappush(loads, (load + work(jobs[index]), owner))
    return [jobs[i] for i in sorted(mine)]
