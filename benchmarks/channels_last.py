"""Does `channels_last` help `vintage` (instance norm) on this machine?

The generator's whole-image pass on a 512x512 input, fp32 and bf16 autocast,
contiguous vs channels_last memory format; best of 2 after a warm-up, one
process. imgtrans uses channels_last only where this shows it helps.

Usage: python benchmarks/channels_last.py
"""

from __future__ import annotations

import time

import torch

import imgtrans


def best_time(net, x, dtype, channels_last: bool) -> float:
    layout = torch.channels_last if channels_last else torch.contiguous_format
    net, x = net.to(memory_format=layout), x.contiguous(memory_format=layout)
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
        net(x[..., :64, :64])
        times = []
        for _ in range(2):
            start = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    net = imgtrans.load("vintage", device="cpu", precision="fp32").generator
    x = torch.rand(1, 3, 512, 512) * 2 - 1
    print("| precision | contiguous (s) | channels_last (s) |\n| --- | --- | --- |")
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        print(f"| {name} | {best_time(net, x, dtype, False):.2f} | {best_time(net, x, dtype, True):.2f} |")


if __name__ == "__main__":
    main()
