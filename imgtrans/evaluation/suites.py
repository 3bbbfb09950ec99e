"""The three evaluations behind `imgtrans eval`. Each returns a plain dict
(JSON-ready): conditional generators, paired translators, unpaired translators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from imgtrans.evaluation import data, metrics
from imgtrans.evaluation.classifier import Classifier
from imgtrans.inference.sampling import generate
from imgtrans.training.data import DatasetError


def _unit(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, C] -> float [N, C, H, W] in [0, 1]."""
    return torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() / 255


def _pixel_diversity(images: np.ndarray) -> float:
    """Mean pairwise RMS pixel difference on the [0, 1] scale."""
    x = _unit(images).flatten(1)
    return metrics.mean_pairwise_distance(x) / x.shape[1] ** 0.5


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _subset(images: np.ndarray, count: int, seed: int) -> np.ndarray:
    if len(images) <= count:
        return images
    return images[np.sort(np.random.default_rng(seed).choice(len(images), size=count, replace=False))]


def translate_all(translator, images: np.ndarray, batch: int = 64) -> np.ndarray:
    return np.stack([out for start in range(0, len(images), batch)
                     for out in translator(list(images[start : start + batch]))])


def conditional(generator, classifier: Classifier, root: Path, *, n: int, seed: int, device) -> dict:
    """Recognisability per class (vs real test images), within-class diversity
    in classifier features and pixels (mode collapse shows as a low ratio), and
    the Fréchet distance to real test features with real-train as the floor."""
    test_x, test_y, names = data.labelled(root, "test")
    train_x, _, _ = data.labelled(root, "train")
    classes = generator.num_classes
    if len(classifier.labels) != classes or len(names) != classes:
        raise DatasetError(f"the generator has {classes} classes, the classifier {len(classifier.labels)}, "
                           f"the data {len(names)}")
    if tuple(names) != tuple(classifier.labels):
        raise DatasetError(f"{root}: its labels ({', '.join(names)}) are not the classifier's "
                           f"({', '.join(classifier.labels)})")
    generated = generate(generator, list(range(classes)), n, seed=seed, device=device)
    gen_pred, gen_feat = classifier.run(generated.reshape(-1, *generated.shape[2:]))
    real_pred, real_feat = classifier.run(test_x)
    _, train_feat = classifier.run(_subset(train_x, classes * n, seed))
    test_y_t = torch.from_numpy(test_y)
    rows: list[dict[str, Any]] = []
    for c in range(classes):
        block = slice(c * n, (c + 1) * n)
        mine = (test_y_t == c).nonzero().flatten()
        real_c = mine[:n]
        rows.append({
            "label": names[c],
            "accuracy_generated": float((gen_pred[block] == c).float().mean()),
            "accuracy_real": float((real_pred[mine] == c).float().mean()),
            "diversity_generated": metrics.mean_pairwise_distance(gen_feat[block]),
            "diversity_real": metrics.mean_pairwise_distance(real_feat[real_c]),
            "pixel_diversity_generated": _pixel_diversity(generated[c]),
            "pixel_diversity_real": _pixel_diversity(test_x[real_c.numpy()]),
        })

    def compare(key: str) -> dict:
        """Generated vs real, averaged over the classes where both exist (a
        class with one real test image has no real diversity)."""
        pairs = [(r[f"{key}_generated"], r[f"{key}_real"]) for r in rows]
        pairs = [(g, r) for g, r in pairs if np.isfinite(g) and np.isfinite(r)]
        if not pairs:
            return {"generated": float("nan"), "real_test": float("nan"), "ratio": float("nan")}
        generated, real = float(np.mean([g for g, _ in pairs])), float(np.mean([r for _, r in pairs]))
        return {"generated": generated, "real_test": real, "ratio": _ratio(generated, real)}

    return {
        "kind": "conditional",
        "samples_per_class": n,
        "real_test_images": len(test_x),
        "accuracy": compare("accuracy"),
        "diversity": compare("diversity"),
        "pixel_diversity": compare("pixel_diversity"),
        "frechet": {"generated_vs_test": metrics.frechet_distance(gen_feat, real_feat),
                    "train_vs_test": metrics.frechet_distance(train_feat, real_feat)},
        "per_class": rows,
    }


def _feature_figures(classifier: Classifier, outputs: np.ndarray, real_test: np.ndarray, real_train: np.ndarray | None,
                     seed: int) -> dict:
    _, out_feat = classifier.run(outputs)
    _, test_feat = classifier.run(real_test)
    figures = {"generated_vs_test": metrics.frechet_distance(out_feat, test_feat)}
    if real_train is not None:
        _, train_feat = classifier.run(_subset(real_train, len(outputs), seed))
        figures["train_vs_test"] = metrics.frechet_distance(train_feat, test_feat)
    return figures


def paired(translator, root: Path, *, direction: str, channels: tuple[int, int], classifier: Classifier | None,
           seed: int) -> dict:
    """L1, PSNR and SSIM of outputs against the ground truth of test/ pairs."""
    source = 0 if direction == "AtoB" else 1

    def split(folder: Path) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, ground truth), each decoded with its side's channel count."""
        return data.pairs(folder, channels[0])[source], data.pairs(folder, channels[1])[1 - source]

    inputs, truth = split(root / "test")
    outputs = translate_all(translator, inputs)
    out, gt = _unit(outputs), _unit(truth)
    result = {"kind": "paired", "direction": direction, "test_pairs": len(inputs),
              "l1": metrics.l1(out, gt), "psnr": metrics.psnr(out, gt), "ssim": metrics.ssim(out, gt)}
    if classifier is not None:
        train_truth = split(root / "train")[1] if (root / "train").is_dir() else None
        result["frechet"] = _feature_figures(classifier, outputs, truth, train_truth, seed)
    return result


