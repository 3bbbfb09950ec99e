"""Checkpoints without flags: the architecture read from names and shapes.

Every variant is built with the reference's own layer layout (our networks
load the reference's files unchanged: tests/data/official_state_dicts.json),
saved as a bare state dict, and must be detected exactly, load, and give the
pixels of an import with the right flags.
"""

import collections
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import imgtrans
from imgtrans.blocks import PatchDiscriminator, init_weights
from imgtrans.checkpoints import store
from imgtrans.checkpoints.convert import inspect_checkpoint
from imgtrans.checkpoints.detection import DetectionError, TensorMeta, choose, detect_shapes

MANIFEST = Path(__file__).resolve().parent / "data" / "official_state_dicts.json"

RESNETS = [  # (blocks, norm, instance affine, dropout, ngf, in, out)
    (9, "instance", False, False, 8, 3, 3),
    (6, "instance", False, True, 4, 3, 3),
    (1, "batch", False, False, 4, 1, 1),
    (12, "batch", False, True, 6, 3, 4),
    (6, "instance", True, False, 8, 4, 3),
    (3, "none", False, False, 4, 2, 3),
    (6, "none", False, True, 12, 3, 1),
    (2, "instance", True, True, 4, 1, 2),
]
UNETS = [  # (downs, norm, instance affine, ngf, in, out)
    (8, "batch", False, 4, 3, 3),
    (7, "batch", False, 4, 1, 3),
    (6, "instance", False, 8, 3, 1),
    (5, "none", False, 4, 4, 4),
    (6, "instance", True, 4, 2, 3),
    (9, "batch", False, 2, 3, 3),
]
VARIANTS = (
    [("cyclegan", {"netG": f"resnet_{b}blocks", "norm": n, "norm_affine": a, "use_dropout": d, "ngf": g,
                   "input_nc": i, "output_nc": o}) for b, n, a, d, g, i, o in RESNETS]
    + [("pix2pix", {"netG": f"unet_{2**k}", "norm": n, "norm_affine": a, "ngf": g, "input_nc": i, "output_nc": o})
       for k, n, a, g, i, o in UNETS]
    + [("cgan", {"z_dim": 16, "num_classes": 3, "ngf": 8, "channels": 1}),
       ("cgan", {"z_dim": 100, "num_classes": 10, "ngf": 4, "channels": 3})]
)


def variant_id(variant):
    family, options = variant
    return family + "-" + "-".join(f"{k}={v}" for k, v in options.items())


def build(registry, family_name, options, seed=0):
    """A network with random weights (and random batch-norm statistics)."""
    family = registry.family(family_name)
    torch.manual_seed(seed)
    net = init_weights(family.build_generator(family.make_config(options)))
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return net


def save_state(path, state):
    torch.save(collections.OrderedDict(state), path)
    return path


def detected(registry, path, **kwargs):
    file, report = inspect_checkpoint(registry, path)
    return choose(report, str(path), **kwargs)


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_every_variant_is_detected_exactly(registry, tmp_path, variant):
    family, options = variant
    path = save_state(tmp_path / "g.pth", build(registry, family, options).state_dict())
    found = detected(registry, path)
    expected = dataclasses.asdict(registry.family(family).make_config(options))
    if family == "pix2pix":  # a U-Net's dropout holds no weights: assumed on, and said so
        assert expected.pop("use_dropout") is True and found.config.pop("use_dropout") is True
        assert "use_dropout" in found.assumed
    else:
        assert not found.assumed
    assert found.family == family and found.config == expected
    assert (found.input_channels, found.output_channels) == (
        (None, options["channels"]) if family == "cgan" else (options["input_nc"], options["output_nc"]))
    assert not found.unexplained and not found.dropped and found.network == ""


@pytest.mark.parametrize("variant", [VARIANTS[1], VARIANTS[3], VARIANTS[4], VARIANTS[5], VARIANTS[9], VARIANTS[12]],
                         ids=variant_id)
