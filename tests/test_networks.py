"""The networks' state dicts equal the reference implementation's, key for key."""

import json
from pathlib import Path

import pytest
import torch

MANIFEST = Path(__file__).resolve().parent / "data" / "official_state_dicts.json"  # from the reference implementation
CASES = {
    "resnet_9blocks-instance": ("cyclegan", {}, "G"),
    "resnet_6blocks-instance": ("cyclegan", {"netG": "resnet_6blocks"}, "G"),
    "unet_256-batch-dropout": ("pix2pix", {}, "G"),
    "unet_128-batch-dropout": ("pix2pix", {"netG": "unet_128"}, "G"),
    "patchgan_70-instance-3ch": ("cyclegan", {}, "D"),
    "patchgan_70-batch-6ch": ("pix2pix", {}, "D"),
}


@pytest.fixture(scope="module")
def manifest():
    if not MANIFEST.is_file():
        pytest.fail(f"reference manifest missing: {MANIFEST}")
    return json.loads(MANIFEST.read_text())


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_dict_matches_reference(case, manifest, registry):
    family_name, options, which = CASES[case]
    family = registry.family(family_name)
    config = family.make_config(options)
    net = family.build_generator(config) if which == "G" else family.build_discriminator(config)
    got = [(k, list(v.shape)) for k, v in net.state_dict().items()]
    expected = manifest[case]["state_dict"]
    expected = list(expected.items()) if isinstance(expected, dict) else [tuple(x) for x in expected]
    assert got == [(k, list(s)) for k, s in expected]
    assert sum(p.numel() for p in net.parameters()) == manifest[case]["params"]


@pytest.mark.parametrize("netG,size", [("resnet_6blocks", 36), ("unet_128", 128)])
def test_generators_keep_size_and_range(registry, netG, size):
    family = registry.family("cyclegan" if netG.startswith("resnet") else "pix2pix")
    net = family.build_generator(family.make_config({"netG": netG, "ngf": 8}))
    y = net(torch.randn(1, 3, size, size))
    assert y.shape == (1, 3, size, size)
    assert y.abs().max() <= 1


def test_cgan_shapes(registry):
    family = registry.family("cgan")
    config = family.make_config({"ngf": 8, "ndf": 8})
    g, d = family.build_generator(config), family.build_discriminator(config)
    labels = torch.tensor([0, 3, 9])
    images = g(torch.randn(3, 100), labels)
    assert images.shape == (3, 1, 28, 28)
    assert d(images, labels).shape == (3,)


def test_affine_instance_norm_variant(registry):
    family = registry.family("cyclegan")
    net = family.build_generator(family.make_config({"norm_affine": True, "ngf": 8}))
    keys = net.state_dict().keys()
    assert "model.2.weight" in keys and "model.10.conv_block.2.weight" in keys


def test_unknown_option_is_refused(registry):
    with pytest.raises(ValueError, match="netG"):
        registry.family("pix2pix").make_config({"netG": "unet_100"})
    with pytest.raises(ValueError, match="unknown architecture option"):
        registry.family("pix2pix").make_config({"nfg": 8})
