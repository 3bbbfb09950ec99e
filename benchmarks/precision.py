"""Reduced precision against fp32 for every shipped translator, on the example
photos at full resolution (as `imgtrans run` reads them), through the library.

Prints, per model and precision, the worst (lowest) PSNR of the 8-bit outputs
over the photos and the time relative to fp32. The catalogue's
`precision_psnr` entries and the model cards quote these numbers; `--precision
auto` uses a reduced precision only where the figure is 45 dB or better.

Usage: python benchmarks/precision.py [examples/*.jpg] [--json]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from pixels import psnr

import imgtrans
from imgtrans.inference.precision import supported
from imgtrans.io.imageio import decode


def main(argv: list[str]) -> None:
    as_json = "--json" in argv
    photos = [Path(p) for p in argv if p != "--json"] or sorted(Path("examples").glob("*.jpg"))
    import torch

    cpu = torch.device("cpu")
    rows = []
    for info in imgtrans.list_models():
        if info.kind != "translate" or info.weights != "shipped":
            continue
        reference = imgtrans.load(info.name, device="cpu", precision="fp32", dropout=False)
        pictures = [decode(p.read_bytes(), channels=reference.channels).pixels for p in photos]
        start = time.perf_counter()
        expected = [reference.translate_arrays([p])[0] for p in pictures]
        fp32_s = time.perf_counter() - start
        for precision in ("bf16", "fp16"):
            if supported(precision, cpu) is not None:
                continue
            model = imgtrans.load(info.name, device="cpu", precision=precision, dropout=False)
            start = time.perf_counter()
            got = [model.translate_arrays([p])[0] for p in pictures]
            seconds = time.perf_counter() - start
            worst = min(psnr(a, b) for a, b in zip(expected, got))
            rows.append({"model": info.name, "precision": precision, "min_psnr_db": round(worst, 2),
                         "speedup": round(fp32_s / seconds, 2), "photos": len(pictures)})
    if as_json:
        print(json.dumps(rows))
        return
    print("| model | precision | worst PSNR vs fp32 (dB) | speed vs fp32 |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['model']} | {r['precision']} | {r['min_psnr_db']} | {r['speedup']}x |")


if __name__ == "__main__":
    main(sys.argv[1:])
