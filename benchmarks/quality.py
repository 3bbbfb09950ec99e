"""Every quality figure of the shipped trained-here models, as markdown tables.

Builds the datasets with scripts/make_datasets.py where DATA lacks them, runs
`imgtrans eval ... --json` for each model, and prints the tables that
docs/benchmarks.md quotes (raw JSON with --json).

Needs Fashion-MNIST (apt-get install dataset-fashion-mnist) and, for the
digits, scikit-learn. `--grids DIR` also writes the translators' example grids
(made with `imgtrans run`, as a user would) that the model cards show,
vintage's included.
Usage: python benchmarks/quality.py [--data DATA] [--json] [--grids DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

EVALS = {
    "cgan-digits": ("digits", []),
    "cgan-fashion": ("fashion", []),
    "edges2fashion": ("edges", ["--classifier", "fashion"]),
    "sneaker2boot": ("sneaker-boot", ["--classifier", "fashion", "--target", "ankle-boot"]),
    "boot2sneaker": ("sneaker-boot", ["--classifier", "fashion", "--target", "sneaker", "--direction", "BtoA"]),
}


def ensure(data: Path, name: str) -> Path:
    if not (data / name).exists():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_datasets.py"), name, str(data / name)], check=True)
    return data / name


def evaluate(model: str, dataset: Path, extra: list[str], seed: int) -> dict:
    command = ["imgtrans", "eval", model, "--data", str(dataset), "--seed", str(seed), "--device", "cpu", "--json",
               *extra]
    print("$ " + " ".join(command), file=sys.stderr)
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def f(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def tables(results: dict[str, dict]) -> str:
    conditional = {m: r for m, r in results.items() if r["kind"] == "conditional"}
    out = [] if not conditional else [
        "| model | classifier real-test acc | samples recognised | real test recognised | ratio (target >= 0.9) "
        "| diversity gen / real (features) | ratio (target >= 0.8) | pixel diversity ratio | FD gen vs test "
        "| FD train vs test (floor) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for model, r in conditional.items():
        out.append(f"| {model} | {f(r['classifier']['test_accuracy'])} | {f(r['accuracy']['generated'])} "
                   f"| {f(r['accuracy']['real_test'])} "
                   f"| **{f(r['accuracy']['ratio'])}** "
                   f"| {f(r['diversity']['generated'], 2)} / {f(r['diversity']['real_test'], 2)} "
                   f"| **{f(r['diversity']['ratio'])}** | {f(r['pixel_diversity']['ratio'])} "
                   f"| {f(r['frechet']['generated_vs_test'], 2)} "
                   f"| {f(r['frechet']['train_vs_test'], 2)} |")
    for model, r in conditional.items():
        out += ["", f"{model}, per class ({r['samples_per_class']} samples each):", "",
                "| label | recognised (gen) | recognised (real) | diversity gen | diversity real |",
                "| --- | --- | --- | --- | --- |"]
        out += [f"| {row['label']} | {f(row['accuracy_generated'])} | {f(row['accuracy_real'])} "
                f"| {f(row['diversity_generated'], 2)} "
                f"| {f(row['diversity_real'], 2)} |" for row in r["per_class"]]
    paired = {m: r for m, r in results.items() if r["kind"] == "paired"}
    if paired:
        out += ["", "| model | test pairs | L1 | PSNR (dB) | SSIM | FD out vs test | FD train vs test (floor) |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        out += [f"| {m} | {r['test_pairs']} | {f(r['l1'], 4)} | {f(r['psnr'], 2)} | {f(r['ssim'], 4)} "
                f"| {f(r['frechet']['generated_vs_test'], 2)} "
                f"| {f(r['frechet']['train_vs_test'], 2)} |" for m, r in paired.items()]
    unpaired = {m: r for m, r in results.items() if r["kind"] == "unpaired"}
    if unpaired:
        out += ["", "| model | test images | target | translated in target (target >= 0.9) | inputs in target "
                "| real target-domain in target "
                "| content L1 | FD out vs test | FD train vs test (floor) |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        out += [f"| {m} | {r['test_images']} | {r['target']} | **{f(r['target_share']['translated'])}** "
                f"| {f(r['target_share']['inputs'])} "
                f"| {f(r['target_share']['real_target_domain'])} | {f(r['content_l1'], 4)} "
                f"| {f(r['frechet']['generated_vs_test'], 2)} "
                f"| {f(r['frechet']['train_vs_test'], 2)} |" for m, r in unpaired.items()]
    return "\n".join(out)


def run_model(model: str, images: list[np.ndarray], tmp: Path) -> list[np.ndarray]:
    """`imgtrans run` on the images (written as PNGs), outputs read back in order."""
    inputs, outputs = tmp / f"{model}-in", tmp / f"{model}-out"
    inputs.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(inputs / f"{i:03d}.png")
    subprocess.run(["imgtrans", "run", model, str(inputs), "-o", str(outputs), "--seed", "0", "--device", "cpu",
                    "--quiet"], check=True)
    return [np.asarray(Image.open(outputs / f"{i:03d}.png").convert("L")) for i in range(len(images))]


def save_grid(rows: list[list[np.ndarray]], path: Path, scale: int = 3) -> None:
    pad = 2
    h, w = rows[0][0].shape
    canvas = np.full((len(rows) * (h + pad) + pad, len(rows[0]) * (w + pad) + pad), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            canvas[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = image
    Image.fromarray(canvas).resize((canvas.shape[1] * scale, canvas.shape[0] * scale), Image.NEAREST).save(path)
    print(f"wrote {path}", file=sys.stderr)


def grids(data: Path, out: Path) -> None:
    """edges2fashion: edges / output / truth for one test pair per class;
    sneaker2boot and boot2sneaker: ten test inputs above their translations."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pairs = sorted((ensure(data, "edges") / "test").glob("*.png"))
        firsts = [next(p for p in pairs if p.stem.split("_", 1)[1] == label) for label in FASHION_ORDER]
        ab = [np.asarray(Image.open(p).convert("L")) for p in firsts]
        edges, truth = [x[:, :32] for x in ab], [x[:, 32:] for x in ab]
        save_grid([edges, run_model("edges2fashion", edges, tmp), truth], out / "edges2fashion-examples.png")
        shoes = ensure(data, "sneaker-boot")
        sneakers = [np.asarray(Image.open(p)) for p in sorted((shoes / "testA").glob("*.png"))[:10]]
        boots = [np.asarray(Image.open(p)) for p in sorted((shoes / "testB").glob("*.png"))[:10]]
        save_grid([sneakers, run_model("sneaker2boot", sneakers, tmp), boots, run_model("boot2sneaker", boots, tmp)],
                  out / "sneaker2boot-examples.png")
        vintage_examples(tmp, out / "vintage-examples.jpg")


