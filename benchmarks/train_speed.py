"""Training speed of the default CycleGAN and pix2pix recipes on synthetic data.

Makes a small dataset of smooth random pictures, then runs `imgtrans train`
for --steps steps per configuration and reports steps/s from summary.json.
Usage: python benchmarks/train_speed.py [--device cuda] [--steps 60] [--amp]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def make_data(root: Path, n: int = 16, size: int = 286) -> None:
    rng = np.random.default_rng(0)
    for folder in ("uns/trainA", "uns/trainB", "al/train"):
        (root / folder).mkdir(parents=True)
    for i in range(n):
        a = np.asarray(Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((size, size), Image.BICUBIC))
        Image.fromarray(a).save(root / "uns/trainA" / f"{i}.png")
        Image.fromarray(255 - a).save(root / "uns/trainB" / f"{i}.png")
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(root / "al/train" / f"{i}.png")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--amp", action="store_true", help="also measure with --amp")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_data(root)
        rates = {}
        for plugin, data in (("cyclegan", "uns"), ("pix2pix", "al")):
            for amp in ([False, True] if args.amp else [False]):
                name = f"{plugin}{'-amp' if amp else ''}"
                command = [sys.executable, "-m", "imgtrans", "train", "--plugin", plugin, "--data", str(root / data),
                           "--name", name, "--out", str(root / "runs"), "--device", args.device,
                           "--max-steps", str(args.steps), "--sample-every", "100000", "--save-every", "100000"]
                subprocess.run(command + (["--amp"] if amp else []), check=True, capture_output=True,
                               env={"IMGTRANS_HOME": str(root / "home"), **__import__("os").environ})
                summary = json.loads((root / "runs" / name / "summary.json").read_text())
                rates[name] = summary["step"] / summary["seconds"]
                losses = ", ".join(f"{k} {v:.3f}" for k, v in summary["losses"].items())
                print(f"{name:14s} {args.device}: {rates[name]:7.2f} steps/s ({summary['step']} steps, batch 1, 256x256); last losses {losses}")
        for plugin in ("cyclegan", "pix2pix"):
            if f"{plugin}-amp" in rates:
                print(f"{plugin}: --amp / fp32 = {rates[plugin + '-amp'] / rates[plugin]:.2f}x")


if __name__ == "__main__":
    main()