def test_run_file_and_import_give_the_pixels_of_an_import_with_flags(registry, cli, tmp_path, variant):
    family, options = variant
    path = save_state(tmp_path / "g.pth", build(registry, family, options).state_dict())
    args = []
    for key, value in options.items():  # the flags an import needed before detection (channels had none)
        if key == "norm_affine":
            args.append("--norm-affine" if value else "--no-norm-affine")
        elif key == "use_dropout":
            args.append("--dropout" if value else "--no-dropout")
        elif key not in ("input_nc", "output_nc"):
            args += [f"--{key}", str(value)]
    told = cli("weights", "import", path, "--name", "told", "--family", family, *args)
    assert told.exit_code == 0, told.stderr
    auto = cli("weights", "import", path, "--name", "auto")
    assert auto.exit_code == 0, auto.stderr
    assert "(" + family + ": " in auto.stderr  # the note says what was detected

    x = torch.rand(2, options["input_nc"], 37, 50)
    outputs = []
    for model in ("told", "auto", path):
        loaded = imgtrans.load(model, device="cpu", precision="fp32", dropout=False, registry=fresh(registry))
        outputs.append(loaded(x))
    assert outputs[0].shape == (2, options["output_nc"], 37, 50)
    for other in outputs[1:]:  # at most 1 level of 255
        assert (other - outputs[0]).abs().max().item() * 255 <= 1


