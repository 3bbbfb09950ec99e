"""Start-up time of commands that must not import torch, vs one that does.

Runs each command N times in fresh processes and reports the median wall time.
Usage: python benchmarks/startup.py [-n 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "imgtrans --help": ["--help"],
    "imgtrans models": ["models"],
    "imgtrans plugins": ["plugins"],
    "python -c 'import torch' (for scale)": None,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=7)
    args = parser.parse_args()
    results = {}
    for label, argv in COMMANDS.items():
        cmd = [sys.executable, "-m", "imgtrans", *argv] if argv is not None else [sys.executable, "-c", "import torch"]
        times = []
        for _ in range(args.n):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        results[label] = statistics.median(times)
        print(f"{label:40s} median {results[label] * 1000:7.0f} ms  (min {min(times) * 1000:.0f}, n={args.n})")
    torch_time = results["python -c 'import torch' (for scale)"]
    print(f"imgtrans models / import torch: {results['imgtrans models'] / torch_time:.2f}")


if __name__ == "__main__":
    main()
