"""Translation throughput and cross-device consistency, measured in one run.

For a model (default: the shipped `vintage`) and one real photo, times the
library's model (`imgtrans.load`, fp32) at several batch sizes on each
available device, and checks that
(a) batched output equals one-by-one output on that device and (b) the GPU
output matches the CPU output (PSNR of the 8-bit images).

Usage: python benchmarks/throughput.py [--model vintage] [--photo examples/astronaut.jpg]
       [--devices cpu,cuda] [--batches 1,4,8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from pixels import psnr

import imgtrans
from imgtrans.io.imageio import decode


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="vintage")
    parser.add_argument("--photo", default="examples/astronaut.jpg")
    parser.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batches", default="1,4,8")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    pixels = decode(Path(args.photo).read_bytes()).pixels
    print(f"model {args.model}, photo {args.photo} {pixels.shape[1]}x{pixels.shape[0]}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    reference_output = None
    rates = {}
    for device_name in args.devices.split(","):
        device = torch.device(device_name)
        translator = imgtrans.load(args.model, device=device_name, precision="fp32", seed=0,
                                   max_memory="16GB").translate_arrays
        single = translator([pixels])[0]  # also the warm-up
        if reference_output is None:
            reference_output = single
        else:
            print(f"  {device_name} vs {args.devices.split(',')[0]}: PSNR {psnr(single, reference_output):.2f} dB, "
                  f"max pixel diff {np.abs(single.astype(int) - reference_output.astype(int)).max()}")
        for batch in map(int, args.batches.split(",")):
            images = [pixels] * batch
            outputs = translator(images)
            same = max(int(np.abs(o.astype(int) - single.astype(int)).max()) for o in outputs)
            sync(device)
            start = time.perf_counter()
            for _ in range(args.repeat):
                translator(images)
            sync(device)
            rate = batch * args.repeat / (time.perf_counter() - start)
            rates[(device_name, batch)] = rate
            print(f"  {device_name:6s} batch {batch:2d}: {rate:8.2f} images/s   "
                  f"batched vs single max pixel diff {same}")
    base = rates[(args.devices.split(",")[0], 1)]
    for (device_name, batch), rate in rates.items():
        print(f"  ratio {device_name} batch {batch} / {args.devices.split(',')[0]} batch 1: {rate / base:.1f}x")


if __name__ == "__main__":
    main()
