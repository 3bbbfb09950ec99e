"""How a small model's quality depends on the picture's size against its trained size.

The unpaired test images (testA/ or testB/ of a `make_datasets.py` folder) are
resized (bicubic) to each side, translated at that size by `imgtrans.load`
(full resolution, as `imgtrans run` does), and the reference classifier
(which resizes to its own 28x28) counts the outputs it puts in the target
class: `imgtrans eval`'s target-class share, as a function of scale. The
model cards' scale notes and `imgtrans run`'s note about sizes quote it.

Usage: python benchmarks/scale_sensitivity.py MODEL DATA --target CLASS
       [--direction AtoB|BtoA] [--sides 16 20 24 28 32 40 48 64] [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

import imgtrans
from imgtrans.evaluation import classifier as classifiers
from imgtrans.evaluation import data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("data", type=Path)
    parser.add_argument("--target", required=True)
    parser.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"))
    parser.add_argument("--classifier", default="weights/classifiers/fashion.safetensors", type=Path)
    parser.add_argument("--sides", type=int, nargs="+", default=[16, 20, 24, 28, 32, 40, 48, 64])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    model = imgtrans.load(args.model, device="cpu", precision="fp32", dropout=False)
    reference = classifiers.load(args.classifier)
    target = reference.labels.index(args.target)
    source = data.folder(args.data / f"test{'A' if args.direction == 'AtoB' else 'B'}", model.channels)
    rows = []
    for side in args.sides:
        resized = np.stack([np.asarray(Image.fromarray(img[:, :, 0]).resize((side, side), Image.BICUBIC))[:, :, None]
                            for img in source]) if model.channels == 1 else np.stack(
            [np.asarray(Image.fromarray(img).resize((side, side), Image.BICUBIC)) for img in source])
        outputs = np.stack(model.translate_arrays(list(resized)))
        share = float((reference.run(outputs)[0] == target).float().mean())
        inputs = float((reference.run(resized)[0] == target).float().mean())
        rows.append({"side": side, "target_share": round(share, 3), "inputs_in_target": round(inputs, 3)})
    if args.json:
        print(json.dumps({"model": args.model, "images": len(source), "target": args.target, "rows": rows}, indent=2))
        return
    print(f"{args.model}: {len(source)} test images, target class {args.target!r}")
    print("| side | translated in target class | untranslated inputs in target class |")
    print("| --- | --- | --- |")
    for r in rows:
        print(f"| {r['side']} | {r['target_share']:.3f} | {r['inputs_in_target']:.3f} |")


if __name__ == "__main__":
    main()