@pytest.mark.parametrize("variant", [VARIANTS[11], VARIANTS[7]], ids=variant_id)
def test_two_and_four_channel_models_run_on_files(registry, cli, tmp_path, variant):
    """A 4-channel model reads RGBA as data and writes RGBA; 2 channels are gray + alpha."""
    from PIL import Image

    family, options = variant
    path = save_state(tmp_path / "g.pth", build(registry, family, options).state_dict())
    rgba = np.random.default_rng(1).integers(0, 256, (24, 40, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in.png")
    result = cli("run", path, tmp_path / "in.png", "-o", tmp_path / "out", "--no-dropout")
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "out" / "in.png") as written:
        assert written.mode == {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[options["output_nc"]] and written.size == (40, 24)
        got = np.asarray(written)
    model = imgtrans.load(path, device="cpu", dropout=False)
    with Image.open(tmp_path / "in.png") as image:
        expected = np.asarray(model(image))
    assert np.array_equal(got, expected)
    assert cli("run", path, tmp_path / "in.png", "-o", tmp_path / "jpg", "--ext", "jpg", "--no-dropout").exit_code == 0


def fresh(registry=None):
    """The registry again, seeing the models imported since."""
    return imgtrans.Registry.from_plugin_manager(imgtrans.make_plugin_manager())


def test_official_catalogue_layouts_are_detected_as_their_catalogue_configs(registry):
    manifest = json.loads(MANIFEST.read_text())
    layouts = {"cyclegan": manifest["resnet_9blocks-instance"], "pix2pix": manifest["unet_256-batch-dropout"]}
    # CUT's: test_cut
    official = [spec for spec in registry.models.values() if spec.weights.url and spec.family in layouts]
    assert len(official) == 23
    for spec in official:
        shapes = {k: TensorMeta(tuple(v), "float32") for k, v in layouts[spec.family]["state_dict"].items()}
        found = choose(detect_shapes(registry, shapes), spec.name)
        assert found.family == spec.family, spec.name
        assert found.config == dataclasses.asdict(registry.family(spec.family).make_config(spec.config)), spec.name
        assert found.parameters == layouts[spec.family]["params"]


def test_dataparallel_prefix_old_buffers_and_containers(registry, cli, tmp_path):
    options = {"netG": "resnet_6blocks", "ngf": 4}
    state = build(registry, "cyclegan", options).state_dict()
    old = {"module." + k: v for k, v in state.items()}
    old["module.model.2.running_mean"] = torch.zeros(4)  # instance norm kept statistics before PyTorch 0.4
    old["module.model.2.running_var"] = torch.ones(4)
    found = detected(registry, save_state(tmp_path / "old.pth", old))
    assert found.config["netG"] == "resnet_6blocks" and found.prefix == "module."
    assert found.dropped == ("model.2.running_mean", "model.2.running_var")
    assert any("DataParallel" in note for note in found.notes)

    # batch norm from before PyTorch 0.4.1 had no num_batches_tracked
    unet = build(registry, "pix2pix", {"netG": "unet_64", "ngf": 4}).state_dict()
    older = {k: v for k, v in unet.items() if not k.endswith("num_batches_tracked")}
    found = detected(registry, save_state(tmp_path / "older.pth", older))
    assert found.config["netG"] == "unet_64" and found.filled

    # a training checkpoint: the generator beside its discriminator and optimizer
    disc = PatchDiscriminator(input_nc=6, ndf=8, n_layers=3, norm="batch").state_dict()
    adam = torch.optim.Adam(torch.nn.Linear(2, 2).parameters())
    torch.nn.Linear(2, 2)(torch.zeros(1, 2)).sum().backward()
    full = {"epoch": 5, "netG": unet, "netD": disc, "optimizer_G": adam.state_dict()}
    torch.save(full, tmp_path / "full.pth")
    found = detected(registry, tmp_path / "full.pth")
    assert found.network == "netG" and found.family == "pix2pix"
    result = cli("run", tmp_path / "full.pth", *tiny_picture(tmp_path), "-o", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / "p.png").is_file()


def tiny_picture(tmp_path):
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    return [tmp_path / "p.png"]


def test_two_generators_need_network(registry, cli, tmp_path):
    a = build(registry, "cyclegan", {"netG": "resnet_6blocks", "ngf": 4}, seed=1).state_dict()
    b = build(registry, "cyclegan", {"netG": "resnet_6blocks", "ngf": 4}, seed=2).state_dict()
    torch.save({"G_A": a, "G_B": b}, tmp_path / "both.pth")
    result = cli("weights", "import", tmp_path / "both.pth", "--name", "b")
    assert result.exit_code == 2 and "holds 2 generators (G_A: " in result.stderr
    assert "--network G_A" in result.stderr and "Traceback" not in result.stderr
    assert not store.cached_path("b").exists()
    result = cli("weights", "import", tmp_path / "both.pth", "--name", "b", "--network", "G_B")
    assert result.exit_code == 0, result.stderr
    x = torch.rand(1, 3, 16, 16)
    imported = imgtrans.load("b", device="cpu", registry=fresh(registry))(x)
    save_state(tmp_path / "b_only.pth", b)
    assert torch.equal(imported, imgtrans.load(tmp_path / "b_only.pth", device="cpu", registry=fresh(registry))(x))
    assert torch.equal(imported,
                       imgtrans.load(tmp_path / "both.pth", network="G_B", device="cpu", registry=fresh(registry))(x))


def cut_like(registry):
    """A CUT/FastCUT generator's layout: the ResNet's keys plus the fixed blur
    filters of its antialiased Downsample (3x3) and Upsample (4x4) layers."""
    state = build(registry, "cyclegan", {"netG": "resnet_6blocks", "ngf": 4}).state_dict()
    state["model.5.filt"] = torch.ones(8, 1, 3, 3) / 9
    state["model.10.filt"] = torch.ones(16, 1, 3, 3) / 9
    state["model.19.filt"] = torch.ones(16, 1, 4, 4) / 4
    return state


REFUSALS = {
    "discriminator.pth": lambda r: PatchDiscriminator(input_nc=3, ndf=8, n_layers=3, norm="instance").state_dict(),
    "optimizer.pth": lambda r: torch.optim.Adam([torch.nn.Parameter(torch.zeros(3))]).state_dict() | {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(3), "exp_avg_sq": torch.zeros(3)}}},
    "random.pth": lambda r: {"encoder.w": torch.zeros(4, 4), "head.b": torch.zeros(2)},
    "cut.pth": cut_like,
}
REASONS = {"discriminator.pth": "a PatchGAN discriminator (3 layers, ndf 8, 3 input channels)",
           "optimizer.pth": "an optimizer state", "random.pth": "no installed family recognises these 2 tensor(s)",
           "cut.pth": "a CUT/FastCUT generator"}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_refusals_are_one_line_and_write_nothing(registry, cli, tmp_path, name):
    torch.save(REFUSALS[name](registry), tmp_path / name)
    for args in (("weights", "import", tmp_path / name, "--name", "x"),
                 ("run", tmp_path / name, *tiny_picture(tmp_path), "-o", tmp_path / "out")):
        result = cli(*args)
        assert result.exit_code == 2, result.stderr
        assert REASONS[name] in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not store.cached_path("x").exists() and not (tmp_path / "out").exists()
    inspected = cli("weights", "inspect", tmp_path / name, "--json")
    assert inspected.exit_code == 1 and json.loads(inspected.stdout)["runnable"] is False


