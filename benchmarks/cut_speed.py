"""Training step time and memory of CUT, FastCUT and CycleGAN, in one run.

Each family's recipe with its default (paper) architecture: ResNet-9 with ngf
64, a 3-layer PatchGAN with ndf 64, at --size (256: the papers' crop) and
batch 1, on 16 smooth random pictures per domain saved at load size (286) and
decoded and augmented each step as in training. Each family runs in its own
child process: seconds per step (median after --warmup steps) and the peak
resident memory during the steps (VmHWM, reset just before the first step)
above the process's size before it, plus that size. The paper's claim
(Park et al. 2020, section 4): FastCUT about twice CycleGAN's speed at
about half its memory.

Usage: python benchmarks/cut_speed.py [--size 256] [--steps 8] [--warmup 2] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

FAMILIES = {"CycleGAN": ("cyclegan", {}), "CUT": ("cut", {"preset": "cut"}),
            "FastCUT": ("cut", {"preset": "fastcut"})}


def make_data(root: Path, load: int, n: int = 16) -> None:
    rng = np.random.default_rng(0)
    for folder in ("trainA", "trainB"):
        (root / folder).mkdir(parents=True)
    for i in range(n):
        a = np.asarray(Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((load, load),
                                                                                                 Image.BICUBIC))
        Image.fromarray(a).save(root / "trainA" / f"{i}.png")
        Image.fromarray(255 - a).save(root / "trainB" / f"{i}.png")


def load_size(size: int) -> int:
    """The papers' 286 for a 256 crop, in proportion for others."""
    return size * 286 // 256


def status(key: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def child(label: str, data: Path, size: int, steps: int, warmup: int) -> dict:
    """One family's steps in this process: the recipe called as the engine calls it."""
    import torch

    from imgtrans.plugins import make_plugin_manager
    from imgtrans.registry import Registry
    from imgtrans.training.config import build
    from imgtrans.training.data import collate

    name, options = FAMILIES[label]
    family = Registry.from_plugin_manager(make_plugin_manager(), include_cache=False).family(name)
    config = build(family.train_config, {"crop_size": size, "load_size": load_size(size), **options})
    torch.manual_seed(0)
    recipe = family.make_recipe(config, family, torch.device("cpu"))
    dataset = recipe.dataset(data)

    def update(optimiser: str, loss) -> None:
        opt = recipe.optimizers[optimiser]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    before = status("VmRSS")
    open("/proc/self/clear_refs", "w").write("5")  # the peak from here on
    times = []
    for step in range(steps):
        start = time.perf_counter()
        batch = collate([dataset[step % len(dataset)]])
        recipe.train_step(batch, update)
        times.append(time.perf_counter() - start)
    parameters = {k: sum(p.numel() for p in n.parameters()) for k, n in recipe.networks.items()}
    return {"family": label, "seconds_per_step": statistics.median(times[warmup:]), "rss_before": before,
            "peak_growth": status("VmHWM") - before, "parameters": parameters, "load_size": config.load_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per child (OMP_NUM_THREADS)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.size, args.steps, args.warmup)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        make_data(data, load_size(args.size))
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        for label in FAMILIES:
            done = subprocess.run([sys.executable, __file__, "--child", label, "--data", str(data), "--size",
                                   str(args.size), "--steps", str(args.steps), "--warmup", str(args.warmup)],
                                  capture_output=True, text=True, env=env, check=True)
            rows.append(json.loads(done.stdout.splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    base = rows[0]
    print(f"{args.size}x{args.size}, batch 1, {args.threads} thread(s), median of steps {args.warmup + 1}-{args.steps}")
    print("| family | s/step | speed vs CycleGAN | peak memory above start | vs CycleGAN | parameters (trained) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['family']} | {row['seconds_per_step']:.2f} | "
              f"{base['seconds_per_step'] / row['seconds_per_step']:.2f}x | {row['peak_growth'] / 2**20:.0f} MB | "
              f"{row['peak_growth'] / base['peak_growth']:.2f}x | "
              f"{sum(row['parameters'].values()) / 1e6:.2f} M |")


if __name__ == "__main__":
    main()
