"""The papers' loss ablations at small scale, trained and evaluated here.

  pix2pix   edges -> items, paired (the edges dataset's train/ and test/):
            L1 alone (--lambda-gan 0), cGAN alone (--lambda-l1 0), cGAN + L1
  cyclegan  edges <-> items trained unpaired (trainA/ edges and trainB/ items
            from disjoint halves), scored against the paired test/ split:
            cycle alone (--lambda-gan 0), GAN alone (--lambda-cycle 0),
            GAN + cycle (--lambda-identity 0), GAN + cycle + identity (0.5)

Each arm is an `imgtrans train` run (runs/abl-FAMILY-ARM; a finished run is
reused, an unfinished one resumed), exported under its run name and scored
with `imgtrans eval --json` (Fréchet distance in the fashion classifier's
features). Prints markdown tables; --json for the raw figures; --grid FILE
also writes the first test input of each class above every arm's output.

Usage: python benchmarks/ablations.py {pix2pix,cyclegan} [--data data/edges]
       [--runs runs] [--epochs N] [--seed 0] [--jobs 2] [--threads N] [--grid FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

SMALL = ["--input-nc", "1", "--output-nc", "1", "--load-size", "32", "--crop-size", "32", "--preprocess", "none",
         "--n-layers-D", "2"]
RECIPES = {
    "pix2pix": {
        "common": ["--plugin", "pix2pix", "--netG", "unet_32", "--ngf", "32", "--ndf", "32", "--norm", "instance",
                   "--batch-size", "16", *SMALL],
        "arms": {"l1": ["--lambda-gan", "0"], "gan": ["--lambda-l1", "0"], "gan+l1": []},
        "epochs": 5,
        "directions": ["AtoB"],
    },
    "cyclegan": {
        "common": ["--plugin", "cyclegan", "--netG", "resnet_6blocks", "--ngf", "16", "--ndf", "16",
                   "--batch-size", "8", *SMALL],
        "arms": {"cycle": ["--lambda-gan", "0", "--lambda-identity", "0"], "gan": ["--lambda-cycle", "0"],
                 "gan+cycle": ["--lambda-identity", "0"], "gan+cycle+identity": []},
        "epochs": 3,
        "directions": ["AtoB", "BtoA"],
    },
}


def run(command: list[str], threads: int) -> subprocess.Popen:
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


def train_arms(family: str, args) -> dict[str, str]:
    """Train (or resume) every arm not finished yet, `--jobs` at a time."""
    recipe, names = RECIPES[family], {}
    pending = []
    for arm, flags in recipe["arms"].items():
        name = f"abl-{family}-{arm}" + (f"-s{args.seed}" if args.seed else "")
        names[arm] = name
        folder = args.runs / name
        if (folder / "summary.json").is_file():
            continue
        if folder.exists():
            pending.append(["imgtrans", "train", "--resume", str(folder)])
        else:
            pending.append(["imgtrans", "train", *recipe["common"], *flags, "--data", str(args.data), "--name", name,
                            "--out", str(args.runs), "--epochs", str(args.epochs), "--epochs-decay", str(args.epochs),
                            "--sample-every", "1000", "--save-every", "500", "--device", "cpu",
                            "--seed", str(args.seed)])
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    while pending:
        batch, pending = pending[: args.jobs], pending[args.jobs :]
        for process in [run(command, threads) for command in batch]:
            if process.wait() != 0:
                sys.exit(f"training failed: {process.args}")
    return names


def evaluate(name: str, data: Path, direction: str) -> dict:
    command = ["imgtrans", "eval", name, "--data", str(data), "--classifier", "fashion", "--direction", direction,
               "--device", "cpu", "--json"]
    if direction == "BtoA":
        command[2] = f"{name}-reverse"
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def table(family: str, results: dict) -> str:
    lines = []
    for direction in RECIPES[family]["directions"]:
        lines += [f"{family}, {direction} ({'edges -> items' if direction == 'AtoB' else 'items -> edges'}):", "",
                  "| arm | L1 | PSNR (dB) | SSIM | FD out vs test | FD train vs test (floor) |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for arm, by_direction in results.items():
            r = by_direction[direction]
            lines.append(f"| {arm} | {r['l1']:.4f} | {r['psnr']:.2f} | {r['ssim']:.4f} "
                         f"| {r['frechet']['generated_vs_test']:.2f} "
                         f"| {r['frechet']['train_vs_test']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def grid(names: dict[str, str], data: Path, path: Path) -> None:
    """Row 1: the first test edge map of each class; then one row per arm (A -> B)."""
    import tempfile

    import numpy as np
    from PIL import Image
    from quality import FASHION_ORDER, run_model, save_grid

    pairs = sorted((data / "test").glob("*.png"))
    firsts = [next(p for p in pairs if p.stem.split("_", 1)[1] == label) for label in FASHION_ORDER]
    edges = [np.asarray(Image.open(p).convert("L"))[:, :32] for p in firsts]
    with tempfile.TemporaryDirectory() as tmp:
        save_grid([edges] + [run_model(name, edges, Path(tmp)) for name in names.values()], path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", choices=list(RECIPES))
    parser.add_argument("--data", type=Path, default=Path("data/edges"), help="made by scripts/make_datasets.py edges")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--epochs", type=int,
                        help="epochs at full rate, then as many decaying [default: pix2pix 5, cyclegan 3]")
    parser.add_argument("--seed", type=int, default=0, help="training seed (runs of seed S > 0 are named ...-sS)")
    parser.add_argument("--jobs", type=int, default=2, help="arms trained at once (threads split between them)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per arm [default: cores / jobs]")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--grid", type=Path, help="also write example outputs of every arm to this PNG")
    args = parser.parse_args()
    args.epochs = args.epochs or RECIPES[args.family]["epochs"]
    names = train_arms(args.family, args)
    if args.grid:
        grid(names, args.data, args.grid)
    results = {arm: {d: evaluate(name, args.data, d) for d in RECIPES[args.family]["directions"]}
               for arm, name in names.items()}
    print(json.dumps(results, indent=1) if args.json else table(args.family, results))


if __name__ == "__main__":
    main()