def test_truncated_and_pickled_files_are_refused(cli, tmp_path, registry):
    path = save_state(tmp_path / "g.pth",
                      build(registry, "cyclegan", {"netG": "resnet_6blocks", "ngf": 4}).state_dict())
    (tmp_path / "cut.pth").write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for command in (("weights", "inspect"), ("run",)):
        result = cli(*command, tmp_path / "cut.pth", *(tiny_picture(tmp_path) if command == ("run",) else ()))
        assert (result.exit_code == 2 and "not a PyTorch checkpoint" in result.stderr
                and "Traceback" not in result.stderr)


def test_contradicting_and_completing_flags(registry, cli, tmp_path):
    path = save_state(tmp_path / "u.pth", build(registry, "pix2pix", {"netG": "unet_64", "ngf": 4}).state_dict())
    result = cli("weights", "import", path, "--name", "u", "--norm", "instance")
    assert result.exit_code == 2 and "--norm instance contradicts the file, which holds norm=batch" in result.stderr
    result = cli("weights", "import", path, "--name", "u", "--family", "cyclegan")
    assert (result.exit_code == 2 and "holds a pix2pix generator" in result.stderr
            and "--family cyclegan" in result.stderr)
    assert not store.cached_path("u").exists()
    result = cli("weights", "import", path, "--name", "u", "--no-dropout")  # what the file cannot show
    assert result.exit_code == 0, result.stderr
    info = cli("info", "u", "--json")
    described = json.loads(info.stdout)
    assert described["architecture"]["use_dropout"] is False and described["detected"]["family"] == "pix2pix"


def test_inspect_reports_what_it_could_not_place(registry, cli, tmp_path):
    state = build(registry, "cyclegan", {"netG": "resnet_6blocks", "ngf": 4}).state_dict()
    state["model.99.weight"] = torch.zeros(3)
    path = save_state(tmp_path / "odd.pth", state)
    result = cli("weights", "inspect", path, "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["detections"][0]["unexplained"] == ["model.99.weight"]
    text = cli("weights", "inspect", path)
    assert "unplaced     1: model.99.weight" in text.stdout


def test_detection_reads_no_values(registry, tmp_path):
    """Names and shapes only: a detection of a file whose tensor bytes were
    overwritten with garbage (same zip layout and sizes) sees the same thing."""
    path = save_state(tmp_path / "g.pth",
                      build(registry, "cyclegan", {"netG": "resnet_6blocks", "ngf": 4}).state_dict())
    before = detected(registry, path)
    import zipfile

    garbled = tmp_path / "garbled.pth"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(garbled, "w", zipfile.ZIP_STORED) as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item, bytes(len(data)) if "/data/" in item.filename else data)
    assert detected(registry, garbled) == before


def test_unknown_family_of_a_cached_model_is_one_line(cli, tmp_path):
    from imgtrans.checkpoints import weights as wfile

    wfile.save(store.cached_path("orphan"), {"G.w": torch.zeros(1)},
               wfile.make_metadata(name="orphan", family="stylegan9", config={}, preprocess={}))
    result = cli("run", "orphan", *tiny_picture(tmp_path))
    assert result.exit_code == 2 and "unknown model family 'stylegan9'" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(imgtrans.ImgtransError, match="stylegan9"):
        imgtrans.load("orphan")
    with pytest.raises(DetectionError):
        choose(detect_shapes(fresh(), {"x": TensorMeta((1,), "float32")}), "x")


