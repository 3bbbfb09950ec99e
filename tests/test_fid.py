"""FID and KID against the standard tools as oracles.

The real Inception weights cannot be downloaded here and need not be: the
computation is what must match. A weights file with the standard
architecture and random values is put where pytorch-fid looks for its weights
(torch.hub's cache under $TORCH_HOME), and, as the TorchScript file clean-fid
loads, into a folder of the test's own; both tools then score the same two
folders as imgtrans does.
"""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from imgtrans.evaluation import fid as fidlib
from imgtrans.evaluation.inception import FIDInception

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning",
                                        "ignore::scipy.linalg.LinAlgWarning")]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Random weights in the standard file, at pytorch-fid's cache path."""
    torch.manual_seed(0)
    network = FIDInception()
    for module in network.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight)
        elif isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.uniform_(0.8, 1.2)
            module.bias.data.normal_(0, 0.1)
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.8, 1.2)
    home = tmp_path_factory.mktemp("torch-home")
    path = home / "hub" / "checkpoints" / fidlib.WEIGHTS_FILE
    path.parent.mkdir(parents=True)
    torch.save(network.state_dict(), path)
    return path


def folder(path: Path, n: int, seed: int, size=(48, 40), shift: int = 0) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        base = np.asarray(Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)).resize(size, Image.BICUBIC))
        Image.fromarray(np.clip(base.astype(int) + shift, 0, 255).astype(np.uint8)).save(path / f"{i:03d}.png")
    return path


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("fid-folders")
    return folder(root / "a", 6, 1), folder(root / "b", 6, 2, size=(52, 37), shift=30)


def extractor(weights, tmp_path, batch_size=5):
    return fidlib.Extractor(weights, device=torch.device("cpu"), cache=tmp_path / "cache", batch_size=batch_size)


def ours(weights, tmp_path, a, b, mode):
    ex = extractor(weights, tmp_path)
    return fidlib.score(ex.folder_features(a, mode), ex.folder_features(b, mode))


def test_legacy_mode_equals_pytorch_fid(weights, folders, tmp_path, monkeypatch):
    from pytorch_fid.fid_score import calculate_fid_given_paths

    monkeypatch.setenv("TORCH_HOME", str(weights.parents[2]))
    a, b = folders
    expected = calculate_fid_given_paths([str(a), str(b)], batch_size=5, device="cpu", dims=2048, num_workers=0)
    got = ours(weights, tmp_path, a, b, "legacy-pytorch").fid
    assert expected > 1.0 and math.isclose(got, expected, rel_tol=1e-6), (got, expected)


@pytest.fixture(scope="module")
def clean_fid_extractor(weights, tmp_path_factory):
    """clean-fid's own wrapper (its normalisation) around a TorchScript of the random network."""
    from cleanfid.inception_torchscript import InceptionV3W

    network = FIDInception()
    network.load_state_dict(torch.load(weights, weights_only=True))

    class Graph(torch.nn.Module):  # the interface of clean-fid's inception-2015-12-05.pt
        def __init__(self, layers):
            super().__init__()
            self.layers = layers

        def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
            return self.layers(x)

    folder_ = tmp_path_factory.mktemp("clean-fid")
    traced = torch.jit.trace(network.eval(), torch.zeros(1, 3, 299, 299))
    torch.jit.script(Graph(traced)).save(str(folder_ / "inception-2015-12-05.pt"))
    wrapper = InceptionV3W(str(folder_), download=False).eval()
    return lambda x: wrapper(x)


def test_clean_mode_fid_and_kid_equal_clean_fid(weights, folders, tmp_path, clean_fid_extractor):
    from cleanfid import fid as cleanfid

    a, b = folders
    kwargs = dict(model=clean_fid_extractor, num_workers=0, batch_size=5, device=torch.device("cpu"), mode="clean",
                  verbose=False)
    feats_a, feats_b = cleanfid.get_folder_features(str(a), **kwargs), cleanfid.get_folder_features(str(b), **kwargs)
    expected_fid = cleanfid.fid_from_feats(feats_a, feats_b)
    expected_kid = cleanfid.kernel_distance(feats_a, feats_b)  # 6 and 6 images: every subset is the whole set
    got = ours(weights, tmp_path, a, b, "clean")
    assert math.isclose(got.fid, expected_fid, rel_tol=1e-3), (got.fid, expected_fid)
    assert math.isclose(got.kid, expected_kid, rel_tol=1e-3), (got.kid, expected_kid)
    assert got.small  # 6 pictures, 2048 features


