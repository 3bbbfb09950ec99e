"""The public Python API: load, list_models, same type in and out, alpha,
batches, threads, typed errors, conditional sampling."""

import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image

import imgtrans
from imgtrans.io.imageio import ImageError


@pytest.fixture(scope="module")
def vintage():
    return imgtrans.load("vintage", device="cpu")


@pytest.fixture(scope="module")
def pix2pix():
    """edges2fashion: U-Net with per-image batch norm and seeded dropout, grayscale."""
    return imgtrans.load("edges2fashion", device="cpu", seed=3)


def photo(size=(45, 31), seed=0, channels=3):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)


def test_import_and_listing_stay_torch_free():
    code = ("import sys, imgtrans; ms = imgtrans.list_models(); assert 'torch' not in sys.modules, 'torch'; "
            "print(len(ms))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 20


def test_list_models_describes_each_model():
    models = {m.name: m for m in imgtrans.list_models()}
    assert models["vintage"].family == "cyclegan" and models["vintage"].weights == "shipped"
    assert models["vintage"].kind == "translate" and models["vintage"].path.is_file()
    assert models["horse2zebra"].weights == "downloadable" and models["horse2zebra"].path is None
    assert models["cgan-fashion"].kind == "conditional" and "sneaker" in models["cgan-fashion"].labels


def test_pil_in_pil_out_at_full_size(vintage):
    image = Image.fromarray(photo())
    out = vintage(image)
    assert isinstance(out, Image.Image) and out.size == image.size and out.mode == "RGB"
    assert np.abs(np.asarray(out, np.int16) - np.asarray(image, np.int16)).mean() > 1  # it did translate


def test_every_input_type_gives_the_same_pixels(vintage):
    pixels = photo()
    from_pil = np.asarray(vintage(Image.fromarray(pixels)))
    from_numpy = vintage(pixels)
    tensor = torch.from_numpy(pixels).permute(2, 0, 1).float() / 255
    from_tensor = vintage(tensor)
    from_batch = vintage(tensor[None].repeat(2, 1, 1, 1))
    assert from_numpy.dtype == np.uint8 and from_numpy.shape == pixels.shape
    assert np.array_equal(from_pil, from_numpy)
    assert from_tensor.shape == tensor.shape and from_tensor.dtype == torch.float32
    assert 0 <= float(from_tensor.min()) and float(from_tensor.max()) <= 1
    as_uint8 = (from_tensor * 255).round().permute(1, 2, 0).numpy().astype(np.int16)
    assert np.abs(as_uint8 - from_numpy).max() <= 1
    assert from_batch.shape == (2, *tensor.shape) and torch.allclose(from_batch[0], from_tensor, atol=1e-5)


def test_alpha_is_kept(vintage):
    rgba = photo(channels=4)
    out = vintage(Image.fromarray(rgba, "RGBA"))
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[:, :, 3], rgba[:, :, 3])
    array_out = vintage(rgba)
    assert array_out.shape == rgba.shape and np.array_equal(array_out[:, :, 3], rgba[:, :, 3])
    la = Image.fromarray(rgba[:, :, :2].copy(), "LA")
    assert np.array_equal(np.asarray(vintage(la))[:, :, 3], rgba[:, :, 1])
    tensor = torch.from_numpy(rgba).permute(2, 0, 1).float() / 255
    assert torch.equal(vintage(tensor)[3], tensor[3])


def test_grayscale_model_takes_any_layout(pix2pix):
    gray = photo((32, 32), channels=1)[:, :, 0]
    out = pix2pix(gray)
    assert out.shape == gray.shape and out.dtype == np.uint8
    rgb_out = pix2pix(np.repeat(gray[:, :, None], 3, axis=2))
    assert rgb_out.shape == (32, 32, 1) and np.array_equal(rgb_out[:, :, 0], out)
    assert pix2pix(Image.fromarray(gray)).mode == "L"


