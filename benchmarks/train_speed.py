"""Training speed: `imgtrans.train` (the library call behind `imgtrans train`;
fp32 / bf16, with and without a data worker, optionally torch.compile) against
a plain fp32 loop in the reference implementation's style, for CycleGAN and
pix2pix at each --sizes.

The data: 16 smooth random pictures per domain, saved as PNG at load size
(286 for a 256 crop), decoded and augmented on every step as in training.

Reference style: the loop of the reference's train.py in this process:
torchvision's Resize/RandomCrop/RandomHorizontalFlip/ToTensor/Normalize on
each Pillow image inside the loop, then the same optimize_parameters (the
recipe's train_step: identical networks and losses), torch's default Adam,
zero_grad/backward/step in fp32, every loss read back as a float each step
(as the issue describing the reference's loop says it does). Its time per
step is what the reference ran here (3.09 s at 128x128, the same as
`imgtrans train` before this work).

Per configuration: seconds per step after the first --warmup steps (the
reference-style loop: the median step; imgtrans: the time from the end of the
warm-up to the end of the run, which on CUDA includes the device catching up,
since losses are read back only every few steps), the fraction of the run
spent waiting for data (summary.json), and steps/s relative to the
reference-style loop. All runs are in one invocation; ratios are from the same
run.

Usage: python benchmarks/train_speed.py [--sizes 128 256] [--families cyclegan pix2pix]
       [--steps 8] [--warmup 2] [--compile] [--device cpu] [--precisions fp32 bf16]
       [--batch-size 1] [--json]
Needs torchvision (benchmark only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

DATA = {"cyclegan": "unaligned", "pix2pix": "aligned"}


def make_data(root: Path, load: int, n: int = 16) -> None:
    rng = np.random.default_rng(0)
    for folder in ("unaligned/trainA", "unaligned/trainB", "aligned/train"):
        (root / folder).mkdir(parents=True)
    for i in range(n):
        noise = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
        a = np.asarray(noise.resize((load, load), Image.Resampling.BICUBIC))
        Image.fromarray(a).save(root / "unaligned/trainA" / f"{i}.png")
        Image.fromarray(255 - a).save(root / "unaligned/trainB" / f"{i}.png")
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(root / "aligned/train" / f"{i}.png")


def median_step(times: list[float], warmup: int) -> float:
    steps = [b - a for a, b in zip([0.0, *times], times)]
    return statistics.median(steps[warmup:])


def network_flags(family: str, size: int) -> dict[str, str]:
    """pix2pix's U-Net-256 needs 256x256 (its 1x1 bottleneck has batch norm); the reference uses unet_128 at 128."""
    return {"netG": "unet_128"} if family == "pix2pix" and size == 128 else {}


