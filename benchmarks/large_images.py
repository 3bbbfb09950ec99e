"""Large photos through `vintage`: wall time and peak RSS of `imgtrans run`, as a
user runs it, for whole-image and streamed inference, fp32 and bf16; the
GFLOP/s reached against this CPU's matmul peak; and the seams that naive
independent tiles leave, next to the streamed result.

Each configuration is a separate `imgtrans run` process; its peak RSS comes
from wait4(). Photos are an example photo resized to the size (real content,
JPEG q95). Writes a Markdown table, JSON and a plot (time and RSS against
megapixels) and the seam crops.

Usage: python benchmarks/large_images.py [--sizes 1,3,12,24,48] [--huge] [--out bench-out]
  --huge adds the 100 MP photo with --max-memory 2GB --max-pixels 200000000.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from pixels import psnr

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "examples" / "astronaut.jpg"
WHOLE_LIMIT_GB = 18  # run the whole-image path only where its estimate fits in RAM with room to spare


def make_photo(megapixels: float, folder: Path) -> Path:
    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(width * 3 / 4))
    path = folder / f"photo-{megapixels:g}mp.jpg"
    if not path.exists():
        Image.MAX_IMAGE_PIXELS = None
        with Image.open(SOURCE) as im:
            im.convert("RGB").resize((width, height), Image.BICUBIC).save(path, quality=95)
    return path


# Runs the CLI and reports the process's own peak (VmHWM): ru_maxrss would
# include the parent's peak, inherited across fork and exec.
WRAPPER = """
import atexit, sys
def report():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM'):
            sys.stderr.write('VmHWM ' + line.split()[1] + '\\n')