def test_known_answers():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(300, 8)).astype(np.float32)
    feats -= feats.mean(axis=0)  # zero mean: the scaled copy below then has the same mean
    assert fidlib.fid(feats, feats) == pytest.approx(0.0, abs=1e-6)
    shifted = feats + np.float32(0.5)
    # Same covariance, means 0.5 apart in each of 8 dimensions: FID = ||delta||^2 = 8 * 0.25
    assert fidlib.fid(shifted, feats) == pytest.approx(2.0, rel=1e-4)
    scaled = feats * np.float32(2.0)  # S2 = 4 S1: Tr(S1 + 4 S1 - 2 * 2 S1) = Tr(S1)
    assert fidlib.fid(scaled, feats) == pytest.approx(float(np.trace(np.cov(feats, rowvar=False))), rel=1e-4)
    same = abs(fidlib.kid(feats[:150], feats[150:], subsets=10))  # two samples of one distribution: about 0
    assert fidlib.kid(shifted, feats, subsets=10) > 10 * same


def test_cache_and_bad_weights(weights, folders, tmp_path):
    a, _ = folders
    ex = extractor(weights, tmp_path)
    first = ex.folder_features(a, "clean")
    cached = list((tmp_path / "cache").glob("*.npy"))
    assert len(cached) == 1
    assert np.array_equal(extractor(weights, tmp_path).folder_features(a, "clean"), first)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    ex.folder_features(a, "legacy-pytorch")
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2  # per mode
    (tmp_path / "bad.pth").write_bytes(b"not weights")
    with pytest.raises(fidlib.FIDError, match="not the FID Inception weights"):
        extractor(tmp_path / "bad.pth", tmp_path)


def test_eval_fid_scores_the_translated_test_split(weights, cli, tiny_cyclegan, tiny_pix2pix, tmp_path):
    import json

    root = tmp_path / "data"
    folder(root / "testA", 3, 5, size=(40, 32))
    folder(root / "testB", 3, 6, size=(36, 44), shift=20)
    result = cli("eval", tiny_cyclegan, "--data", root, "--fid", "--kid", "--inception", weights, "--json",
                 "--outputs", tmp_path / "outs")
    assert result.exit_code == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["generated_images"] == 3 and scores["real_images"] == 3 and scores["image_format"] == "png"
    assert scores["mode"] == "clean" and scores["small_test_set"] is True and len(scores["inception_sha256"]) == 64
    # the pictures scored are `imgtrans run`'s, as PNG (the FID function itself is checked against the tools above)
    ran = cli("run", tiny_cyclegan, root / "testA", "-o", tmp_path / "hand", "--precision", "fp32")
    assert ran.exit_code == 0, ran.stderr
    kept = sorted((tmp_path / "outs" / "seed-0").iterdir())  # named by the whole input name: 000.png.png
    assert [p.name.removesuffix(".png") for p in kept] == sorted(p.name for p in (tmp_path / "hand").iterdir())
    assert all(np.array_equal(fidlib.read_picture(p), fidlib.read_picture(tmp_path / "hand" / p.name[:-4]))
               for p in kept)
    again = cli("eval", tiny_cyclegan, "--data", root, "--fid", "--inception", weights, "--outputs", tmp_path / "outs")
    assert again.exit_code == 2 and "not empty" in again.stderr  # never scores what an earlier run left

    pairs = tmp_path / "pairs"
    (pairs / "test").mkdir(parents=True)
    rng = np.random.default_rng(7)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)).save(pairs / "test" / f"{i}.png")
    noisy = cli("eval", tiny_pix2pix, "--data", pairs, "--fid", "--seeds", "2", "--mode", "legacy-pytorch",
                "--inception", weights)
    assert noisy.exit_code == 0, noisy.stderr
    assert "over 2 seeds (legacy-pytorch mode; 2 translated vs 2 real, PNG)" in noisy.stdout
    assert "quote KID (add --kid)" in noisy.stdout
    refused = cli("eval", tiny_cyclegan, "--data", root, "--kid")
    assert refused.exit_code == 2 and "go with --fid" in refused.stderr
    missing = cli("eval", tiny_cyclegan, "--data", root, "--fid", "--inception", tmp_path / "none.pth")
    assert missing.exit_code == 2 and "no such file" in missing.stderr
