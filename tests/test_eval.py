"""`imgtrans eval` and the reference classifier: metrics against known values,
suites against generators whose answers are known, and the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_idx
from PIL import Image
from torch import nn

from imgtrans.evaluation import metrics, suites
from imgtrans.evaluation.classifier import Classifier, fit, load, save
from imgtrans.inference.translate import InferenceOptions, Translator

LABELS = ("left", "middle", "right")


def shapes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """28x28 images of one of three classes: a bright bar at the left, middle or right, in noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
    for image, label in zip(images, labels):
        left = 3 + 9 * label + rng.integers(-1, 2)
        image[4 + rng.integers(0, 4) : 24, left : left + 4] = rng.integers(180, 256)
    return images, labels


@pytest.fixture
def bars(tmp_path) -> Path:
    root = tmp_path / "bars"
    write_idx(root, "train", *shapes(300, seed=1))
    write_idx(root, "t10k", *shapes(90, seed=2))
    (root / "labels.txt").write_text("\n".join(LABELS) + "\n")
    return root


@pytest.fixture
def bar_classifier(bars, tmp_path) -> Classifier:
    images, labels = shapes(300, seed=1)
    net = fit(images[..., None], labels, epochs=3, seed=0, log=lambda _: None)
    save(net, tmp_path / "bars.safetensors", name="bars", labels=LABELS, test_accuracy=1.0, data=str(bars))
    return load(tmp_path / "bars.safetensors")