def test_translate_batches_equal_single_calls(pix2pix):
    images = ([photo((32, 32), seed=i, channels=1)[:, :, 0] for i in range(5)]
              + [photo((40, 32), seed=9, channels=1)[:, :, 0]])
    batched = list(pix2pix.translate(images, batch_size=4))
    assert [b.shape for b in batched] == [i.shape for i in images]
    for image, out in zip(images, batched):
        assert np.array_equal(out, pix2pix(image))


def test_concurrent_calls_equal_sequential_ones(pix2pix):
    images = [photo((32 + 4 * i, 32), seed=i, channels=1)[:, :, 0] for i in range(6)]
    expected = [pix2pix(image) for image in images]
    results = [None] * len(images)

    def work(k):
        results[k] = pix2pix(images[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(r, e) for r, e in zip(results, expected))


def test_translating_never_changes_the_callers_network():
    """A network handed to the translator keeps its layers, weights, mode and
    dtype (inference swaps norms and dropout in its own copy); two loads of one
    model share no tensor."""
    import copy

    import torch

    from imgtrans.inference.translate import InferenceOptions, Translator

    first = imgtrans.load("vintage", device="cpu")
    second = imgtrans.load("vintage", device="cpu")
    assert not ({p.data_ptr() for p in first.generator.parameters()}
                & {p.data_ptr() for p in second.generator.parameters()})
    registry = imgtrans.hub.default_registry()
    for family, options in (("cyclegan", {"ngf": 4, "netG": "resnet_1blocks"}),
                            ("pix2pix", {"ngf": 4, "netG": "unet_32"})):
        fam = registry.family(family)
        net = fam.build_generator(fam.make_config(options)).train()
        before = copy.deepcopy(net)
        translator = Translator(net, device="cpu", pad_multiple=fam.pad_multiple(fam.make_config(options)),
                                options=InferenceOptions(seed=0, precision="bf16"))
        translator([np.zeros((40, 36, 3), np.uint8)])
        assert net.training and [type(m) for m in net.modules()] == [type(m) for m in before.modules()], family
        assert all(torch.equal(a, b) and a.dtype == b.dtype
                   for a, b in zip(net.state_dict().values(), before.state_dict().values())), family


def test_sample_is_seeded():
    model = imgtrans.load("cgan-fashion", device="cpu")
    a = model.sample(["sneaker", 0], n=3, seed=1)
    b = model.sample(["sneaker", 0], n=3, seed=1)
    c = model.sample(["sneaker", 0], n=3, seed=2)
    assert len(a) == 6 and all(isinstance(i, Image.Image) and i.size == (28, 28) for i in a)
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))
    assert not all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, c))
    with pytest.raises(imgtrans.OptionError, match="unknown label 'unicorn'"):
        model.sample(["unicorn"])
    with pytest.raises(imgtrans.ModelKindError):
        model(Image.new("RGB", (8, 8)))


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: imgtrans.load("no-such-model"), imgtrans.UnknownModelError),
        (lambda: imgtrans.load("vintage", device="tpu"), imgtrans.ImgtransError),
        (lambda: imgtrans.load("vintage", precision="fp8"), imgtrans.OptionError),
        (lambda: imgtrans.load("vintage", max_memory="lots"), imgtrans.OptionError),
        (lambda: imgtrans.load("vintage", seed=-1), imgtrans.OptionError),
        (lambda: imgtrans.load("horse2zebra", mirror="http://127.0.0.1:9"), imgtrans.ImgtransError),
    ],
)
def test_errors_are_typed(call, error):
    with pytest.raises(error) as caught:
        call()
    assert isinstance(caught.value, imgtrans.ImgtransError)
    assert "\n" not in str(caught.value)


def test_bad_images_raise_image_error(vintage):
    for bad in (np.zeros((4, 4), np.float32), np.zeros((4, 4, 5), np.uint8), torch.zeros(2, 3, 4, 4, 4), "photo.jpg"):
        with pytest.raises(ImageError):
            vintage(bad)


def test_cli_prints_the_library_message(cli):
    with pytest.raises(imgtrans.UnknownModelError) as caught:
        imgtrans.load("vintagee")
    result = cli("run", "vintagee", "x.png")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"imgtrans: error: {caught.value}"
