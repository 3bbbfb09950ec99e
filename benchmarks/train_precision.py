"""Does bf16 training keep quality? Short pix2pix and CycleGAN runs on the
edges data (the full recipes of benchmarks/ablations.py), fp32 and bf16,
seeds 0 and 1, scored by `imgtrans eval` on the paired test split.

The question is whether bf16 moves the figures by more than changing the seed
does: the table gives, per measure, the bf16 mean minus the fp32 mean next to
the spread between the two seeds of each precision. `--plot FILE` draws the loss curves
(moving average over 50 steps) of all runs.

Runs are named prec-FAMILY-PRECISION-sSEED under --runs (a finished run is
reused, an unfinished one resumed).
Usage: python benchmarks/train_precision.py [--data data/edges] [--runs runs]
       [--jobs 2] [--plot docs/train-precision.png] [--json]
Needs: python scripts/make_datasets.py edges data/edges; matplotlib for --plot.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from ablations import RECIPES, evaluate, run  # noqa: E402

FULL_ARM = {"pix2pix": "gan+l1", "cyclegan": "gan+cycle+identity"}
EPOCHS = {"pix2pix": 2, "cyclegan": 1}  # at full rate, then as many decaying
PRECISIONS = ("fp32", "bf16")
SEEDS = (0, 1)
MEASURES = ("l1", "psnr", "ssim", "frechet")
PLOTTED = {"pix2pix": ("G_L1", "D_fake"), "cyclegan": ("cycle_A", "D_A")}


def name(family: str, precision: str, seed: int) -> str:
    return f"prec-{family}-{precision}-s{seed}"


def train_all(args) -> None:
    pending = []
    for family in RECIPES:
        recipe = RECIPES[family]
        for precision in PRECISIONS:
            for seed in SEEDS:
                folder = args.runs / name(family, precision, seed)
                if (folder / "summary.json").is_file():
                    continue
                if folder.exists():
                    pending.append(["imgtrans", "train", "--resume", str(folder), "--workers", "0"])
                    continue
                pending.append(["imgtrans", "train", *recipe["common"], *recipe["arms"][FULL_ARM[family]],
                                "--data", str(args.data), "--name", name(family, precision, seed),
                                "--out", str(args.runs),
                                "--epochs", str(EPOCHS[family]), "--epochs-decay", str(EPOCHS[family]),
                                "--sample-every", "100000", "--save-every", "500", "--device", "cpu",
                                "--seed", str(seed),
                                "--precision", precision, "--workers", "0"])
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    while pending:
        batch, pending = pending[: args.jobs], pending[args.jobs :]
        for process in [run(command, threads) for command in batch]:
            if process.wait() != 0:
                sys.exit(f"training failed: {process.args}")


def value(result: dict, measure: str) -> float:
    return result["frechet"]["generated_vs_test"] if measure == "frechet" else result[measure]


def table(results: dict) -> str:
    lines = ["| family, direction | measure | fp32 s0 | fp32 s1 | bf16 s0 | bf16 s1 | bf16 - fp32 (means) "
             "| seed spread fp32 / bf16 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for family in RECIPES:
        for direction in RECIPES[family]["directions"]:
            for measure in MEASURES:
                figures = {(p, s): value(results[name(family, p, s)][direction], measure)
                           for p in PRECISIONS for s in SEEDS}
                fp32, bf16 = [figures["fp32", s] for s in SEEDS], [figures["bf16", s] for s in SEEDS]
                shown = " | ".join(f"{figures[p, s]:.4g}" for p in PRECISIONS for s in SEEDS)
                lines.append(f"| {family} {direction} "
                             f"| {'FD out vs test' if measure == 'frechet' else measure} | {shown} "
                             f"| {statistics.mean(bf16) - statistics.mean(fp32):+.3g} "
                             f"| {abs(fp32[0] - fp32[1]):.3g} / {abs(bf16[0] - bf16[1]):.3g} |")
    return "\n".join(lines)


def plot(runs: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    panels = [(family, loss) for family in RECIPES for loss in PLOTTED[family]]
    for ax, (family, loss) in zip(axes, panels):
        for precision, style in zip(PRECISIONS, ("-", "--")):
            for seed, colour in zip(SEEDS, ("tab:blue", "tab:orange")):
                rows = [json.loads(line)
                        for line in (runs / name(family, precision, seed) / "losses.jsonl").read_text().splitlines()]
                values = np.convolve([r[loss] for r in rows], np.ones(50) / 50, mode="valid")
                ax.plot(np.arange(len(values)) + 50, values, style, color=colour, label=f"{precision} seed {seed}",
                        linewidth=1)
        ax.set_title(f"{family}: {loss}")
        ax.set_xlabel("step")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/edges"))
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    train_all(args)
    results = {name(f, p, s): {d: evaluate(name(f, p, s), args.data, d) for d in RECIPES[f]["directions"]}
               for f in RECIPES for p in PRECISIONS for s in SEEDS}
    if args.plot:
        plot(args.runs, args.plot)
    print(json.dumps(results, indent=1) if args.json else table(results))


if __name__ == "__main__":
    main()
