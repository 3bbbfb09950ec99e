"""Fidelity and storage precision of the shipped `vintage` model.

1. Our cyclegan network with the converted weights vs vintagify's own
   `ResnetGenerator` with its original .pth (needs `pip install --no-deps
   vintagify`): max abs difference of the raw outputs.
2. float16-stored vs float32-stored weights (both computed in float32) on real
   photos at full resolution: PSNR of the 8-bit outputs. The shipped file is
   float16 only if every photo stays above 40 dB.

Usage: python benchmarks/vintage_precision.py FP32.safetensors FP16.safetensors examples/*.jpg
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import torch
from pixels import psnr

import imgtrans
from imgtrans.io.imageio import decode


def vintagify_reference(photo: np.ndarray):
    spec = importlib.util.find_spec("vintagify")
    if spec is None:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    module_spec = importlib.util.spec_from_file_location("vintagify_generator", root / "generator.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    net = module.ResnetGenerator()
    net.load_state_dict(torch.load(root / "resources" / "G_A2B_epoch33.pth", map_location="cpu", weights_only=True))
    x = torch.from_numpy(photo.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.inference_mode():
        return net.eval()(x)


def main() -> None:
    fp32_path, fp16_path, *photos = sys.argv[1:]
    translators = {}
    for label, path in (("fp32", fp32_path), ("fp16", fp16_path)):
        model = imgtrans.load(Path(path), device="cpu", precision="fp32")
        model.generator.float()
        translators[label] = model
    worst = math.inf
    for index, photo_path in enumerate(photos):
        pixels = decode(Path(photo_path).read_bytes()).pixels
        if index == 0:
            crop = pixels[:256, :256]  # a multiple of 4: no padding on either side
            theirs = vintagify_reference(crop)
            if theirs is not None:
                x = torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255
                ours = translators["fp32"](x)[None] * 2 - 1
                print(f"fidelity vs vintagify's own network ({photo_path}, 256x256 crop): "
                      f"max |diff| = {(ours - theirs).abs().max().item():.2e}")
        a, b = translators["fp32"](pixels), translators["fp16"](pixels)
        value = psnr(a, b)
        worst = min(worst, value)
        print(f"{photo_path}: {pixels.shape[1]}x{pixels.shape[0]}  PSNR fp16 vs fp32 = {value:.2f} dB  "
              f"max |diff| = {np.abs(a.astype(int) - b.astype(int)).max()}")
    print(f"worst PSNR: {worst:.2f} dB -> store {'float16' if worst >= 40 else 'float32'}")


if __name__ == "__main__":
    main()
