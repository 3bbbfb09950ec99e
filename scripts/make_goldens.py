"""Write tests/data/goldens.safetensors: for every shipped model, a small input
and the output imgtrans gives at fp32 today (tests/test_goldens.py compares
against it to 1 level, so a change to any shipped model's numbers is seen).

Run it again only when a change of numbers is intended, and say why in the
commit. Usage: python scripts/make_goldens.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

import imgtrans

ROOT = Path(__file__).resolve().parents[1]
GOLDENS = ROOT / "tests" / "data" / "goldens.safetensors"
PHOTO = ROOT / "examples" / "cat.jpg"
SEED = 0


def golden_input(model) -> np.ndarray:
    """A crop of the example photo at a size the model works at (a few pixels
    off its padding multiple, so padding and cropping are covered too)."""
    side = 64 if model.pad_multiple < 64 else model.pad_multiple
    photo = Image.open(PHOTO).convert("RGB" if model.channels == 3 else "L")
    array = np.asarray(photo.resize((side + 3, side - 2), Image.BICUBIC))
    return array if array.ndim == 3 else array[..., None]


def goldens() -> dict[str, torch.Tensor]:
    tensors = {}
    for info in imgtrans.list_models():
        if info.weights != "shipped":
            continue
        if info.kind == "translate":
            model = imgtrans.load(info.name, device="cpu", precision="fp32", seed=SEED)
            x = golden_input(model)
            y = model(x[..., 0] if x.shape[2] == 1 else x)
            tensors[f"{info.name}.input"] = torch.from_numpy(np.array(x))
            tensors[f"{info.name}.output"] = torch.from_numpy(np.ascontiguousarray(y.reshape(x.shape[:2] + (-1,))))
        else:
            model = imgtrans.load(info.name, device="cpu")
            tensors[f"{info.name}.output"] = torch.from_numpy(model.sample_array(info.labels[:2], n=2, seed=SEED))
    return tensors


if __name__ == "__main__":
    tensors = goldens()
    save_file(tensors, str(GOLDENS))
    print(f"{GOLDENS.relative_to(ROOT)}: {', '.join(sorted(tensors))} ({GOLDENS.stat().st_size} bytes)")
