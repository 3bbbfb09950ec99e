"""The plugin system: third-party packages, broken plugins, collisions, hooks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import imgtrans
from imgtrans.plugins import make_plugin_manager
from imgtrans.registry import Registry

HELLO = Path(__file__).parent / "data" / "imgtrans-hello"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The example plugin package, pip-installed into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(HELLO)],
        check=True,
        capture_output=True,
    )
    return target


def imgtrans_cli(site, *args):
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run([sys.executable, "-m", "imgtrans", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_installed_third_party_plugin_appears(site):
    result = imgtrans_cli(site, "models", "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    hello = next(row for row in rows if row["name"] == "hello-model")
    assert hello["plugin"] == "hello" and hello["weights"] == "missing" and hello["direction"] == "hello -> world"

    hello_cmd = imgtrans_cli(site, "hello")
    assert hello_cmd.returncode == 0 and "hello from a plugin" in hello_cmd.stdout


def test_broken_plugin_is_reported_and_others_work(site):
    result = imgtrans_cli(site, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert "missing_dependency" in rows["broken"]["error"]
    assert rows["hello"]["version"] == "0.3.0"
    assert rows["hello"]["hooks"] == ["register_commands", "register_models"]
    assert rows["cyclegan"]["hooks"] == ["detect_checkpoint", "register_families", "register_models"]
    assert rows["cyclegan"]["error"] is None


def test_help_and_models_do_not_import_torch(tiny_cyclegan):
    code = (
        "import sys\n"
        "from imgtrans.cli import create_app\n"
        "for args in (['--help'], ['models'], ['models', '--json'], ['plugins']):\n"
        "    try:\n"
        "        create_app()(args)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, (args, exc.code)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "tiny" in result.stdout


def test_duplicate_model_names_name_both_plugins():
    def catalogue(tag):
        class Plugin:
            @imgtrans.hookimpl
            def register_models(self, register):
                register(imgtrans.ModelSpec(name="same", family="cyclegan", summary=tag, direction=""))

        return Plugin()

    pm = make_plugin_manager(autoload=False)
    pm.register(catalogue("first"), name="first")
    pm.register(catalogue("second"), name="second")
    registry = Registry.from_plugin_manager(pm)
    assert registry.models["same"].summary == "first"
    assert any("'second'" in p and "'first'" in p for p in registry.problems)


def test_every_hook_is_documented_with_its_signature():
    """docs/plugins.md's heading for each hook spells the hookspec's arguments."""
    import inspect
    import re

    from imgtrans import hookspecs

    docs = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    documented = dict(re.findall(r"^### `(\w+)\(([^)]*)\)`", docs, re.M))
    pm = make_plugin_manager(autoload=False)
    hooks = sorted(name for name in dir(pm.hook) if not name.startswith("_"))
    assert sorted(documented) == hooks
    for hook in hooks:
        arguments = list(inspect.signature(getattr(hookspecs, hook)).parameters)
        assert [a.strip() for a in documented[hook].split(",")] == arguments, hook


COLORMATRIX = Path(__file__).resolve().parents[1] / "examples" / "imgtrans-colormatrix"


@pytest.fixture(scope="module")
def colormatrix_site(tmp_path_factory):
    """The example plugin package under examples/, pip-installed on its own."""
    target = tmp_path_factory.mktemp("colormatrix-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(COLORMATRIX)],
        check=True, capture_output=True,
    )
    return target


@pytest.mark.slow
def test_example_plugin_end_to_end(colormatrix_site, tmp_path):
    plugins = imgtrans_cli(colormatrix_site, "plugins", "--json")
    assert plugins.returncode == 0, plugins.stderr
    row = next(r for r in json.loads(plugins.stdout) if r["name"] == "colormatrix")
    assert row["package"] == "imgtrans-colormatrix" and row["version"] == "1.0.0" and row["error"] is None
    assert row["hooks"] == ["detect_checkpoint", "register_families", "register_models"]

    models = imgtrans_cli(colormatrix_site, "models", "--json")
    sepia = next(json.loads(line) for line in models.stdout.splitlines() if '"sepia"' in line)
    assert sepia["family"] == "colormatrix" and sepia["weights"] == "shipped" and sepia["plugin"] == "colormatrix"

    pixels = np.random.default_rng(0).integers(0, 256, (21, 34, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    ran = imgtrans_cli(colormatrix_site, "run", "sepia", str(tmp_path / "photo.png"), "-o", str(tmp_path / "out"),
                       "--max-memory", "16MB")
    assert ran.returncode == 0, ran.stderr
    with Image.open(tmp_path / "out" / "photo.png") as im:
        got = np.asarray(im).astype(float)
    matrix = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
    expected = np.clip(np.round(pixels.astype(float) @ matrix.T), 0, 255)
    assert np.abs(got - expected).max() <= 1  # a real sepia, through the whole pipeline

    # A third-party family's bare checkpoint is detected through its own hook and runs without flags.
    from safetensors.torch import load_file

    sepia = load_file(str(COLORMATRIX / "imgtrans_colormatrix" / "sepia.safetensors"))
    torch.save({k.removeprefix("G."): v for k, v in sepia.items()}, tmp_path / "matrix.pth")
    seen = imgtrans_cli(colormatrix_site, "weights", "inspect", str(tmp_path / "matrix.pth"), "--json")
    assert seen.returncode == 0, seen.stderr
    assert json.loads(seen.stdout)["detections"][0]["config"] == {"channels": 3}
    bare = imgtrans_cli(colormatrix_site, "run", str(tmp_path / "matrix.pth"), str(tmp_path / "photo.png"),
                        "-o", str(tmp_path / "bare"))
    assert bare.returncode == 0, bare.stderr
    with Image.open(tmp_path / "bare" / "photo.png") as im:
        assert np.array_equal(np.asarray(im), got)


def test_recipe_contract_is_checked_at_registration():
    from dataclasses import dataclass

    from imgtrans.training.config import TrainConfig

    @dataclass(frozen=True)
    class Arch:
        width: int = 8

    @dataclass(frozen=True)
    class Separate(TrainConfig):  # repeats the architecture instead of extending it
        width: int = 8

    class Plugin:
        @imgtrans.hookimpl
        def register_families(self, register):
            register(imgtrans.Family(name="lonely", summary="", kind="translate", config_type=Arch,
                                     build_generator=lambda c: None, build_discriminator=lambda c: None,
                                     train_config=Separate, make_recipe=lambda *a: None))

    pm = make_plugin_manager(autoload=False)
    pm.register(Plugin(), name="lonely-plugin")
    registry = Registry.from_plugin_manager(pm)
    assert "lonely" not in registry.families
    assert any("must extend the architecture config Arch" in p for p in registry.problems)