atexit.register(report)
sys.argv = ['imgtrans'] + sys.argv[1:]
from imgtrans.cli import main
main()
"""


def run_cli(photo: Path, out: Path, *options: str) -> dict:
    """`imgtrans run vintage PHOTO` in a child process: wall seconds and peak RSS."""
    command = [sys.executable, "-c", WRAPPER, "run", "vintage", str(photo), "-o", str(out), "--overwrite", "-q",
               *options]
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    lines = done.stderr.strip().splitlines()
    peak_kb = next((int(line.split()[1]) for line in reversed(lines) if line.startswith("VmHWM")), 0)
    error = "\n".join(line for line in lines if not line.startswith(("VmHWM", "imgtrans: no CUDA")))
    return {"wall_s": round(wall, 1), "peak_rss_gb": round(peak_kb / 2**20, 2),
            "ok": done.returncode == 0, "error": error[-300:] or None}


def whole_estimate_gb(megapixels: float) -> float:
    import imgtrans

    model = imgtrans.load("vintage", device="cpu")
    side = int((megapixels * 1e6) ** 0.5)
    return model._translator.whole_image_bytes(side, side, 3) / 2**30


def flop_count(model, height: int, width: int) -> float:
    """Multiply-adds x 2 of every convolution, read from the streaming graph."""
    import torch

    from imgtrans.streaming.executor import _postorder
    from imgtrans.streaming.graph import Conv, ConvTranspose

    output = model._translator._graph(torch.zeros(3, height, width, dtype=torch.uint8), seed=0)
    total = 0
    for node in _postorder(output):
        if isinstance(node, Conv):
            c = node.conv
            total += (2 * c.in_channels // c.groups * c.kernel_size[0] * c.kernel_size[1] * c.out_channels
                      * node.height * node.width)
        elif isinstance(node, ConvTranspose):
            c, src = node.conv, node.sources[0]
            total += (2 * c.in_channels * c.kernel_size[0] * c.kernel_size[1] * c.out_channels // c.groups
                      * src.height * src.width)
    return total


def gflops_table() -> list[dict]:
    """fp32 and bf16: matmul peak and vintage's whole-image pass on 512x512, one process."""
    import torch

    import imgtrans

    rows = []
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(4096, 4096, dtype=dtype), torch.randn(4096, 4096, dtype=dtype)
        torch.mm(a, b)
        best = min(_timed(lambda a=a, b=b: torch.mm(a, b)) for _ in range(3))
        peak = 2 * 4096**3 / best / 1e9
        model = imgtrans.load("vintage", device="cpu", precision=precision, max_memory="8GB")
        x = torch.rand(1, 3, 512, 512)
        model(x)
        seconds = min(_timed(lambda model=model, x=x: model(x)) for _ in range(3))
        flops = flop_count(model, 512, 512)
        rows.append({"precision": precision, "matmul_peak_gflops": round(peak, 1), "vintage_512_s": round(seconds, 2),
                     "vintage_gflops": round(flops / seconds / 1e9, 1),
                     "fraction_of_peak": round(flops / seconds / 1e9 / peak, 2),
                     "gflop_per_picture": round(flops / 1e9, 1)})
    return rows


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def seams(folder: Path, out: Path) -> dict:
    """Naive independent 512-px tiles (each normalised with its own statistics,
    32 px overlap pasted at the middle) vs streamed vs whole, on 3 MP."""
    import imgtrans

    photo = np.asarray(Image.open(make_photo(3, folder)).convert("RGB"))
    whole = imgtrans.load("vintage", device="cpu", precision="fp32", max_memory="16GB")(photo)
    streamed = imgtrans.load("vintage", device="cpu", precision="fp32", max_memory="256MB")(photo)
    model = imgtrans.load("vintage", device="cpu", precision="fp32", max_memory="16GB")
    tile, overlap = 512, 32
    tiled = np.zeros_like(photo)
    h, w = photo.shape[:2]
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            y0, x0 = max(0, top - overlap), max(0, left - overlap)
            y1, x1 = min(h, top + tile + overlap), min(w, left + tile + overlap)
            piece = model(np.ascontiguousarray(photo[y0:y1, x0:x1]))
            tiled[top : min(h, top + tile), left : min(w, left + tile)] = piece[
                top - y0 : top - y0 + min(tile, h - top), left - x0 : left - x0 + min(tile, w - left)]

    crop = (slice(tile - 96, tile + 96), slice(tile - 96, tile + 96))  # around a tile corner
    panels = [photo[crop], tiled[crop], streamed[crop], whole[crop]]
    canvas = Image.new("RGB", (4 * 192 * 2 + 30, 192 * 2 + 24), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (panel, label) in enumerate(zip(panels, ["input", "independent tiles", "imgtrans streamed", "whole image"])):
        canvas.paste(Image.fromarray(panel).resize((384, 384), Image.NEAREST), (k * 394, 24))
        draw.text((k * 394 + 4, 4), label, fill="black")
    canvas.save(out / "seams.png")
    return {"tiles_vs_whole_psnr": round(psnr(tiled, whole), 2),
            "streamed_vs_whole_psnr": round(psnr(streamed, whole), 2),
            "tiles_max_diff": int(np.abs(tiled.astype(int) - whole.astype(int)).max()),
            "streamed_max_diff": int(np.abs(streamed.astype(int) - whole.astype(int)).max())}


def plot(rows: list[dict], path: Path) -> None:
    """Time and peak RSS against megapixels, one line per configuration (Pillow only)."""
    configs = sorted({r["config"] for r in rows if r["ok"]})
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    image = Image.new("RGB", (1000, 420), "white")
    draw = ImageDraw.Draw(image)
    for panel, (key, unit) in enumerate((("wall_s", "s"), ("peak_rss_gb", "GB"))):
        x0, y0, pw, ph = 60 + panel * 490, 30, 400, 330
        ok = [r for r in rows if r["ok"]]
        xmax = max(r["mp"] for r in ok) * 1.05
        ymax = max(r[key] for r in ok) * 1.1
        draw.rectangle([x0, y0, x0 + pw, y0 + ph], outline="black")
        draw.text((x0, 10), f"{'wall time' if key == 'wall_s' else 'peak RSS'} ({unit}) vs megapixels", fill="black")
        for tick in range(5):
            draw.text((x0 - 45, y0 + ph - tick * ph / 4 - 5),
                      f"{ymax * tick / 4:.0f}" if ymax > 8 else f"{ymax * tick / 4:.1f}", fill="black")
            draw.text((x0 + tick * pw / 4 - 5, y0 + ph + 5), f"{xmax * tick / 4:.0f}", fill="black")
        for c, config in enumerate(configs):
            points = sorted((r["mp"], r[key]) for r in ok if r["config"] == config)
            xy = [(x0 + mp / xmax * pw, y0 + ph - v / ymax * ph) for mp, v in points]
            if len(xy) > 1:
                draw.line(xy, fill=colours[c % len(colours)], width=2)
            for px, py in xy:
                draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colours[c % len(colours)])
            if panel == 0:
                draw.text((x0 + 10, y0 + 10 + 14 * c), config, fill=colours[c % len(colours)])
    image.save(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,3,12,24,48")
    parser.add_argument("--huge", action="store_true")
    parser.add_argument("--out", default="bench-out/large")
    parser.add_argument("--skip-seams", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"cpu_count": os.cpu_count()}
    report["gflops"] = gflops_table()
    print(json.dumps(report["gflops"]), flush=True)
    if not args.skip_seams:
        report["seams"] = seams(Path(tempfile.gettempdir()), out)
        print(json.dumps(report["seams"]), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        sizes = [float(s) for s in args.sizes.split(",")]
        for mp in sizes:
            photo = make_photo(mp, folder)
            configs = [("default settings (auto: bf16, streamed when large)", [])]
            configs.append(("fp32, default budget", ["--precision", "fp32"]))
            configs.append(("fp32, --max-memory 512MB", ["--precision", "fp32", "--max-memory", "512MB"]))
            if whole_estimate_gb(mp) < WHOLE_LIMIT_GB:
                configs.append(("whole image fp32", ["--precision", "fp32", "--max-memory", "20GB"]))
            if mp >= 24:  # keep the run length sane: the two that matter at this size
                configs = [c for c in configs if c[0].startswith(("default", "fp32, --max-memory"))]
            if mp >= 48:
                configs = configs[:1]
            for name, options in configs:
                result = run_cli(photo, folder / "out", "--max-pixels", "200000000", *options)
                rows.append({"mp": mp, "config": name, **result})
                print(json.dumps(rows[-1]), flush=True)
        if args.huge:
            photo = make_photo(100, folder)
            result = run_cli(photo, folder / "out", "--max-memory", "2GB", "--max-pixels", "200000000")
            rows.append({"mp": 100, "config": "100 MP: --max-memory 2GB (auto precision)", **result})
            print(json.dumps(rows[-1]), flush=True)
    report["runs"] = rows
    (out / "large_images.json").write_text(json.dumps(report, indent=1))
    plot([r for r in rows if r["mp"] < 100], out / "large_images.png")
    print("| MP | configuration | wall (s) | peak RSS (GB) |\n| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['mp']:g} | {r['config']} | {r['wall_s'] if r['ok'] else 'failed'} | {r['peak_rss_gb']} |")


if __name__ == "__main__":
    main()
