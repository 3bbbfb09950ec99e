"""The checks every model family must pass, for imgtrans's own suite and for a
plugin author's tests (as timm's tests run over its registry):

    from imgtrans.testing import check_family
    from my_plugin import FAMILY

    def test_my_family_keeps_the_contract(tmp_path):
        check_family(FAMILY, tmp_path)

Each check builds a small network from `family.test_options` (defaults where
empty), goes through the public paths a user takes (a saved safetensors file,
`imgtrans.load`, `imgtrans.train`) and raises `ContractError` naming the
check and the reason. Needs torch; ONNX parity runs where onnxruntime and the
`onnx` extra are installed and is reported as skipped otherwise.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from imgtrans.registry import Registry
from imgtrans.spec import Family, Preprocess

BUDGET_FOR_STREAMING = 1 << 14  # bytes: small enough that any picture here runs streamed


class ContractError(AssertionError):
    """A family breaks the contract; the message names the check."""


@dataclasses.dataclass
class Report:
    """Which checks ran (in order) and which were skipped, with the reason."""

    family: str
    passed: list[str] = dataclasses.field(default_factory=list)
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)


def architecture_options(family: Family, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The architecture part of `family.test_options` (and `options`)."""
    fields = {f.name for f in dataclasses.fields(family.config_type)}
    merged = {**family.test_options, **(options or {})}
    return {k: v for k, v in merged.items() if k in fields}


def check_sizes(family: Family, config: Any) -> list[tuple[int, int]]:
    """Heights and widths around the padding multiple and the smallest side,
    just below them too: where padding and cropping go wrong."""
    multiple, smallest = family.pad_multiple(config), family.min_side(config)
    sides = sorted({max(1, smallest - 1), smallest, max(1, multiple - 1), multiple, multiple + 1, 2 * multiple + 3})
    return [(h, w) for h, w in zip(sides, reversed(sides))]


def check_family(family: Family, workdir: Path, *, options: Mapping[str, Any] | None = None,
                 train: bool = True, onnx: bool = True, registry: Registry | None = None) -> Report:
    """Run every check that applies to `family`; raise ContractError on the first failure."""
    import torch

    registry = _registry_with(family, registry)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report = Report(family.name)
    config = _check(report, "config", lambda: family.make_config(architecture_options(family, options)))
    _check(report, "builds on the meta device", lambda: _meta(family, config))
    torch.manual_seed(0)
    generator = family.build_generator(config)
    path = workdir / f"{family.name}-contract.safetensors"
    _save(family, config, generator, path)
    model = _check(report, "save -> load round trip", lambda: _round_trip(registry, generator, path))
    if family.kind == "translate":
        for h, w in check_sizes(family, config):
            _check(report, f"size and range at {h}x{w}", lambda h=h, w=w: _translate(model, h, w))
        _check(report, "streamed equals whole", lambda: _streamed(registry, path, family, config))
        if not onnx:
            report.skipped["onnx parity"] = "not asked"
        elif importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnxscript") is None:
            report.skipped["onnx parity"] = "onnxruntime or onnxscript is not installed"
        else:
            _check(report, "onnx parity", lambda: _onnx(model, workdir, family, config))
    else:
        _check(report, "samples: shape and range", lambda: _sample(model))
    if not train or family.train_config is None:
        report.skipped["one training step"] = "not asked" if not train else "the family does not train"
    else:
        _check(report, "one training step", lambda: _train_step(family, workdir, options, registry))
    return report


def _check(report: Report, name: str, run):
    try:
        value = run()
    except ContractError as exc:
        raise ContractError(f"{report.family}: {name}: {exc}") from None
    except Exception as exc:
        raise ContractError(f"{report.family}: {name}: {type(exc).__name__}: {exc}") from exc
    report.passed.append(name)
    return value


def _registry_with(family: Family, registry: Registry | None) -> Registry:
    """`registry` (default: a fresh one of the installed plugins) knowing `family`,
    which need not be installed; the process's default registry is left alone."""
    from imgtrans.plugins import make_plugin_manager

    registry = registry or Registry.from_plugin_manager(make_plugin_manager())
    if registry.families.get(family.name) is not family:
        registry.families[family.name] = family
    return registry


def _meta(family: Family, config: Any) -> None:
    import torch

    with torch.device("meta"):
        generator = family.build_generator(config)
    if not isinstance(generator, torch.nn.Module):
        raise ContractError(f"build_generator returned {type(generator).__name__}, not a torch.nn.Module")
    if family.train_config is not None:
        with torch.device("meta"):
            family.build_discriminator(config)


def _save(family: Family, config: Any, generator, path: Path) -> None:
    from imgtrans.checkpoints import weights as wfile

    channels = getattr(config, "input_nc", getattr(config, "channels", 3))
    labels = tuple(f"class{i}" for i in range(getattr(config, "num_classes", 0)))
    metadata = wfile.make_metadata(name=path.stem, family=family.name, config=dataclasses.asdict(config),
                                   preprocess=Preprocess(channels=channels if channels in (1, 3) else 3).to_dict(),
                                   direction="contract check", labels=labels)
    wfile.save(path, {"G." + k: v for k, v in generator.state_dict().items()}, metadata)


