"""pix2pix test-time behaviour: per-image statistics, dropout as noise, batching."""

import copy

import numpy as np
import pytest
import torch
from conftest import random_image
from PIL import Image

from imgtrans.inference.translate import InferenceOptions, Translator


@pytest.fixture
def unet(registry):
    family = registry.family("pix2pix")
    torch.manual_seed(0)
    from imgtrans.blocks import init_weights

    net = init_weights(family.build_generator(family.make_config({"netG": "unet_128", "ngf": 8})))
    # give the running statistics values unlike per-image ones, so eval mode differs
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    return net


def forward(translator: Translator, batch: list[np.ndarray]) -> torch.Tensor:
    """The generator's output in [-1, 1] for HxWxC uint8 pictures."""
    x = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)
    return translator.run(x, translator.seeds(batch), to_uint8=False) * 2 - 1


def pictures(n, size=(40, 30), same=True):
    rng = np.random.default_rng(5)
    shapes = [size] * n if same else [(size[0] + i, size[1] + 2 * i) for i in range(n)]
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for (w, h) in shapes]


def test_single_image_equals_reference_train_mode(unet):
    """Batch size 1 in the reference's default test mode (train-mode batch norm,
    no dropout layers to compare noise) gives the same numbers."""
    no_dropout = copy.deepcopy(unet)
    for module in list(no_dropout.modules()):
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    reference = copy.deepcopy(no_dropout).train()
    [pixels] = pictures(1, size=(128, 128))
    translator = Translator(no_dropout, device=torch.device("cpu"), pad_multiple=128,
                            options=InferenceOptions(dropout=False))
    ours = forward(translator, [pixels])
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        theirs = reference(x)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_batched_equals_one_by_one(unet):
    batch = pictures(4)
    options = InferenceOptions(seed=3)
    together = forward(Translator(copy.deepcopy(unet), device=torch.device("cpu"), pad_multiple=128, options=options),
                       batch)
    alone = Translator(copy.deepcopy(unet), device=torch.device("cpu"), pad_multiple=128, options=options)
    one_by_one = torch.cat([forward(alone, [p]) for p in batch])
    assert torch.allclose(together, one_by_one, atol=1e-5)


def test_dropout_is_noise_and_seed_makes_it_reproducible(unet):
    [pixels] = pictures(1)

    def out(**kw):
        return forward(Translator(copy.deepcopy(unet), device=torch.device("cpu"), pad_multiple=128,
                                  options=InferenceOptions(**kw)), [pixels])

    assert torch.equal(out(seed=1), out(seed=1))
    assert not torch.allclose(out(seed=1), out(seed=2), atol=1e-4)
    assert torch.equal(out(dropout=False), out(dropout=False, seed=9))
    assert not torch.allclose(out(eval_mode=True), out(dropout=False), atol=1e-3)


def test_cli_batched_output_files_equal_unbatched(cli, tiny_pix2pix, tmp_path):
    for i in range(5):
        random_image(tmp_path / "in" / f"{i}.png", size=(40 + 3 * (i // 2), 30), seed=i)
    for batch, out in (("1", "one"), ("4", "four")):
        result = cli("run", tiny_pix2pix, "in", "-o", out, "--batch-size", batch, "--seed", "7")
        assert result.exit_code == 0, result.stderr
    for i in range(5):
        with Image.open(tmp_path / "one" / f"{i}.png") as a, Image.open(tmp_path / "four" / f"{i}.png") as b:
            diff = np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16))
            assert a.size == (40 + 3 * (i // 2), 30)
            assert diff.max() <= 1 and diff.mean() < 0.01


def test_tiny_images_pad_to_the_unet_multiple(cli, tiny_pix2pix, tmp_path):
    random_image(tmp_path / "dot.png", size=(3, 1))
    result = cli("run", tiny_pix2pix, "dot.png", "-o", "out")
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "out" / "dot.png") as im:
        assert im.size == (3, 1)


@pytest.mark.slow
def test_compile_gives_the_eager_pictures_and_refuses_per_image_dropout(cli, tiny_pix2pix, tmp_path):
    """--compile (torch.compile of the whole-image pass) changes speed, not
    pictures; with test-time dropout it would recompile per picture, so it is
    refused with the reason."""
    for i in range(2):
        random_image(tmp_path / "in" / f"{i}.png", size=(40, 30), seed=i)
    refused = cli("run", tiny_pix2pix, "in", "-o", "x", "--compile")
    assert refused.exit_code == 2 and "--no-dropout" in refused.stderr and "Traceback" not in refused.stderr
    for flags, out in (([], "eager"), (["--compile"], "compiled")):
        result = cli("run", tiny_pix2pix, "in", "-o", out, "--no-dropout", *flags)
        assert result.exit_code == 0, result.stderr
    for i in range(2):
        with Image.open(tmp_path / "eager" / f"{i}.png") as a, Image.open(tmp_path / "compiled" / f"{i}.png") as b:
            assert np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max() <= 1


@pytest.mark.slow
def test_compile_without_a_compiler_is_a_one_line_error(tiny_pix2pix, tmp_path):
    import os
    import subprocess
    import sys

    random_image(tmp_path / "in" / "0.png", size=(40, 30))
    env = dict(os.environ, CXX="/bin/false", TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "inductor"))
    result = subprocess.run([sys.executable, "-m", "imgtrans", "run", tiny_pix2pix, "in", "-o", "out", "--no-dropout",
                             "--compile"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "0.png: translation failed (compile failed" in result.stderr and "run without compile" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out" / "0.png").exists()
