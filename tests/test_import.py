"""Importing reference-format checkpoints into the weights store."""

import collections
import os

import torch
from conftest import make_checkpoint

from imgtrans.checkpoints import store
from imgtrans.checkpoints.weights import load_tensors, read_info


def test_import_reference_checkpoint_with_old_instance_norm_keys(cli, tmp_path):
    state = make_checkpoint(tmp_path / "g.pth", "cyclegan", netG="resnet_6blocks", ngf=8)
    old = dict(state)
    # checkpoints from before PyTorch 0.4 carry running stats for instance norm
    old["model.2.running_mean"] = torch.zeros(8)
    old["model.2.running_var"] = torch.ones(8)
    old["model.10.conv_block.2.num_batches_tracked"] = torch.tensor(0)
    torch.save(collections.OrderedDict(old), tmp_path / "old.pth")

    result = cli("weights", "import", tmp_path / "old.pth", "--name", "old", "--plugin", "cyclegan",
                 "--netG", "resnet_6blocks", "--ngf", "8", "--direction", "a -> b", "--license", "BSD")
    assert result.exit_code == 0, result.stderr
    path = store.cached_path("old")
    info = read_info(path)
    assert info.family == "cyclegan" and info.config["netG"] == "resnet_6blocks" and info.license == "BSD"
    assert len(info.source_sha256) == 64
    loaded = load_tensors(path)
    assert set(loaded) == set(state)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key

    listed = cli("models", "--json")
    assert '"name": "old"' in listed.stdout and '"weights": "cached"' in listed.stdout


def test_import_pix2pix_and_dataparallel_prefix(cli, tmp_path):
    state = make_checkpoint(tmp_path / "p.pth", "pix2pix", netG="unet_128", ngf=8)
    torch.save({"module." + k: v for k, v in state.items()}, tmp_path / "dp.pth")
    result = cli("weights", "import", tmp_path / "dp.pth", "--name", "p", "--plugin", "pix2pix",
                 "--netG", "unet_128", "--ngf", "8")
    assert result.exit_code == 0, result.stderr
    assert torch.equal(load_tensors(store.cached_path("p"))["model.model.0.weight"], state["model.model.0.weight"])


def test_flags_that_contradict_the_file_are_one_clear_line(cli, tmp_path):
    make_checkpoint(tmp_path / "g.pth", "cyclegan", netG="resnet_6blocks", ngf=8)
    result = cli("weights", "import", tmp_path / "g.pth", "--name", "x", "--netG", "resnet_9blocks", "--ngf", "8")
    assert result.exit_code == 2
    assert "--netG resnet_9blocks contradicts the file" in result.stderr and "netG=resnet_6blocks" in result.stderr
    assert "Traceback" not in result.stderr
    assert not store.cached_path("x").exists()


def test_an_unrecognised_layout_loads_as_told_or_says_what_does_not_match(cli, tmp_path):
    """Where nothing is detected, --family and the flags are taken, and a
    mismatch is named key by key (the pre-detection behaviour)."""
    state = make_checkpoint(tmp_path / "g.pth", "cyclegan", netG="resnet_6blocks", ngf=8)
    state["extra.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "odd.pth")
    result = cli("weights", "import", tmp_path / "odd.pth", "--name", "x", "--family", "cyclegan")
    assert result.exit_code == 2 and "tensor(s) it does not have (extra.weight)" in result.stderr
    torch.save({"a.weight": torch.zeros(3)}, tmp_path / "rand.pth")
    result = cli("weights", "import", tmp_path / "rand.pth", "--name", "x", "--family", "cyclegan", "--ngf", "8")
    assert result.exit_code == 2 and "does not match the network" in result.stderr and "missing" in result.stderr
    assert not store.cached_path("x").exists()


class Evil:
    """Unpickling this runs code: creates a folder (harmless stand-in for worse)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_pickled_objects_are_refused(cli, tmp_path):
    torch.save({"model.1.weight": Evil(tmp_path / "pwned")}, tmp_path / "evil.pth")
    torch.save({"weight": torch.zeros(1), "cfg": collections.Counter()}, tmp_path / "mixed.pth")
    for name in ("evil.pth", "mixed.pth"):
        result = cli("weights", "import", tmp_path / name, "--name", "e", "--plugin", "cyclegan")
        assert result.exit_code == 2, name
        assert name in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "pwned").exists()
    assert not store.cached_path("e").exists()


def test_not_a_checkpoint_and_missing_file(cli, tmp_path):
    (tmp_path / "notes.pth").write_text("hello")
    result = cli("weights", "import", tmp_path / "notes.pth", "--name", "n", "--plugin", "cyclegan")
    assert result.exit_code == 2 and "not a PyTorch checkpoint" in result.stderr
    result = cli("weights", "import", tmp_path / "nope.pth", "--name", "n", "--plugin", "cyclegan")
    assert result.exit_code == 2 and "no such file" in result.stderr
    result = cli("weights", "import", tmp_path / "nope.pth", "--name", "n", "--plugin", "stylegan")
    assert result.exit_code == 2 and "unknown model family" in result.stderr


def test_existing_name_needs_force_and_rm(cli, tmp_path, tiny_cyclegan):
    make_checkpoint(tmp_path / "g2.pth", "cyclegan", seed=1, netG="resnet_6blocks", ngf=8)
    args = ["weights", "import", tmp_path / "g2.pth", "--name", tiny_cyclegan, "--plugin", "cyclegan",
            "--netG", "resnet_6blocks", "--ngf", "8"]
    assert cli(*args).exit_code == 2
    assert cli(*args, "--force").exit_code == 0
    assert '"name": "tiny"' in cli("weights", "list", "--json").stdout
    assert cli("weights", "rm", tiny_cyclegan).exit_code == 0
    assert not store.cached_path(tiny_cyclegan).exists()
    assert cli("weights", "rm", tiny_cyclegan).exit_code == 2


def test_safetensors_import_and_half_precision(cli, tmp_path):
    from safetensors.torch import save_file

    state = make_checkpoint(tmp_path / "g.pth", "cyclegan", netG="resnet_6blocks", ngf=8)
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "g.safetensors")
    result = cli("weights", "import", tmp_path / "g.safetensors", "--name", "h", "--plugin", "cyclegan",
                 "--netG", "resnet_6blocks", "--ngf", "8", "--half")
    assert result.exit_code == 0, result.stderr
    loaded = load_tensors(store.cached_path("h"))
    assert loaded["model.1.weight"].dtype == torch.float16
    assert torch.allclose(loaded["model.1.weight"].float(), state["model.1.weight"], atol=1e-3)