def _round_trip(registry: Registry, generator, path: Path):
    import imgtrans
    from imgtrans.checkpoints import weights as wfile

    stored, ours = wfile.load_tensors(path), generator.state_dict()
    if stored.keys() != ours.keys():
        raise ContractError(f"the file's tensors differ from the network's: {sorted(set(ours) ^ set(stored))[:5]}")
    model = imgtrans.load(path, device="cpu", precision="fp32", dropout=False, registry=registry)
    # Inference may swap layers (batch norm for per-picture norm) but keeps every parameter.
    loaded = dict(model.generator.named_parameters())
    for key, value in generator.named_parameters():
        if key not in loaded or not bool((value.detach() == loaded[key].detach().cpu()).all()):
            raise ContractError(f"parameter {key} {'is missing' if key not in loaded else 'differs'} after loading")
    return model


def _picture(h: int, w: int, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, channels), dtype=np.uint8)


def _translate(model, h: int, w: int) -> None:
    out = model(_picture(h, w, model.channels))
    if out.shape != (h, w, model.channels) or out.dtype != np.uint8:
        raise ContractError(f"gave {out.shape} {out.dtype} for {(h, w, model.channels)} uint8")


def _streamed(registry: Registry, path: Path, family: Family, config: Any) -> None:
    import torch

    import imgtrans
    from imgtrans.checkpoints.loading import load_generator
    from imgtrans.inference.pipeline import TranslationModel
    from imgtrans.inference.translate import InferenceOptions

    whole = imgtrans.load(path, device="cpu", precision="fp32", dropout=False, registry=registry)
    if not isinstance(whole, TranslationModel):
        raise ContractError(f"a translate family loaded as a {type(whole).__name__}, not a TranslationModel")
    # A budget far below what `load` accepts (16 MB), so that a small network streams a small picture.
    streamed = TranslationModel(path.stem, load_generator(registry, path), device=torch.device("cpu"),
                                options=InferenceOptions(dropout=False, stream=True, max_memory=BUDGET_FOR_STREAMING),
                                preprocess=whole.preprocess)
    multiple = family.pad_multiple(config)
    picture = _picture(2 * multiple + 5, multiple + 7, whole.channels, seed=1)
    a, b = whole(picture), streamed(picture)
    if not streamed.last_run.streamed:
        raise ContractError(f"a {picture.shape} picture ran whole within {BUDGET_FOR_STREAMING} bytes")
    largest = int(np.abs(a.astype(int) - b.astype(int)).max())
    if largest > 1:
        raise ContractError(f"streamed output differs from whole by up to {largest} levels")


def _onnx(model, workdir: Path, family: Family, config: Any) -> None:
    import onnxruntime
    import torch

    onnx_path = model.to_onnx(workdir / f"{family.name}-contract.onnx", overwrite=True)
    multiple = family.pad_multiple(config)
    side = multiple * max(1, math.ceil(max(16, family.min_side(config)) / multiple))
    x = torch.from_numpy(_picture(side, side, model.channels, seed=2)).permute(2, 0, 1).float()[None] / 255
    ours = model(x).numpy()
    theirs = onnxruntime.InferenceSession(str(onnx_path)).run(None, {"image": x.numpy()})[0]
    largest = float(np.abs(ours - theirs).max()) * 255
    if theirs.shape != ours.shape or largest > 1:
        raise ContractError(f"onnxruntime gives {theirs.shape}, up to {largest:.2f} levels from imgtrans")


def _sample(model) -> None:
    grid = model.sample_array(n=2, seed=0)
    if grid.dtype != np.uint8 or grid.ndim != 5 or grid.shape[1] != 2:
        raise ContractError(f"sample_array gave {grid.shape} {grid.dtype}, not labels x 2 x H x W x C uint8")


def tiny_dataset(root: Path, side: int = 36, count: int = 4) -> Path:
    """Pictures in the layouts the built-in datasets read at once: trainA/ and
    trainB/ (unpaired), train/ (side-by-side pairs); so also three class folders."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for folder in ("trainA", "trainB", "train"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        a = np.asarray(Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC))
        Image.fromarray(a).save(root / "trainA" / f"{i}.png")
        Image.fromarray(255 - a).save(root / "trainB" / f"{i}.png")
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(root / "train" / f"{i}.png")
    return root


def _train_step(family: Family, workdir: Path, options: Mapping[str, Any] | None, registry: Registry) -> None:
    import imgtrans

    merged = {**family.test_options, **(options or {})}
    steps = {"max_steps": 1, "save_every": 1, "sample_every": 1, "batch_size": 1, "seed": 0}
    result = imgtrans.train(family.name, tiny_dataset(workdir / "data"), f"{family.name}-contract",
                            options={**merged, **steps}, runs=workdir / "runs", device="cpu", workers=0,
                            publish=False, registry=registry)
    if result.step != 1 or not result.losses:
        raise ContractError(f"ran {result.step} steps with losses {result.losses}")
    bad = {k: v for k, v in result.losses.items() if not math.isfinite(v)}
    if bad:
        raise ContractError(f"losses not finite after one step: {bad}")
