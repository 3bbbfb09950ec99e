"""How often a two-process gloo DistributedDataParallel run aborts at exit,
for each way a worker can end. Why `Distributed.exit` (imgtrans/
distributed.py) ends workers with os._exit: with the group left open or destroyed,
Python's finalisation frees gloo's work while its threads still run, and the
process can abort ("terminate called without an active exception").

Usage: python scripts/distributed_exit.py [--runs 30] [--ending open|destroy|exit ...]
Each run: torch.distributed.run, 2 CPU processes, a Linear(64, 64) under DDP,
5 backward passes and one all_gather_object, then the chosen ending.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

ENDINGS = ("open", "destroy", "exit")


def worker(ending: str) -> None:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo")
    net = DistributedDataParallel(torch.nn.Linear(64, 64))
    for _ in range(5):
        net(torch.randn(8, 64)).sum().backward()
    dist.all_gather_object([None] * dist.get_world_size(), "done")
    if ending in ("destroy", "exit"):
        dist.destroy_process_group()
    if ending == "exit":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--ending", action="append", choices=ENDINGS)
    parser.add_argument("--worker", choices=ENDINGS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for ending in args.ending or ENDINGS:
        aborted = 0
        for _ in range(args.runs):
            run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                  "--nproc_per_node", "2", __file__, "--worker", ending],
                                 env=env, capture_output=True, text=True, timeout=300)
            aborted += run.returncode != 0
        print(f"{ending}: {aborted} of {args.runs} runs failed", flush=True)


if __name__ == "__main__":
    main()
