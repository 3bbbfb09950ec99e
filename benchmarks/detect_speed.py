"""How long reading a checkpoint's architecture takes, against loading it.

Builds a reference-layout ResNet generator wide enough for a file of about
200 MB (ngf 136, 9 blocks: 51 M parameters), saves it as a bare state dict in
PyTorch's zip format, in its legacy (pre-1.6) format and as safetensors, and
times, in one process after torch is imported: `inspect_checkpoint` + `choose`
(names and shapes only; what `imgtrans weights inspect` and every `run FILE`
start with) against a full `torch.load` / safetensors load of the same file.
Each figure is the median of 5 runs after one untimed run (the page cache is
warm: this measures the work, not the disk). The last column is a whole
`imgtrans weights inspect FILE` process (start-up and torch import included),
median of 3.

Usage: python benchmarks/detect_speed.py [--ngf 136] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def median_seconds(fn, runs: int = 5) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ngf", type=int, default=136)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch
    from safetensors.torch import load_file, save_file

    from imgtrans.checkpoints.convert import inspect_checkpoint
    from imgtrans.checkpoints.detection import choose
    from imgtrans.hub import default_registry

    registry = default_registry()
    family = registry.family("cyclegan")
    net = family.build_generator(family.make_config({"netG": "resnet_9blocks", "ngf": args.ngf}))
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        files = {
            "zip .pth": Path(folder, "g.pth"),
            "legacy .pth": Path(folder, "legacy.pth"),
            "safetensors": Path(folder, "g.safetensors"),
        }
        torch.save(state, files["zip .pth"])
        torch.save(state, files["legacy .pth"], _use_new_zipfile_serialization=False)
        save_file(state, files["safetensors"])
        for kind, path in files.items():
            def detect(path=path):
                file, report = inspect_checkpoint(registry, path)
                return choose(report, str(path))

            found = detect()
            assert found.config["ngf"] == args.ngf and found.config["netG"] == "resnet_9blocks"
            if kind == "safetensors":
                load = lambda path=path: load_file(str(path))  # noqa: E731
            else:
                load = lambda path=path: torch.load(path, map_location="cpu", weights_only=True)  # noqa: E731
            detect_s, load_s = median_seconds(detect), median_seconds(load)
            command = [sys.executable, "-m", "imgtrans", "weights", "inspect", str(path)]
            process_s = median_seconds(lambda command=command: subprocess.run(command, check=True, capture_output=True),
                                       runs=3)
            rows.append({"format": kind, "megabytes": round(path.stat().st_size / 1e6, 1),
                         "parameters": found.parameters, "detect_ms": round(detect_s * 1e3, 1),
                         "full_load_ms": round(load_s * 1e3, 1), "ratio": round(load_s / detect_s, 2),
                         "inspect_process_ms": round(process_s * 1e3)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| file | size | detect (names and shapes) | full load | load / detect "
          "| `imgtrans weights inspect` process |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['format']} | {r['megabytes']} MB | {r['detect_ms']} ms | {r['full_load_ms']} ms | {r['ratio']}x "
              f"| {r['inspect_process_ms']} ms |")


if __name__ == "__main__":
    main()