def unpaired(translator, root: Path, *, direction: str, channels: tuple[int, int], classifier: Classifier | None,
             target: int | None, seed: int) -> dict:
    """How many translated test images the classifier puts in the target class
    (an index into its labels), and how far outputs stray from their inputs (L1: content kept)."""
    source, goal = ("A", "B") if direction == "AtoB" else ("B", "A")
    inputs = data.folder(root / f"test{source}", channels[0])
    outputs = translate_all(translator, inputs)
    comparable = inputs if channels[0] == channels[1] else data.folder(root / f"test{source}", channels[1])
    result = {"kind": "unpaired", "direction": direction, "test_images": len(inputs),
              "content_l1": metrics.l1(_unit(outputs), _unit(comparable))}
    if classifier is not None:
        real_goal = data.folder(root / f"test{goal}", channels[1])
        if target is not None:
            share = lambda images: float((classifier.run(images)[0] == target).float().mean())  # noqa: E731
            result["target"] = classifier.labels[target]
            result["target_share"] = {"translated": share(outputs), "inputs": share(inputs),
                                      "real_target_domain": share(real_goal)}
        train_goal = data.folder(root / f"train{goal}", channels[1]) if (root / f"train{goal}").is_dir() else None
        result["frechet"] = _feature_figures(classifier, outputs, real_goal, train_goal, seed)
    return result


def standard_scores(translate_with_seed, root: Path, *, layout: str, direction: str, channels: int, extractor,
                    mode: str, seeds: list[int], outputs: Path, with_kid: bool) -> dict:
    """FID (and KID) of the translated test split against the target domain's
    real test pictures, as pytorch-fid / clean-fid compute them.

    The test inputs are translated at full resolution and written as PNG into
    `outputs` (one folder per seed), then read back as the tools read files;
    the real pictures' features come from the extractor's cache when unchanged.
    `translate_with_seed(seed)` gives the translator for one seed (dropout noise)."""
    from imgtrans.evaluation import fid as fidlib
    from imgtrans.io import imageio
    from imgtrans.io.files import write_atomic

    source_side = 0 if direction == "AtoB" else 1
    if layout == "unpaired":
        source_folder = root / f"test{'A' if source_side == 0 else 'B'}"
        real_folder, real = root / f"test{'B' if source_side == 0 else 'A'}", None
        inputs = [(str(p), p.read_bytes()) for p in fidlib.folder_pictures(source_folder)]
    else:
        real_folder = root / "test"
        files = fidlib.folder_pictures(real_folder)

        def halves(side: int):
            for path in files:
                picture = fidlib.read_picture(path)
                width = picture.shape[1] // 2
                yield picture[:, width * side: width * (side + 1)]

        real = lambda: halves(1 - source_side)  # noqa: E731
        inputs = [(str(p), imageio.encode(h, None, "png")) for p, h in zip(files, halves(source_side))]
    if not inputs:
        raise fidlib.FIDError(f"{root}: no test pictures to translate")
    real_features = extractor.folder_features(real_folder, mode, pictures=real,
                                              tag="" if real is None else f"half {1 - source_side}")
    runs = []
    for seed in seeds:
        folder = outputs / f"seed-{seed}"
        if folder.exists() and any(folder.iterdir()):
            raise fidlib.FIDError(f"{folder}: not empty; give --outputs a new folder (scores use only what they wrote)")
        translate = translate_with_seed(seed)
        written = []
        for name, encoded in inputs:
            try:
                picture = imageio.decode(encoded, channels=channels)
            except imageio.ImageError as exc:
                raise fidlib.FIDError(f"{name}: {exc}") from None
            [translated] = translate([picture.pixels])
            written.append(folder / f"{Path(name).name}.png")  # the input's whole name: 0.png and 0.jpg stay apart
            write_atomic(written[-1], imageio.encode(translated, None, "png"), overwrite=False)
        generated = extractor.features((fidlib.read_picture(p) for p in written), mode)
        runs.append(fidlib.score(generated, real_features, with_kid=with_kid, seed=seed))
    fids = [r.fid for r in runs]
    result = {"kind": "standard", "metric": "FID" + (" and KID" if with_kid else ""), "mode": mode,
              "fid": float(np.mean(fids)), "fid_per_seed": fids,
              "fid_std": float(np.std(fids, ddof=1)) if len(fids) > 1 else None,
              "generated_images": runs[0].generated, "real_images": runs[0].real, "small_test_set": runs[0].small,
              "resize": fidlib.RESIZES[mode], "image_format": "png", "seeds": seeds,
              "inception_sha256": extractor.weights_sha256, "outputs": str(outputs)}
    if with_kid:
        kids = [r.kid for r in runs if r.kid is not None]  # all of them: each run scored KID
        result.update(kid=float(np.mean(kids)), kid_per_seed=kids,
                      kid_std=float(np.std(kids, ddof=1)) if len(kids) > 1 else None)
    return result
