"""The plugin system: third-party packages, broken plugins, collisions, hooks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    return subprocess.run([sys.executable, "-m", "imgtrans", *args], capture_output=True, text=True, env=env, timeout=120)


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
    assert rows["cyclegan"]["hooks"] == ["register_families", "register_models"] and rows["cyclegan"]["error"] is None


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


def test_every_hook_is_documented():
    docs = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    pm = make_plugin_manager(autoload=False)
    hooks = [name for name in dir(pm.hook) if not name.startswith("_")]
    assert hooks == ["register_commands", "register_families", "register_models"]
    for hook in hooks:
        assert f"`{hook}(" in docs, hook
