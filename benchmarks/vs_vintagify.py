"""`vintage` in imgtrans against the `vintagify` package it came from, on the
same 20 photos, each used as its users use it.

vintagify: `translate_image(input, output)` per photo (its API: it loads the
model on every call, resizes to 542 and centre-crops 512x512). imgtrans:
`imgtrans run vintage` on all 20 (full resolution, default settings), and the
library with the model loaded once. Needs `pip install vintagify torchvision
matplotlib` (benchmark only; MPLBACKEND=Agg keeps its plt.show() quiet).

Usage: python benchmarks/vs_vintagify.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def photos(folder: Path) -> list[Path]:
    """20 photos of at least 512 px (vintagify refuses smaller): each example
    photo at 5 sizes and crops."""
    paths = []
    for source in sorted((ROOT / "examples").glob("*.jpg")):
        with Image.open(source) as image:
            image = image.convert("RGB")
            for k, (w, h) in enumerate([(640, 512), (768, 576), (800, 600), (1024, 768), (600, 800)]):
                path = folder / f"{source.stem}-{k}.jpg"
                image.resize((w, h), Image.BICUBIC).save(path, quality=95)
                paths.append(path)
    return paths


def main() -> None:
    os.environ["MPLBACKEND"] = "Agg"
    from vintagify.api import translate_image

    import imgtrans

    report = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        inputs = photos(folder)
        megapixels = sum(Image.open(p).size[0] * Image.open(p).size[1] for p in inputs) / 1e6

        start = time.perf_counter()
        for path in inputs:
            translate_image(str(path), str(folder / "vintagify" / path.name))
        seconds = time.perf_counter() - start
        report["vintagify translate_image (512x512 crops)"] = {"seconds": round(seconds, 1),
                                                               "images_per_s": round(20 / seconds, 3),
                                                               "megapixels_out": round(20 * 0.262, 2)}

        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "imgtrans", "run", "vintage", *map(str, inputs),
                        "-o", str(folder / "cli"), "-q"], check=True)
        seconds = time.perf_counter() - start
        report["imgtrans run (full resolution, default settings)"] = {"seconds": round(seconds, 1),
                                                                      "images_per_s": round(20 / seconds, 3),
                                                                      "megapixels_out": round(megapixels, 2)}

        model = imgtrans.load("vintage")
        start = time.perf_counter()
        for path in inputs:
            with Image.open(path) as image:
                model(image)
        seconds = time.perf_counter() - start
        report["imgtrans library, model loaded once (full resolution)"] = {"seconds": round(seconds, 1),
                                                                           "images_per_s": round(20 / seconds, 3),
                                                                           "megapixels_out": round(megapixels, 2)}
        start = time.perf_counter()
        for path in inputs:
            with Image.open(path) as image:
                scale = 542 / min(image.size)
                resized = image.convert("RGB").resize((round(image.size[0] * scale), round(image.size[1] * scale)),
                                                      Image.BICUBIC)
                left, top = (resized.size[0] - 512) // 2, (resized.size[1] - 512) // 2
                model(resized.crop((left, top, left + 512, top + 512)))
        seconds = time.perf_counter() - start
        report["imgtrans library on vintagify's 512x512 crops"] = {"seconds": round(seconds, 1),
                                                                   "images_per_s": round(20 / seconds, 3),
                                                                   "megapixels_out": round(20 * 0.262, 2)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