def vintage_examples(tmp: Path, path: Path, height: int = 300) -> None:
    """The cat and the coffee cup from examples/ at full resolution through
    `imgtrans run vintage`, original left and vintage right, rows scaled to `height`."""
    photos = [ROOT / "examples" / "cat.jpg", ROOT / "examples" / "coffee.jpg"]
    subprocess.run(["imgtrans", "run", "vintage", *map(str, photos), "-o", str(tmp / "vintage"), "--device", "cpu",
                    "--precision", "fp32", "--quiet"], check=True)
    rows = []
    for photo in photos:
        pair = [Image.open(photo).convert("RGB"), Image.open(tmp / "vintage" / f"{photo.stem}.png").convert("RGB")]
        pair = [np.asarray(im.resize((round(im.width * height / im.height), height), Image.BICUBIC)) for im in pair]
        rows.append(np.concatenate([pair[0], np.full((height, 8, 3), 255, np.uint8), pair[1]], 1))
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, ((0, 8), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    Image.fromarray(np.concatenate(rows)[:-8]).save(path, quality=90)
    print(f"wrote {path}", file=sys.stderr)


FASHION_ORDER = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data"), help="where the datasets are (or are made)")
    parser.add_argument("--models", nargs="*", default=list(EVALS), choices=list(EVALS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the raw figures instead of tables")
    parser.add_argument("--grids", type=Path, help="also write the translators' example grids here")
    args = parser.parse_args()
    if args.grids:
        grids(args.data, args.grids)
    results = {}
    for model in args.models:
        dataset, extra = EVALS[model]
        results[model] = evaluate(model, ensure(args.data, dataset), extra, args.seed)
    print(json.dumps(results, indent=1) if args.json else tables(results))


if __name__ == "__main__":
    main()