def test_every_builtin_model_has_a_complete_card(registry):
    """Trained size, licence, source and its sha256, measured quality with its
    command (or why not), an example, failure modes: for every catalogue entry."""
    from imgtrans.checkpoints.weights import sha256_file

    builtin = [s for s in registry.models.values() if registry.owners[s.name] in ("cyclegan", "pix2pix", "cgan")]
    assert len(builtin) == 29  # 23 published by the authors, 6 shipped
    for spec in builtin:
        card = spec.card
        assert card is not None and card.quality and card.example and card.failure_modes, spec.name
        assert spec.preprocess.crop_size and spec.license not in ("", "unknown") and spec.source, spec.name
        assert spec.weights.sha256 or spec.weights.url, f"{spec.name}: no sha256 and nothing to record one at download"
        if spec.weights.filename and not spec.weights.package:  # trained here: the shipped file is the source
            assert sha256_file(registry.locate(spec).path) == spec.weights.sha256, spec.name
        if "`" in card.quality:  # a measured figure names the command that measured it
            assert "imgtrans " in card.quality or "benchmarks/" in card.quality, spec.name
        shown = card.example.split(" ")[0]
        if shown.endswith((".png", ".jpg")):
            assert (Path(__file__).resolve().parents[1] / "weights" / shown).is_file(), spec.name


def test_run_notes_a_picture_far_from_the_trained_scale(cli, tmp_path):
    from PIL import Image

    for side in (28, 32):
        Image.fromarray(np.full((side, side), 40, np.uint8)).save(tmp_path / f"s{side}.png")
    far = cli("run", "sneaker2boot", tmp_path / "s28.png", "-o", tmp_path / "a")
    assert far.exit_code == 0 and "trained at 32x32; this 28x28 picture is far from it" in far.stderr
    assert "0.80 at 28" in far.stderr and "--load-size 32" in far.stderr
    near = cli("run", "sneaker2boot", tmp_path / "s32.png", "-o", tmp_path / "b")
    assert near.exit_code == 0 and "far from it" not in near.stderr
    quiet = cli("run", "sneaker2boot", tmp_path / "s28.png", "-o", tmp_path / "c", "-q")
    assert "far from it" not in quiet.stderr
    model = imgtrans.load("sneaker2boot")
    assert model.scale_note(28, 28) and model.scale_note(30, 31) is None and model.scale_note(64, 64)


def test_hostile_files_are_one_line_refusals(registry, cli, tmp_path):
    """Found by review: deep nesting, a broadcast tensor declaring a huge
    network in a few bytes, and escape sequences in tensor names."""
    deep = torch.zeros(1)
    for _ in range(5000):
        deep = [deep]
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20000)
    try:
        torch.save(deep, tmp_path / "deep.pth")
    finally:
        sys.setrecursionlimit(limit)
    result = cli("weights", "inspect", tmp_path / "deep.pth")
    assert result.exit_code == 2 and ("nested" in result.stderr) and "Traceback" not in result.stderr

    family = registry.family("cyclegan")
    with torch.device("meta"):
        shapes = family.build_generator(family.make_config({"ngf": 256})).state_dict()
    broadcast = {k: torch.zeros(1).expand(*v.shape) if v.dim() else torch.zeros(()) for k, v in shapes.items()}
    torch.save(broadcast, tmp_path / "huge.pth")
    assert (tmp_path / "huge.pth").stat().st_size < 100_000
    result = cli("weights", "import", tmp_path / "huge.pth", "--name", "huge")
    assert result.exit_code == 2 and "a broadcast view, not weights" in result.stderr
    assert not store.cached_path("huge").exists()

    state = build(registry, "cyclegan", {"netG": "resnet_6blocks", "ngf": 4}).state_dict()
    state["x\x1b]0;pwned\x07\nverdict      runnable"] = torch.zeros(1)
    save_state(tmp_path / "forged.pth", state)
    result = cli("weights", "inspect", tmp_path / "forged.pth")
    assert "\x1b" not in result.stdout and "\\x1b" in result.stdout
    assert not any(line.startswith("verdict      runnable") for line in result.stdout.splitlines()[:-1])


def test_many_names_are_read_in_linear_time(registry, tmp_path):
    import time

    from safetensors.torch import save_file

    save_file({f"a{i}.b.c": torch.zeros(0) for i in range(16000)}, str(tmp_path / "wide.safetensors"))
    start = time.perf_counter()
    _, report = inspect_checkpoint(registry, tmp_path / "wide.safetensors")
    assert not report.detections and time.perf_counter() - start < 15  # it was 29 s when quadratic


