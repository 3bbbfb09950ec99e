"""This process's place in a torch.distributed group, for training (data
parallel) and inference (each rank a share of the inputs) alike."""

from __future__ import annotations

import inspect
import os
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import torch
import torch.distributed as dist


@dataclass
class Distributed:
    """This process's place in a torch.distributed group (world 1 when alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls, device_type: str, *, backend: str | None = None) -> Distributed:
        """Join the group torchrun describes in the environment, if any
        (NCCL for CUDA tensors, else gloo; `backend` chooses)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group(backend=backend or ("nccl" if device_type == "cuda" else "gloo"))
        return cls(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", "0")))

    def wrap(self, networks: dict[str, torch.nn.Module], device: torch.device) -> dict[str, torch.nn.Module]:
        """Each trainable network in DistributedDataParallel: gradients are
        averaged in buckets while the backward pass is still running.

        Buffers (batch-norm statistics) are not broadcast at each forward:
        the engine aligns them after each step, so that a forward on one rank
        alone (sampling) never waits for the others.
        """
        if not self.enabled:
            return networks
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
        # torch 2.15 renamed the option (the old name warns); older releases know only the old one.
        no_forward_sync: dict[str, Any] = ({"forward_sync_buffers": False}
                           if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                           else {"broadcast_buffers": False})
        return {name: DistributedDataParallel(net, device_ids=ids, **no_forward_sync)
                if any(p.requires_grad for p in net.parameters()) else net for name, net in networks.items()}

    def exit(self, code: int) -> NoReturn:
        """Leave the group and end this worker process now, without the
        interpreter's finalisation.

        After DistributedDataParallel has run, the gloo group's threads outlive
        destroy_process_group still holding work, and freeing it while Python
        shuts down aborts at random ("terminate called without an active
        exception", SIGABRT): torchrun then reports a finished run as failed.
        `python scripts/distributed_exit.py` counts the aborts of each ending.
        """
        if dist.is_initialized():
            dist.destroy_process_group()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    def broadcast(self, networks) -> None:
        """Rank 0's parameters and buffers (batch-norm statistics) to all ranks."""
        if not self.enabled:
            return
        for net in networks:
            for tensor in [*net.parameters(), *net.buffers()]:
                dist.broadcast(tensor.data, 0)

    def gather(self, value: Any) -> list[Any]:
        """Every rank's `value` (picklable), in rank order, on every rank."""
        if not self.enabled:
            return [value]
        values: list[Any] = [None] * self.world
        dist.all_gather_object(values, value)
        return values

    def share(self, value: Any) -> Any:
        """Rank 0's `value` (picklable), on every rank."""
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()