def reference_style(family_name: str, data: Path, size: int, load: int, steps: int, warmup: int, device: str,
                    batch_size: int = 1) -> dict:
    """The reference's loop: data decoded and transformed in the loop, fp32."""
    import torch
    import torchvision.transforms as T

    from imgtrans.plugins import make_plugin_manager
    from imgtrans.registry import Registry
    from imgtrans.training.config import build
    from imgtrans.training.engine import Updater, seed_everything

    family = Registry.from_plugin_manager(make_plugin_manager(), include_cache=False).family(family_name)
    config = build(family.train_config, {"crop_size": size, "load_size": load, "batch_size": batch_size,
                                         **network_flags(family_name, size)})
    seed_everything(0)
    recipe = family.make_recipe(config, family, torch.device(device))
    # The reference's optimiser: torch's default Adam (a loop over tensors on the CPU).
    update = Updater({name: torch.optim.Adam(opt.param_groups[0]["params"], lr=config.lr, betas=(config.beta1, 0.999))
                      for name, opt in recipe.optimizers.items()})
    transform = T.Compose([T.Resize([load, load], T.InterpolationMode.BICUBIC), T.RandomCrop(size),
                           T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])
    if family_name == "cyclegan":
        a_files, b_files = sorted((data / "trainA").glob("*.png")), sorted((data / "trainB").glob("*.png"))
    else:
        pairs = sorted((data / "train").glob("*.png"))
    rng = np.random.default_rng(0)
    times, start = [], time.perf_counter()
    for step in range(steps):
        pictures = []
        for item in range(step * batch_size, (step + 1) * batch_size):
            if family_name == "cyclegan":
                a = transform(Image.open(a_files[item % len(a_files)]).convert("RGB"))
                b = transform(Image.open(b_files[int(rng.integers(len(b_files)))]).convert("RGB"))
            else:
                ab = Image.open(pairs[item % len(pairs)]).convert("RGB")
                w, h = ab.size
                a, b = transform(ab.crop((0, 0, w // 2, h))), transform(ab.crop((w // 2, 0, w, h)))
            pictures.append((a, b))
        batch = {"A": torch.stack([a for a, _ in pictures]).to(device),
                 "B": torch.stack([b for _, b in pictures]).to(device)}
        {name: float(value) for name, value in recipe.train_step(batch, update).items()}
        times.append(time.perf_counter() - start)
    return {"seconds_per_step": median_step(times, warmup), "data_wait_fraction": None, "first_step": times[0]}


def imgtrans_train(family: str, data: Path, root: Path, name: str, size: int, load: int, steps: int, warmup: int,
                   device: str, setting: dict) -> dict:
    import imgtrans

    options = {"crop_size": size, "load_size": load, "max_steps": steps, "sample_every": 100000,
               "save_every": 100000, "precision": setting["precision"], "batch_size": setting["batch_size"],
               **network_flags(family, size)}
    result = imgtrans.train(family, data, name, options=options, runs=root / "runs", device=device,
                            workers=setting["workers"], compile=setting.get("compile", False), publish=False)
    times = [json.loads(line)["time"] for line in (result.run_path / "losses.jsonl").read_text().splitlines()]
    return {"seconds_per_step": (result.seconds - times[warmup - 1]) / (steps - warmup) if warmup else
            result.seconds / steps, "data_wait_fraction": result.summary["data_wait_fraction"], "first_step": times[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--families", nargs="+", default=["cyclegan", "pix2pix"], choices=list(DATA))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the median")
    parser.add_argument("--compile", action="store_true", help="also bf16 with --compile (minutes of compiling)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", nargs="+", help="[default: fp32 bf16 on the CPU, fp32 bf16 fp16 on CUDA]")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    precisions = args.precisions or (["fp32", "bf16"] if args.device == "cpu" else ["fp32", "bf16", "fp16"])
    configs = {}
    for precision in precisions:
        for workers in ("0", "1"):
            label = f"imgtrans {precision}, {'no' if workers == '0' else '1'} worker"
            configs[label] = {"precision": precision, "workers": int(workers), "batch_size": args.batch_size}
    if args.compile:
        fast = precisions[-1]
        configs[f"imgtrans {fast}, 1 worker, --compile"] = {"precision": fast, "workers": 1, "compile": True,
                                                           "batch_size": args.batch_size}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["IMGTRANS_HOME"] = str(Path(tmp) / "home")
        for size in args.sizes:
            load = round(size * 286 / 256)  # the reference's 286 for 256
            root = Path(tmp) / str(size)
            make_data(root, load)
            for family in args.families:
                data = root / DATA[family]
                key = f"{family} {size}x{size}"
                rows = {"reference-style fp32 loop": reference_style(family, data, size, load, args.steps, args.warmup,
                                                                     args.device, args.batch_size)}
                for label, flags in configs.items():
                    name = f"{family}-{len(rows)}"
                    rows[label] = imgtrans_train(family, data, root, name, size, load, args.steps, args.warmup,
                                                 args.device, flags)
                base = rows["reference-style fp32 loop"]["seconds_per_step"]
                for row in rows.values():
                    row["speedup"] = base / row["seconds_per_step"]
                results[key] = rows
                print(f"{key}: " + "; ".join(f"{k} {v['seconds_per_step']:.2f} s" for k, v in rows.items()),
                      file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print("| run | configuration | s/step | steps/s vs reference style | waiting for data | first step (s) |\n"
          "| --- | --- | --- | --- | --- | --- |")
    for key, rows in results.items():
        for label, row in rows.items():
            wait = "in the loop" if row["data_wait_fraction"] is None else f"{100 * row['data_wait_fraction']:.1f}%"
            print(f"| {key} | {label} | {row['seconds_per_step']:.2f} | {row['speedup']:.2f}x | {wait} "
                  f"| {row['first_step']:.1f} |")


if __name__ == "__main__":
    main()