def test_metrics_match_known_values():
    torch.manual_seed(0)
    a = torch.rand(4, 1, 32, 32) * 0.8
    assert metrics.l1(a, a + 0.1) == pytest.approx(0.1, abs=1e-6)
    assert metrics.psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-3)  # MSE 0.01
    assert metrics.psnr(a, a) == 100.0
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    noisy = [metrics.ssim(a, (a + s * torch.randn_like(a)).clamp(0, 1)) for s in (0.02, 0.1, 0.3)]
    assert noisy[0] > noisy[1] > noisy[2]
    x = torch.randn(500, 6, dtype=torch.float64)
    x = x - x.mean(0)  # so that 2x has the same mean
    assert metrics.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([3.0, 0, 0, 4.0, 0, 0], dtype=torch.float64)
    assert metrics.frechet_distance(x, x + shift) == pytest.approx(25.0, abs=1e-6)  # mean term only
    # (1-2)^2 Tr S
    assert metrics.frechet_distance(x, 2 * x) == pytest.approx(float(torch.trace(torch.cov(x.T))), rel=1e-6)
    assert metrics.mean_pairwise_distance(torch.tensor([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)


class ReplayGenerator(nn.Module):
    """Returns real images of the requested class: `collapsed` always the same one."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, collapsed: bool):
        super().__init__()
        self.num_classes, self.z_dim, self.collapsed = 3, 4, collapsed
        self.by_class = [torch.from_numpy(images[labels == c]).float()[:, None] / 127.5 - 1 for c in range(3)]

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        pick = [0 if self.collapsed else int(abs(float(zi[0])) * 1e4) % len(self.by_class[c])
                for zi, c in zip(z, y.tolist())]
        return torch.stack([self.by_class[c][i] for c, i in zip(y.tolist(), pick)])


def test_conditional_suite_tells_recognisable_from_collapsed(bars, bar_classifier):
    images, labels = shapes(300, seed=1)
    diverse = suites.conditional(ReplayGenerator(images, labels, False), bar_classifier, bars,
                                 n=30, seed=0, device="cpu")
    collapsed = suites.conditional(ReplayGenerator(images, labels, True), bar_classifier, bars,
                                   n=30, seed=0, device="cpu")
    assert diverse["accuracy"]["real_test"] > 0.95
    for result in (diverse, collapsed):
        assert result["accuracy"]["ratio"] > 0.95
        assert [row["label"] for row in result["per_class"]] == list(LABELS)
    assert diverse["diversity"]["ratio"] > 0.8 and diverse["pixel_diversity"]["ratio"] > 0.8
    assert collapsed["diversity"]["ratio"] < 1e-3 and collapsed["pixel_diversity"]["ratio"] < 1e-3
    assert diverse["frechet"]["generated_vs_test"] < collapsed["frechet"]["generated_vs_test"]


def test_a_class_with_one_test_image_gives_null_not_nan(cli, bars, bar_classifier):
    images, labels = shapes(90, seed=2)
    keep = (labels != 2) | (np.arange(90) == 2)  # one test image of class 2
    write_idx(bars, "t10k", images[keep], labels[keep])
    result = suites.conditional(ReplayGenerator(*shapes(300, seed=1), False), bar_classifier, bars,
                                n=10, seed=0, device="cpu")
    assert np.isnan(result["per_class"][2]["diversity_real"])
    others = [row for row in result["per_class"] if row["label"] != "right"]
    assert result["diversity"]["real_test"] == pytest.approx(np.mean([row["diversity_real"] for row in others]))
    assert result["diversity"]["generated"] == pytest.approx(np.mean([row["diversity_generated"] for row in others]))
    from imgtrans.cli.eval_cmd import finite_or_none

    assert json.loads(json.dumps(finite_or_none(result)))["per_class"][2]["diversity_real"] is None


def write_pairs(folder: Path, n: int, seed: int) -> None:
    """Side-by-side pairs whose B half is the inverted A half."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        a = np.asarray(Image.fromarray(rng.integers(0, 256, (4, 4), dtype=np.uint8)).resize((32, 32), Image.BICUBIC))
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(folder / f"{i}.png")


class Invert(nn.Module):
    def forward(self, x):
        return -x


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_paired_suite_scores_the_right_mapping_perfectly(tmp_path, direction):
    write_pairs(tmp_path / "inv" / "test", 6, seed=0)
    options = InferenceOptions(seed=0)
    right = suites.paired(Translator(Invert(), device="cpu", pad_multiple=1, options=options), tmp_path / "inv",
                          direction=direction, channels=(1, 1), classifier=None, seed=0)
    wrong = suites.paired(Translator(nn.Identity(), device="cpu", pad_multiple=1, options=options), tmp_path / "inv",
                          direction=direction, channels=(1, 1), classifier=None, seed=0)
    assert right["test_pairs"] == 6
    assert right["l1"] < 0.003 and right["psnr"] > 45 and right["ssim"] > 0.999
    assert wrong["l1"] > 0.2 and wrong["psnr"] < 15 and wrong["ssim"] < 0.5


@pytest.mark.slow
def test_classifier_train_then_eval_cgan_cli(cli, bars, tmp_path):
    trained = cli("classifier", "train", bars, "--name", "bars", "--epochs", "3")
    assert trained.exit_code == 0, trained.stderr
    assert "real test accuracy" in trained.stderr
    (tmp_path / "home" / "classifiers" / "broken.safetensors").write_bytes(b"not a safetensors file")
    listed = cli("classifier", "list")
    assert "bars" in listed.stdout and "left, middle, right" in listed.stdout
    assert "broken.safetensors: not a safetensors file" in listed.stderr
    again = cli("classifier", "train", bars, "--name", "bars")
    assert again.exit_code == 2 and "exists" in again.stderr
    ran = cli("train", "--plugin", "cgan", "--data", bars, "--name", "g", "--ngf", "8", "--ndf", "8",
              "--batch-size", "30", "--epochs", "1", "--sample-every", "10")
    assert ran.exit_code == 0, ran.stderr
    # the classifier is found by the generator's labels (from labels.txt)
    result = cli("eval", "g", "--data", bars, "-n", "10", "--json")
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["classifier"]["name"] == "bars" and figures["classifier"]["test_accuracy"] > 0.9
    assert [row["label"] for row in figures["per_class"]] == list(LABELS)
    assert figures["accuracy"]["real_test"] > 0.9
    assert 0 <= figures["accuracy"]["generated"] <= 1
    # ten steps of training do not fool the classifier's features: far above the real floor
    assert figures["frechet"]["generated_vs_test"] > 2 * figures["frechet"]["train_vs_test"]
    table = cli("eval", "g", "--data", bars, "-n", "10")
    assert table.exit_code == 0 and "real test" in table.stdout and "middle" in table.stdout
    (bars / "labels.txt").write_text("top\ncentre\nbottom\n")  # the same data, named otherwise
    renamed = cli("eval", "g", "--data", bars, "--classifier", "bars")
    assert renamed.exit_code == 2 and "are not the classifier's" in renamed.stderr
    (bars / "labels.txt").write_text("top\ncentre\n")
    short = cli("train", "--plugin", "cgan", "--data", bars, "--name", "g2")
    assert short.exit_code == 2 and "labels.txt: needs 3 distinct names" in short.stderr


def test_eval_unpaired_cli_and_refusals(cli, tiny_cyclegan, bars, tmp_path):
    rng = np.random.default_rng(0)
    for domain in ("testA", "testB"):
        (tmp_path / "un" / domain).mkdir(parents=True)
        for i in range(4):
            picture = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
            picture.save(tmp_path / "un" / domain / f"{i}.png")
    trained = cli("classifier", "train", bars, "--name", "bars", "--epochs", "1", "-o", tmp_path / "c")
    assert trained.exit_code == 0, trained.stderr
    result = cli("eval", tiny_cyclegan, "--data", tmp_path / "un", "--classifier", tmp_path / "c" / "bars.safetensors",
                 "--target", "right", "--direction", "BtoA", "--json")
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["kind"] == "unpaired" and figures["test_images"] == 4 and figures["target"] == "right"
    assert 0 < figures["content_l1"] < 1
    assert all(0 <= v <= 1 for v in figures["target_share"].values())
    no_classifier = cli("eval", tiny_cyclegan, "--data", tmp_path / "un", "--target", "right")
    assert no_classifier.exit_code == 2 and "--classifier" in no_classifier.stderr
    unknown_label = cli("eval", tiny_cyclegan, "--data", tmp_path / "un",
                        "--classifier", tmp_path / "c" / "bars.safetensors", "--target", "boot")
    assert unknown_label.exit_code == 2 and "no label 'boot'" in unknown_label.stderr
    no_split = cli("eval", tiny_cyclegan, "--data", bars)
    assert no_split.exit_code == 2 and "no test split" in no_split.stderr
    assert no_split.stderr.strip().splitlines() == [no_split.stderr.strip()]  # one line, before any device note


class Mirror(nn.Module):
    def forward(self, x):
        return x.flip(-1)


def test_unpaired_suite_gives_the_known_answer_for_a_mirror(tmp_path, bar_classifier):
    """testA: bars at the left; testB: bars at the right. A mirror maps one onto
    the other, so the classifier must find the target class in the mirrored
    images exactly as often as it does in the inputs mirrored by hand, content L1
    must equal the directly computed mean difference, and the identity must do
    badly on the same figures."""
    images, labels = shapes(90, seed=3)
    root = tmp_path / "lr"
    for folder, wanted in (("testA", 0), ("testB", 2), ("trainB", 2)):
        (root / folder).mkdir(parents=True)
        for i, image in enumerate(images[labels == wanted]):
            Image.fromarray(image).save(root / folder / f"{i}.png")
    inputs = images[labels == 0][..., None]
    options = InferenceOptions(seed=0)
    mirror = suites.unpaired(Translator(Mirror(), device="cpu", pad_multiple=1, options=options), root,
                             direction="AtoB", channels=(1, 1), classifier=bar_classifier, target=2, seed=0)
    same = suites.unpaired(Translator(nn.Identity(), device="cpu", pad_multiple=1, options=options), root,
                           direction="AtoB", channels=(1, 1), classifier=bar_classifier, target=2, seed=0)
    by_hand = float((bar_classifier.run(inputs[:, :, ::-1].copy())[0] == 2).float().mean())
    assert mirror["test_images"] == len(inputs) == 30
    assert mirror["target_share"]["translated"] == pytest.approx(by_hand) and by_hand > 0.9
    assert mirror["target_share"]["inputs"] == same["target_share"]["translated"] < 0.1
    expected_l1 = np.abs(inputs[:, :, ::-1].astype(float) - inputs.astype(float)).mean() / 255  # in [0, 1] units
    assert mirror["content_l1"] == pytest.approx(expected_l1, rel=1e-4)
    assert same["content_l1"] < 1e-6
    assert mirror["frechet"]["generated_vs_test"] < same["frechet"]["generated_vs_test"] / 4
