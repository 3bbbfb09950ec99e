"""Where fp32 inference loses against the matmul peak, and what torch.compile
recovers: `vintage` on 512x512 in one process, eager and compiled
(`imgtrans.load(..., compile=True)`, i.e. `imgtrans run --compile`), for the
whole pipeline and the generator alone, as fractions of this CPU's fp32
matmul peak measured in the same process; with torch's profiler table of the
eager generator and the largest difference between compiled and eager output.

Usage: cd benchmarks && python compiled_inference.py
"""

from __future__ import annotations

import time

import torch
from large_images import flop_count

import imgtrans


def best_of(fn, n: int = 3) -> float:
    best = float("inf")
    for _ in range(n):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    from torch.profiler import ProfilerActivity, profile

    a, b = torch.randn(4096, 4096), torch.randn(4096, 4096)
    torch.mm(a, b)
    peak = 2 * 4096**3 / best_of(lambda: torch.mm(a, b)) / 1e9
    model = imgtrans.load("vintage", device="cpu", precision="fp32", max_memory="8GB")
    flops = flop_count(model, 512, 512)
    pixels = torch.rand(1, 3, 512, 512)
    model(pixels)
    pipeline = flops / best_of(lambda: model(pixels)) / 1e9
    generator = model._translator.generator
    x = torch.rand(1, 3, 512, 512) * 2 - 1
    with torch.no_grad():
        generator(x)
        eager = flops / best_of(lambda: generator(x)) / 1e9
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            generator(x)
    compiled_model = imgtrans.load("vintage", device="cpu", precision="fp32", max_memory="8GB", compile=True)
    start = time.perf_counter()
    compiled_model(pixels)
    compile_s = time.perf_counter() - start
    compiled_pipeline = flops / best_of(lambda: compiled_model(pixels)) / 1e9
    compiled_generator = compiled_model._translator._forward
    with torch.no_grad():
        compiled = flops / best_of(lambda: compiled_generator(x)) / 1e9
        difference = (generator(x) - compiled_generator(x)).abs().max().item()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))
    print(f"fp32 matmul peak {peak:.1f} GFLOP/s; {flops / 1e9:.1f} GFLOP per 512x512 picture")
    print("| path | GFLOP/s | fraction of peak |\n| --- | --- | --- |")
    for label, rate in (("model(pixels), eager", pipeline), ("generator alone, eager", eager),
                        (f"model(pixels), compile=True (first call {compile_s:.1f} s)", compiled_pipeline),
                        ("generator alone, compiled", compiled)):
        print(f"| {label} | {rate:.1f} | {rate / peak:.3f} |")
    print(f"largest difference compiled vs eager: {difference:.2e}")


if __name__ == "__main__":
    main()