def test_renamed_blocks_with_old_statistics_load(registry, tmp_path):
    """vintagify's `block` naming and the reference's old instance-norm statistics together."""
    state = build(registry, "cyclegan", {"netG": "resnet_6blocks", "ngf": 4}).state_dict()
    old = {k.replace(".conv_block.", ".block."): v for k, v in state.items()}
    old["model.10.block.2.running_mean"] = torch.zeros(16)
    old["model.10.block.2.running_var"] = torch.ones(16)
    path = save_state(tmp_path / "old_block.pth", old)
    x = torch.rand(1, 3, 16, 16)
    got = imgtrans.load(path, device="cpu")(x)
    assert torch.equal(got, imgtrans.load(save_state(tmp_path / "plain.pth", state), device="cpu")(x))


def test_catalogue_names_and_imgtrans_files_on_import(registry, cli, tmp_path):
    cgan = build(registry, "cgan", {"z_dim": 100, "num_classes": 10, "ngf": 32, "ndf": 32}).state_dict()
    save_state(tmp_path / "digits.pth", cgan)  # ndf is the discriminator's: not in a generator file
    result = cli("weights", "import", tmp_path / "digits.pth", "--name", "cgan-digits",
                 "-o", tmp_path / "d.safetensors")
    assert result.exit_code == 0, result.stderr
    from imgtrans.checkpoints.weights import read_info

    info = read_info(tmp_path / "d.safetensors")
    assert info.config["ndf"] == 32 and info.labels[:2] == ("0", "1")
    small = save_state(tmp_path / "small.pth", build(registry, "cyclegan", {"ngf": 8}).state_dict())
    result = cli("weights", "import", small, "--name", "horse2zebra")
    assert result.exit_code == 2 and "the catalogue's horse2zebra has ngf=64" in result.stderr
    assert "import it under another --name" in result.stderr

    shipped = {m.name: m.path for m in imgtrans.list_models()}["vintage"]
    result = cli("weights", "import", shipped, "--name", "v")
    assert result.exit_code == 0, result.stderr
    copy = read_info(store.cached_path("v"))
    assert copy.license.startswith("MIT") and copy.preprocess["crop_size"] == 512 and copy.config["norm_affine"]
    inspected = cli("weights", "inspect", shipped)
    assert inspected.exit_code == 0 and "imgtrans file: vintage" in inspected.stdout


def test_a_top_level_generator_beside_nested_networks(registry, cli, tmp_path):
    g = build(registry, "cyclegan", {"netG": "resnet_6blocks", "ngf": 4}, seed=1).state_dict()
    ema = build(registry, "cyclegan", {"netG": "resnet_6blocks", "ngf": 4}, seed=2).state_dict()
    torch.save({**g, **{f"ema.{k}": v for k, v in ema.items()}}, tmp_path / "ema.pth")
    result = cli("weights", "import", tmp_path / "ema.pth", "--name", "e")
    assert result.exit_code == 2 and "holds 2 generators ((top level): " in result.stderr
    disc = PatchDiscriminator(input_nc=3, ndf=8, n_layers=3, norm="instance").state_dict()
    torch.save({**g, **{f"netD.{k}": v for k, v in disc.items()}}, tmp_path / "gd.pth")
    found = detected(registry, tmp_path / "gd.pth")
    assert found.network == "" and not found.unexplained
    assert any("netD: a PatchGAN discriminator" in note for note in found.notes)
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(imgtrans.load(tmp_path / "gd.pth", device="cpu")(x),
                       imgtrans.load(save_state(tmp_path / "g.pth", g), device="cpu")(x))


def test_advice_fits_the_command(registry, cli, tmp_path):
    path = save_state(tmp_path / "cgan.pth", build(registry, "cgan", {"num_classes": 3, "ngf": 8}).state_dict())
    assert "`imgtrans sample " in cli("weights", "inspect", path).stdout
    unet = save_state(tmp_path / "u.pth", build(registry, "pix2pix", {"netG": "unet_32", "ngf": 4}).state_dict())
    ran = cli("run", unet, *tiny_picture(tmp_path), "-o", tmp_path / "out")
    assert ran.exit_code == 0 and "assumed use_dropout=True" in ran.stderr
    assert cli("weights", "import", unet, "--name", "u", "--no-dropout").exit_code == 0
    described = json.loads(cli("info", "u", "--json").stdout)
    assert (described["detected"]["config"]["use_dropout"] is False
            and "use_dropout" not in described["detected"]["assumed"])
