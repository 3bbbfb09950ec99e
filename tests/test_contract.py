"""Every registered family, and the example third-party plugin's, keeps the
plugin contract (`imgtrans.testing.check_family`): a new family gets these
checks without a line of its own."""

import importlib
import sys
from pathlib import Path

import pytest

from imgtrans.hub import default_registry
from imgtrans.testing import ContractError, check_family

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "imgtrans-colormatrix"


def example_family():
    sys.path.insert(0, str(EXAMPLE))
    try:
        return importlib.import_module("imgtrans_colormatrix").FAMILY
    finally:
        sys.path.remove(str(EXAMPLE))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(default_registry().families))
def test_every_registered_family_keeps_the_contract(name, tmp_path):
    family = default_registry().family(name)
    report = check_family(family, tmp_path)
    assert "save -> load round trip" in report.passed
    if family.kind == "translate":
        assert "streamed equals whole" in report.passed and "onnx parity" in report.passed, report
    assert ("one training step" in report.passed) == (family.train_config is not None)


def test_the_example_plugin_keeps_the_contract(tmp_path):
    report = check_family(example_family(), tmp_path)
    assert report.skipped == {"one training step": "the family does not train"}
    assert len([name for name in report.passed if name.startswith("size and range")]) >= 2


@pytest.mark.slow
def test_the_example_plugins_own_test_runs_the_checks(tmp_path):
    """What a plugin author gets: their suite calls check_family and passes."""
    import os
    import subprocess

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(EXAMPLE), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests"),
                             "--basetemp", str(tmp_path / "t")], cwd=EXAMPLE, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout + result.stderr


def test_a_broken_family_is_named_with_the_check_that_failed(tmp_path):
    """The checks can fail: a generator that crops its output breaks the size check."""
    import dataclasses

    family = example_family()

    def cropping(config):
        from torch import nn

        return nn.Sequential(nn.Conv2d(config.channels, config.channels, kernel_size=3))  # no padding: 2 px smaller

    broken = dataclasses.replace(family, name="cropping", build_generator=cropping)
    with pytest.raises(ContractError, match=r"cropping: size and range at \d+x\d+"):
        check_family(broken, tmp_path)


def test_a_family_declaration_is_checked_when_a_plugin_registers_it():
    import dataclasses

    from imgtrans.registry import Registry

    family = default_registry().family("cyclegan")
    registry = Registry()
    for broken, reason in [
        (dataclasses.replace(family, name="bad/name"), "contains a path separator"),
        (dataclasses.replace(family, name="clip", kind="video"), "kind must be one of translate, conditional"),
        (dataclasses.replace(family, name="plain", config_type=dict), "config_type must be a dataclass"),
        (dataclasses.replace(family, name="uncallable", min_side=3), "min_side must be callable"),
        ("cyclegan", "str is not an imgtrans.Family"),
    ]:
        registry.add_family(broken, "broken-plugin")
        assert reason in registry.problems[-1] and "broken-plugin" in registry.problems[-1]
    assert registry.families == {}
    registry.add_family(family, "builtin")
    assert registry.families == {"cyclegan": family}


def test_a_conditional_family_must_build_a_conditional_generator(tmp_path):
    import dataclasses

    import imgtrans
    from imgtrans.testing import _registry_with, _save

    cgan = default_registry().family("cgan")
    translator_like = dataclasses.replace(cgan, name="notcond",
                                          build_generator=default_registry().family("cyclegan").build_generator)
    config = default_registry().family("cyclegan").make_config({"ngf": 4, "netG": "resnet_1blocks"})
    registry = _registry_with(dataclasses.replace(translator_like, config_type=type(config)), None)
    _save(registry.family("notcond"), config, registry.family("notcond").build_generator(config),
          tmp_path / "n.safetensors")
    with pytest.raises(imgtrans.ModelKindError, match="builds no conditional generator"):
        imgtrans.load(tmp_path / "n.safetensors", registry=registry)
